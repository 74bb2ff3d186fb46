"""After verification: a client's session and the firm's messages to the client."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from services.dynamic_password import policy
from services.dynamic_password.core import Core
from services.dynamic_password.errors import SessionRequired


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


def open_session(core: Core, client_id: str, now: datetime) -> tuple[str, datetime]:
    """A new session for the client (inside the caller's transaction): token and expiry."""
    token = secrets.token_urlsafe(32)
    expires_at = now + policy.SESSION_LIFETIME
    core.store.forget_sessions(now)
    core.store.save_session(session_hash(token), client_id, expires_at)
    return token, expires_at


def client_messages(core: Core, session_token: str | None, limit: int) -> list[ClientMessage]:
    """The firm's messages to the session's client, newest first."""
    client_id = session_client(core, session_token)
    return [ClientMessage(*message) for message in core.store.messages(client_id, limit)]


def session_hash(token: str | None) -> bytes:
    """Only this digest of a session token is stored."""
    return hashlib.sha256((token or "").encode()).digest()
