"""After verification: a client's session, password and messages from the firm."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime

from argon2 import PasswordHasher

from schemas.clients import ClientEventType, ClientStatusValue
from schemas.tracking import Actor
from services.dynamic_password import policy
from services.dynamic_password.core import Core
from services.dynamic_password.errors import InvalidInput, Refused, SessionRequired
from services.dynamic_password.records import client_event

E, S = ClientEventType, ClientStatusValue
_PASSWORDS = PasswordHasher()  # argon2id with the library's (RFC 9106) parameters


@dataclass(frozen=True)
class ClientMessage:
    message_id: str
    sent_at: datetime
    subject: str
    body: str


def session_client(core: Core, token: str | None) -> str:
    """The client a session token belongs to; SessionRequired if none or expired."""
    client_id = core.store.session_client(session_hash(token), core.clock()) if token else None
    if client_id is None:
        raise SessionRequired()
    return client_id


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


def client_messages(core: Core, session_token: str | None, limit: int) -> list[ClientMessage]:
    """The firm's messages to the session's client, newest first."""
    client_id = session_client(core, session_token)
    return [ClientMessage(*message) for message in core.store.messages(client_id, limit)]


def session_hash(token: str | None) -> bytes:
    """Only this digest of a session token is stored."""
    return hashlib.sha256((token or "").encode()).digest()
