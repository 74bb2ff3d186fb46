"""The send ledger: every notification id the dispatcher tried, recorded before the provider call.

SENDING is written (and synced) before a provider is called, then SENT or FAILED after. A
notification found in the ledger is never sent again, so a retried or replayed dispatch sends
at most once; one found still SENDING means a process died during the provider call: it
becomes IN_DOUBT and is reported, not resent. `reported` says the outcome's own record (a
delivery event, or a dead letter) was acknowledged by Kafka, so a replay re-publishes it only
if that had not happened yet.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from services.notifications.errors import LedgerError


class SendState(StrEnum):
    SENDING = "SENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    IN_DOUBT = "IN_DOUBT"


class Replay(StrEnum):
    """What to do with a notification the ledger already holds."""

    DUPLICATE = "DUPLICATE"  # settled and reported: skip
    REPORT = "REPORT"  # settled, its record not yet acknowledged: publish it again (same ids)
    IN_DOUBT = "IN_DOUBT"  # a process died during the provider call: report, never resend


TRANSITIONS: dict[SendState, frozenset[SendState]] = {
    SendState.SENDING: frozenset({SendState.SENT, SendState.FAILED, SendState.IN_DOUBT}),
    SendState.SENT: frozenset(),
    SendState.FAILED: frozenset(),
    SendState.IN_DOUBT: frozenset(),
}


@dataclass(frozen=True, slots=True)
class SendRecord:
    """One ledger row. Holds ids, statuses and a keyed hash of the address, never the address."""

    notification_id: str
    state: SendState
    channel: str
    message_kind: str
    updated_at: datetime
    provider: str | None = None
    provider_message_id: str | None = None
    delivery_status: str | None = None
    recipient_hash: str | None = None
    error_code: str | None = None
    reason: str | None = None
    reported: bool = False


def check_transition(current: SendState, new: SendState) -> None:
    """Raise LedgerError unless `current -> new` is allowed."""
    if new not in TRANSITIONS[current]:
        raise LedgerError(f"send state cannot go from {current.value} to {new.value}")


def replay_of(record: SendRecord) -> Replay:
    """What a notification already in the ledger calls for."""
    if record.state is SendState.SENDING:
        return Replay.IN_DOUBT
    return Replay.DUPLICATE if record.reported else Replay.REPORT


_SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    notification_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_kind TEXT NOT NULL,
    provider TEXT,
    provider_message_id TEXT,
    delivery_status TEXT,
    recipient_hash TEXT,
    error_code TEXT,
    reason TEXT,
    reported INTEGER NOT NULL DEFAULT 0,
    claimed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""
_COLUMNS = (
    "notification_id, state, channel, message_kind, updated_at, provider, provider_message_id, "
    "delivery_status, recipient_hash, error_code, reason, reported"
)


class SendLedger:
    """SQLite ledger (WAL, synchronous=FULL: a claim is on disk before the provider is called)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit; one thread uses it at a time (the dispatcher's loop)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(_SCHEMA)

    def get(self, notification_id: str) -> SendRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM sends WHERE notification_id = ?",  # noqa: S608 - constant
            (notification_id,),
        ).fetchone()
        return _record(row) if row else None

    def claim(self, notification_id: str, channel: str, message_kind: str, now: datetime) -> bool:
        """Record SENDING; False if the id is already in the ledger (someone claimed it)."""
        cursor = self._db.execute(
            "INSERT INTO sends (notification_id, state, channel, message_kind, claimed_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (notification_id) DO NOTHING",
            (notification_id, SendState.SENDING.value, channel, message_kind, _ts(now), _ts(now)),
        )
        return cursor.rowcount == 1

    def settle(
        self,
        notification_id: str,
        state: SendState,
        now: datetime,
        *,
        provider: str | None = None,
        provider_message_id: str | None = None,
        delivery_status: str | None = None,
        recipient_hash: str | None = None,
        error_code: str | None = None,
        reason: str | None = None,
    ) -> SendRecord:
        """Move a SENDING claim to SENT, FAILED or IN_DOUBT; LedgerError otherwise."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            current = self.get(notification_id)
            if current is None:
                raise LedgerError(f"notification {notification_id} was never claimed")
            check_transition(current.state, state)
            self._db.execute(
                "UPDATE sends SET state = ?, provider = ?, provider_message_id = ?, "
                "delivery_status = ?, recipient_hash = ?, error_code = ?, reason = ?, "
                "updated_at = ? WHERE notification_id = ?",
                (
                    state.value,
                    provider,
                    provider_message_id,
                    delivery_status,
                    recipient_hash,
                    error_code,
                    reason,
                    _ts(now),
                    notification_id,
                ),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        settled = self.get(notification_id)
        assert settled is not None  # noqa: S101 - written just above
        return settled

    def mark_reported(self, notification_ids: Iterable[str]) -> None:
        """The outcome records of these ids are acknowledged by Kafka."""
        self._db.executemany(
            "UPDATE sends SET reported = 1 WHERE notification_id = ?",
            ((notification_id,) for notification_id in notification_ids),
        )

    def counts(self) -> dict[SendState, int]:
        rows = self._db.execute("SELECT state, count(*) FROM sends GROUP BY state").fetchall()
        return {SendState(state): count for state, count in rows}

    def close(self) -> None:
        self._db.close()


def _ts(moment: datetime) -> str:
    return moment.isoformat()


def _record(row: tuple[object, ...]) -> SendRecord:
    (notification_id, state, channel, kind, updated_at, provider, provider_message_id) = row[:7]
    delivery_status, recipient_hash, error_code, reason, reported = row[7:]
    return SendRecord(
        notification_id=str(notification_id),
        state=SendState(str(state)),
        channel=str(channel),
        message_kind=str(kind),
        updated_at=datetime.fromisoformat(str(updated_at)),
        provider=_opt(provider),
        provider_message_id=_opt(provider_message_id),
        delivery_status=_opt(delivery_status),
        recipient_hash=_opt(recipient_hash),
        error_code=_opt(error_code),
        reason=_opt(reason),
        reported=bool(reported),
    )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
