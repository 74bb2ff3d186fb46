"""Regular passwords (argon2id): set one once Connected, then log in with email and password.

A login names an address and a password. Every client with that address and a password is
checked, one decision at a time per client (their locks held in a fixed order). A match opens
a session and, like a right code, resets the failure count (OTP_VERIFIED without a method:
the identity was verified when connecting); no match is a failure for each client that may
log in (OTP_FAILED, WRONG_PASSWORD), counted by the status rule toward the same lock as
wrong codes. An unknown address, a wrong password, a locked or disconnected client all get
the same 401 after the same argon2 work (a dummy hash when there is nothing to compare).
"""

from __future__ import annotations

import asyncio
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import TypeGuard

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from schemas.clients import ClientEventType, ClientStatusValue
from schemas.tracking import Actor
from services.dynamic_password import policy
from services.dynamic_password.client_actions import verified
from services.dynamic_password.core import Core
from services.dynamic_password.errors import InvalidInput, NotAccepted, Refused
from services.dynamic_password.records import client_event
from services.dynamic_password.sessions import session_client
from services.dynamic_password.store import ClientRow

E, S = ClientEventType, ClientStatusValue
WRONG_PASSWORD = "WRONG_PASSWORD"  # noqa: S105 - a failure reason, not a password
_PASSWORDS = PasswordHasher()  # argon2id with the library's (RFC 9106) parameters


@dataclass(frozen=True)
class FirmSession:
    """A session with one firm (a client of several firms may share one address)."""

    firm_id: str
    status: str
    session_token: str
    session_expires_at: datetime


@dataclass(frozen=True)
class LoggedIn:
    sessions: list[FirmSession]


async def set_password(core: Core, session_token: str | None, password: str) -> None:
    """A regular password (argon2id) for a Connected client: PASSWORD_SET."""
    client_id = session_client(core, session_token)
    if problem := policy.password_problem(password):
        raise InvalidInput(problem)
    async with core.locks.hold(client_id):
        row = core.store.client(client_id)
        if row is None or row.state.status is not S.CONNECTED:
            raise Refused("a password can be set only once Connected")
        hashed = await asyncio.to_thread(_PASSWORDS.hash, password)
        event = client_event(E.PASSWORD_SET, row.firm_id, client_id, core.clock(), Actor.CLIENT)
        with core.store.transaction():
            row = core.emit(row, event)
            core.save(replace(row, password_hash=hashed))


async def log_in(core: Core, email_hash: str, password: str) -> LoggedIn:
    """Sessions for the clients at `email_hash` whose password this is; NotAccepted otherwise."""
    client_ids = sorted(
        row.client_id for row in core.store.clients_with_email(email_hash) if row.password_hash
    )
    async with AsyncExitStack() as held:
        for client_id in client_ids:  # sorted: two logins never wait for each other in a cycle
            await held.enter_async_context(core.locks.hold(client_id))
        rows = [row for row in map(core.store.client, client_ids) if _has_password(row, email_hash)]
        matches = [await asyncio.to_thread(_matches, _hash_of(row), password) for row in rows]
        if not rows:
            await asyncio.to_thread(_matches, _dummy_hash(), password)
        now = core.clock()
        usable = [(row, ok) for row, ok in zip(rows, matches, strict=True) if _may_log_in(row, now)]
        if any(ok for _, ok in usable):
            return LoggedIn([_session(core, row, now) for row, ok in usable if ok])
        with core.store.transaction():
            for row, _ in usable:
                failed = client_event(
                    E.OTP_FAILED,
                    row.firm_id,
                    row.client_id,
                    now,
                    Actor.CLIENT,
                    failure_reason=WRONG_PASSWORD,
                )
                core.save(core.emit(row, failed))
    raise NotAccepted()


def _session(core: Core, row: ClientRow, now: datetime) -> FirmSession:
    event = client_event(E.OTP_VERIFIED, row.firm_id, row.client_id, now, Actor.CLIENT)
    opened = verified(core, row, event, now)
    return FirmSession(row.firm_id, opened.status, opened.session_token, opened.session_expires_at)


def _has_password(row: ClientRow | None, email_hash: str) -> TypeGuard[ClientRow]:
    return row is not None and row.email_hash == email_hash and row.password_hash is not None


def _hash_of(row: ClientRow) -> str:
    return row.password_hash or _dummy_hash()


def _may_log_in(row: ClientRow, now: datetime) -> bool:
    """Connected (a password exists only from then on) and not locked."""
    return row.state.status is S.CONNECTED and not row.state.login_locked_at(now)


def _matches(hashed: str, password: str) -> bool:
    try:
        return _PASSWORDS.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """Compared with when no client has this address: the same work as a real check."""
    return _PASSWORDS.hash(secrets.token_urlsafe(16))
