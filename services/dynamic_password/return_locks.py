"""Delivered returns as the service learns them from the topics: owner firm and access locks.

The stream worker decides return lockouts with `streams.lockout.rules` (3 consecutive wrong
SSN digits or access codes -> Access Locked; only a firm user's Access Unlocked opens the
return again). The service folds the same tracking events, in the same partition order,
through the same rule (one rule, two adapters), so it knows which recipients are locked
without asking the worker, and which firm may unlock them. The owner firm comes from the
return's DELIVERED lifecycle event, or from its first lockout-relevant touch until then.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.firms import FirmSettings
from schemas.tracking import RecipientRole, TrackingEvent
from streams.lockout import rules as lockout
from streams.lockout.rules import LockoutPolicy, LockoutState

RETURNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS returns (
    return_id TEXT PRIMARY KEY, firm_id TEXT NOT NULL, client_id TEXT,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS return_recipients (
    return_id TEXT NOT NULL, recipient_role TEXT NOT NULL,
    failures INTEGER NOT NULL, locked INTEGER NOT NULL,
    PRIMARY KEY (return_id, recipient_role)
);
"""
# Lifecycle facts that change what the service knows about a return.
DELIVERED, DELETED = "DELIVERED", "DELETED"


@dataclass(frozen=True, slots=True)
class ReturnRow:
    """A return the service knows: its firm, its client (when known), its recipients' locks."""

    return_id: str
    firm_id: str
    client_id: str | None
    recipients: dict[RecipientRole, LockoutState]

    def locked_roles(self, role: RecipientRole | None = None) -> list[RecipientRole]:
        """The locked recipients (only `role`, when given), in a stable order."""
        return [
            r
            for r, state in sorted(self.recipients.items())
            if state.locked and (role is None or r is role)
        ]


class ReturnLocks:
    """Typed reads and writes of the returns tables (callers hold the store's transaction)."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._db.executescript(RETURNS_SCHEMA)

    def get(self, return_id: str, firm_id: str | None = None) -> ReturnRow | None:
        """The return; with `firm_id`, only if it is that firm's."""
        found = self._db.execute(
            "SELECT firm_id, client_id FROM returns WHERE return_id = ?", (return_id,)
        ).fetchone()
        if found is None or (firm_id is not None and found[0] != firm_id):
            return None
        rows = self._db.execute(
            "SELECT recipient_role, failures, locked FROM return_recipients WHERE return_id = ?",
            (return_id,),
        )
        recipients = {
            RecipientRole(role): LockoutState(int(failures), bool(locked))
            for role, failures, locked in rows
        }
        return ReturnRow(return_id, str(found[0]), found[1], recipients)

    def learn(self, return_id: str, firm_id: str, client_id: str | None, delivered: bool) -> None:
        """Remember the return; a DELIVERED fact sets its firm and client for good."""
        self._db.execute(
            "INSERT INTO returns (return_id, firm_id, client_id, delivered) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (return_id) DO UPDATE SET"
            " firm_id = CASE WHEN excluded.delivered = 1 AND returns.delivered = 0"
            "   THEN excluded.firm_id ELSE returns.firm_id END,"
            " client_id = CASE WHEN excluded.delivered = 1 AND returns.delivered = 0"
            "   THEN coalesce(excluded.client_id, returns.client_id)"
            "   ELSE coalesce(returns.client_id, excluded.client_id) END,"
            " delivered = max(returns.delivered, excluded.delivered)",
            (return_id, firm_id, client_id, int(delivered)),
        )

    def save(self, return_id: str, role: RecipientRole, state: LockoutState) -> None:
        self._db.execute(
            "INSERT INTO return_recipients (return_id, recipient_role, failures, locked)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (return_id, recipient_role) DO UPDATE SET"
            " failures = excluded.failures, locked = excluded.locked",
            (return_id, role.value, state.consecutive_failures, int(state.locked)),
        )

    def forget(self, return_id: str) -> None:
        self._db.execute("DELETE FROM return_recipients WHERE return_id = ?", (return_id,))
        self._db.execute("DELETE FROM returns WHERE return_id = ?", (return_id,))


def fold_touch(
    book: ReturnLocks, touch: TrackingEvent, firm_of: Callable[[str], FirmSettings]
) -> LockoutState | None:
    """Fold a tracking event through the lockout rule, as the worker does; returns the
    recipient's new state, or None when the rule does not act on this touch.

    Args:
        book: the returns tables.
        touch: a decoded tracking event.
        firm_of: a firm's settings (the return's firm sets the failure limit).
    """
    if touch.event_type not in lockout.ACTED_ON:
        return None
    book.learn(touch.return_id, touch.firm_id, touch.client_id, delivered=False)
    known = book.get(touch.return_id)
    assert known is not None  # noqa: S101 - learned just above
    before = known.recipients.get(touch.recipient_role, LockoutState())
    policy = LockoutPolicy(firm_of(known.firm_id).max_access_failures)
    after, _ = lockout.apply(before, touch, policy)  # Access Locked is the worker's to emit
    if after != before:
        book.save(touch.return_id, touch.recipient_role, after)
    return after


def learn_lifecycle(book: ReturnLocks, record: dict[str, Any]) -> None:
    """A return-lifecycle record: DELIVERED names the return's firm and client, DELETED
    forgets it (the worker's lockout rule acts on neither, nor on UNLOCKED: only the
    ACCESS_UNLOCKED tracking event unlocks)."""
    event_type, return_id = record.get("event_type"), str(record["return_id"])
    if event_type == DELIVERED:
        book.learn(return_id, str(record["firm_id"]), record.get("client_id"), delivered=True)
    elif event_type == DELETED:
        book.forget(return_id)
