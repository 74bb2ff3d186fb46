"""Group commit: the decisions taken in one turn of the event loop share one SQLite COMMIT.

A COMMIT writes the transaction's pages to the WAL (a fifth of a decision's time). Each
decision runs in its own SAVEPOINT (all or nothing, as before) inside a transaction that is
committed at the start of the loop's next turn; whoever answers on a decision awaits
`durable()` first, so nothing is answered before it is committed. Under load, many decisions
share a COMMIT; a lone one is committed at once. Without a running loop (tools, tests that
read the store) every transaction commits on its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import structlog

log = structlog.get_logger(__name__)


class GroupCommit:
    """Transactions on one connection, used from one thread (the event loop's)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._open_decisions = 0
        self._pending: asyncio.Future[None] | None = None
        self._listeners: list[Callable[[], None]] = []

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every successful COMMIT (e.g. to release outbox rows)."""
        self._listeners.append(listener)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: state, sends and the outbox rows of one decision (never await
        inside: the group's COMMIT waits for no decision in progress)."""
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._pending = self._commit_soon()
        self._db.execute("SAVEPOINT decision")
        self._open_decisions += 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO decision")
            raise
        finally:
            self._db.execute("RELEASE decision")
            self._open_decisions -= 1
            if self._pending is None and self._open_decisions == 0:
                self._commit()

    async def durable(self) -> None:
        """Return once every decision taken so far is committed (raises if the COMMIT failed)."""
        if self._pending is not None:
            await asyncio.shield(self._pending)

    def close(self) -> None:
        """Commit what is pending (at shutdown, after the last decision)."""
        if self._db.in_transaction and self._open_decisions == 0:
            self._commit()
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(None)
        self._pending = None

    def _commit_soon(self) -> asyncio.Future[None] | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        loop.call_soon(self._commit_group)
        pending: asyncio.Future[None] = loop.create_future()
        pending.add_done_callback(_retrieve)
        return pending

    def _commit_group(self) -> None:
        pending = self._pending
        if pending is None or pending.done():
            return  # committed already (close)
        if self._open_decisions:  # cannot happen without an await inside a transaction
            asyncio.get_running_loop().call_soon(self._commit_group)
            return
        self._pending = None
        try:
            self._commit()
        except sqlite3.Error as exc:
            log.error("group_commit_failed", error=str(exc))
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            pending.set_exception(exc)
            return
        pending.set_result(None)

    def _commit(self) -> None:
        self._db.execute("COMMIT")
        for listener in self._listeners:
            listener()


def _retrieve(pending: asyncio.Future[None]) -> None:
    """Mark a failed commit's error as seen (it is logged; answers waiting on it raise it)."""
    if not pending.cancelled():
        pending.exception()
