"""The service's durable state in SQLite (WAL): clients, links, sends, sessions, firm settings.

One connection, used only from the event loop's thread; every decision runs inside one
`transaction()` together with the outbox rows it emits (see `outbox.py`), committed with the
other decisions of the same loop turn (`commits.py`). Contacts are kept only sealed (AES-GCM)
or as keyed hashes and masks, never in clear.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from schemas import firms
from schemas.firms import FirmSettings
from services.dynamic_password.commits import GroupCommit
from services.dynamic_password.policy import IssuedCode
from streams.client_status.state import ClientState, from_row

SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    firm_id TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    email_hash TEXT, email_masked TEXT, phone_hash TEXT, phone_masked TEXT,
    contact_sealed BLOB, ssn_hash TEXT,
    code_counter INTEGER NOT NULL DEFAULT 0, code_issued_at INTEGER, code_used INTEGER,
    password_hash TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS clients_by_firm ON clients (firm_id, created_at, client_id);
CREATE INDEX IF NOT EXISTS clients_by_email ON clients (email_hash);
CREATE TABLE IF NOT EXISTS links (
    link_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS sends (client_id TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sends_by_client ON sends (client_id, kind, at);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY, client_id TEXT NOT NULL, expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, at INTEGER NOT NULL,
    subject TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_client ON messages (client_id, at);
CREATE TABLE IF NOT EXISTS firm_settings (
    firm_id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consumer_offsets (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True, slots=True)
class ClientRow:
    """Everything the service keeps about one client."""

    state: ClientState
    created_at: datetime
    email_hash: str | None = None
    email_masked: str | None = None
    phone_hash: str | None = None
    phone_masked: str | None = None
    contact_sealed: bytes | None = None
    ssn_hash: str | None = None
    code: IssuedCode | None = None
    password_hash: str | None = None

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def firm_id(self) -> str:
        return self.state.firm_id


@dataclass(frozen=True, slots=True)
class LinkRow:
    link_id: str
    client_id: str
    expires_at: datetime | None


class Store:
    """Typed reads and writes; callers group writes with `transaction()`."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a crash of the process loses nothing committed; only a power loss can
        # drop the last transactions (no fsync per commit, which would cap decisions per second).
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        self.commits = GroupCommit(self.db)

    def close(self) -> None:
        self.commits.close()
        self.db.close()

    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: state, sends and the outbox rows of one decision; durable once
        `durable()` returns."""
        return self.commits.transaction()

    async def durable(self) -> None:
        """Wait until every decision taken so far is committed."""
        await self.commits.durable()

    # -- clients ---------------------------------------------------------------------------
    def client(self, client_id: str, firm_id: str | None = None) -> ClientRow | None:
        """The client; with `firm_id`, only if it belongs to that firm."""
        row = self.db.execute(f"{_SELECT_CLIENT} WHERE client_id = ?", (client_id,)).fetchone()
        client = _client(row) if row else None
        if client is None or (firm_id is not None and client.firm_id != firm_id):
            return None
        return client

    def clients_with_email(self, email_hash: str) -> list[ClientRow]:
        rows = self.db.execute(f"{_SELECT_CLIENT} WHERE email_hash = ?", (email_hash,))
        return [_client(row) for row in rows]

    def firm_clients(
        self, firm_id: str, status: str | None, after: int, limit: int
    ) -> list[tuple[int, ClientRow]]:
        """A page of the firm's clients in the order they were added, each with its position
        (the next page starts after the last position)."""
        rows = self.db.execute(_FIRM_PAGE, (firm_id, status, status, after, limit))
        return [(int(row[0]), _client(row[1:])) for row in rows]

    def save_client(self, client: ClientRow, now: datetime) -> None:
        code = client.code
        self.db.execute(
            "INSERT INTO clients (client_id, firm_id, status, state, email_hash, email_masked,"
            " phone_hash, phone_masked, contact_sealed, ssn_hash, code_counter, code_issued_at,"
            " code_used, password_hash, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (client_id) DO UPDATE SET status = excluded.status,"
            " state = excluded.state, email_hash = excluded.email_hash,"
            " email_masked = excluded.email_masked, phone_hash = excluded.phone_hash,"
            " phone_masked = excluded.phone_masked, contact_sealed = excluded.contact_sealed,"
            " ssn_hash = excluded.ssn_hash, code_counter = excluded.code_counter,"
            " code_issued_at = excluded.code_issued_at, code_used = excluded.code_used,"
            " password_hash = excluded.password_hash, updated_at = excluded.updated_at",
            (
                client.client_id,
                client.firm_id,
                client.state.status.value,
                _state_json(client.state),
                client.email_hash,
                client.email_masked,
                client.phone_hash,
                client.phone_masked,
                client.contact_sealed,
                client.ssn_hash,
                code.counter if code else 0,
                millis(code.issued_at) if code else None,
                int(code.used) if code else None,
                client.password_hash,
                millis(client.created_at),
                millis(now),
            ),
        )

    # -- links -----------------------------------------------------------------------------
    def link(self, link_id: str) -> LinkRow | None:
        row = self.db.execute(
            "SELECT link_id, client_id, expires_at FROM links WHERE link_id = ?", (link_id,)
        ).fetchone()
        if row is None:
            return None
        return LinkRow(row[0], row[1], from_millis(row[2]) if row[2] is not None else None)

    def save_link(self, link_id: str, client_id: str, expires_at: datetime | None) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO links (link_id, client_id, expires_at) VALUES (?, ?, ?)",
            (link_id, client_id, millis(expires_at) if expires_at else None),
        )

    # -- sends (rate limits) ---------------------------------------------------------------
    def sends(self, client_id: str, kind: str, since: datetime) -> list[datetime]:
        rows = self.db.execute(
            "SELECT at FROM sends WHERE client_id = ? AND kind = ? AND at > ?",
            (client_id, kind, millis(since)),
        )
        return [from_millis(at) for (at,) in rows]

    def record_send(self, client_id: str, kind: str, at: datetime, forget_before: datetime) -> None:
        """Remember a send; sends older than `forget_before` no longer count and are dropped."""
        self.db.execute(
            "DELETE FROM sends WHERE client_id = ? AND kind = ? AND at <= ?",
            (client_id, kind, millis(forget_before)),
        )
        self.db.execute(
            "INSERT INTO sends (client_id, kind, at) VALUES (?, ?, ?)",
            (client_id, kind, millis(at)),
        )

    # -- sessions --------------------------------------------------------------------------
    def save_session(self, token_hash: bytes, client_id: str, expires_at: datetime) -> None:
        self.db.execute(
            "INSERT INTO sessions (token_hash, client_id, expires_at) VALUES (?, ?, ?)",
            (token_hash, client_id, millis(expires_at)),
        )

    def session_client(self, token_hash: bytes, now: datetime) -> str | None:
        """The client of a session that has not expired."""
        row = self.db.execute(
            "SELECT client_id FROM sessions WHERE token_hash = ? AND expires_at > ?",
            (token_hash, millis(now)),
        ).fetchone()
        return str(row[0]) if row else None

    def forget_sessions(self, before: datetime) -> None:
        self.db.execute("DELETE FROM sessions WHERE expires_at <= ?", (millis(before),))

    # -- messages --------------------------------------------------------------------------
    def save_message(
        self, message_id: str, client_id: str, at: datetime, subject: str, body: str
    ) -> None:
        self.db.execute(
            "INSERT INTO messages (message_id, client_id, at, subject, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (message_id, client_id, millis(at), subject, body),
        )

    def messages(self, client_id: str, limit: int) -> list[tuple[str, datetime, str, str]]:
        rows = self.db.execute(
            "SELECT message_id, at, subject, body FROM messages WHERE client_id = ?"
            " ORDER BY at DESC, message_id LIMIT ?",
            (client_id, limit),
        )
        return [(mid, from_millis(at), subject, body) for mid, at, subject, body in rows]

    # -- firm settings ---------------------------------------------------------------------
    def all_firm_settings(self) -> list[FirmSettings]:
        rows = self.db.execute("SELECT record FROM firm_settings")
        return [_firm(record) for (record,) in rows]

    def save_firm_settings(self, settings: FirmSettings) -> None:
        record = firms.to_record(settings) | {"updated_at": settings.updated_at.isoformat()}
        self.db.execute(
            "INSERT INTO firm_settings (firm_id, updated_at, record) VALUES (?, ?, ?)"
            " ON CONFLICT (firm_id) DO UPDATE SET updated_at = excluded.updated_at,"
            " record = excluded.record",
            (settings.firm_id, millis(settings.updated_at), json.dumps(record)),
        )

    # -- consumer offsets ------------------------------------------------------------------
    def offsets(self, topic: str) -> dict[int, int]:
        rows = self.db.execute(
            "SELECT partition, next_offset FROM consumer_offsets WHERE topic = ?", (topic,)
        )
        return {int(partition): int(offset) for partition, offset in rows.fetchall()}

    def save_offset(self, topic: str, partition: int, next_offset: int) -> None:
        self.db.execute(
            "INSERT INTO consumer_offsets (topic, partition, next_offset) VALUES (?, ?, ?)"
            " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
            (topic, partition, next_offset),
        )


_CLIENT_COLUMNS = (
    "state, created_at, email_hash, email_masked, phone_hash, phone_masked,"
    " contact_sealed, ssn_hash, code_counter, code_issued_at, code_used, password_hash"
)
_SELECT_CLIENT = f"SELECT {_CLIENT_COLUMNS} FROM clients"  # noqa: S608 - constant columns
_FIRM_PAGE = (
    f"SELECT rowid, {_CLIENT_COLUMNS} FROM clients WHERE firm_id = ?"  # noqa: S608 - constant
    " AND (? IS NULL OR status = ?) AND rowid > ? ORDER BY rowid LIMIT ?"
)


def _client(row: Sequence[Any]) -> ClientRow:
    (state, created, email_hash, email_masked, phone_hash, phone_masked) = row[:6]
    (sealed, ssn_hash, counter, issued_at, used, password_hash) = row[6:]
    code = (
        IssuedCode(int(counter), from_millis(int(issued_at)), bool(used))
        if issued_at is not None
        else None
    )
    return ClientRow(
        state=from_row(json.loads(str(state))),
        created_at=from_millis(int(created)),
        email_hash=_text(email_hash),
        email_masked=_text(email_masked),
        phone_hash=_text(phone_hash),
        phone_masked=_text(phone_masked),
        contact_sealed=bytes(sealed) if isinstance(sealed, bytes) else None,
        ssn_hash=_text(ssn_hash),
        code=code,
        password_hash=_text(password_hash),
    )


_STATE_FIELDS = tuple(field.name for field in fields(ClientState))


def _state_json(state: ClientState) -> str:
    """The row `streams.client_status.state.to_row` writes, without `asdict`'s deep copies
    (a third of a decision's time)."""
    row: dict[str, Any] = {}
    for name in _STATE_FIELDS:
        value = getattr(state, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, StrEnum):
            value = value.value
        row[name] = value
    return json.dumps(row)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _firm(record: str) -> FirmSettings:
    values = json.loads(record)
    return firms.from_record(values | {"updated_at": datetime.fromisoformat(values["updated_at"])})
