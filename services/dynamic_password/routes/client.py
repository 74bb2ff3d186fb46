"""Client side (`/client`, no API key): links, one-time passwords, SSN digits, new login link,
password and password login, messages.

An unknown link or address, a wrong code or password, an expired or superseded link and a
locked login all get the same 401 and message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.dynamic_password import client_actions, passwords, sessions
from services.dynamic_password.api_models import (
    CodeBody,
    LoginBody,
    LoginLinkBody,
    PasswordBody,
    SsnBody,
)
from services.dynamic_password.client_actions import LinkOpened, Verified
from services.dynamic_password.errors import NOT_ACCEPTED
from services.dynamic_password.passwords import LoggedIn
from services.dynamic_password.routes.common import CoreDep
from services.dynamic_password.sessions import ClientMessage

LOGIN_LINK_ANSWER = (
    "If this address belongs to a client who can log in, a new login link is on its way. "
    "It works for a limited time, and only the newest link works."
)
_NOT_ACCEPTED_DOC: dict[int | str, dict[str, Any]] = {401: {"description": NOT_ACCEPTED}}
_TOO_MANY: dict[int | str, dict[str, Any]] = {429: {"description": "Too many codes."}}

router = APIRouter(prefix="/client", tags=["client"])
_session = HTTPBearer(auto_error=False, description="The session from verifying a code.")
Session = Annotated[HTTPAuthorizationCredentials | None, Depends(_session)]


@dataclass(frozen=True)
class LinkPage:
    """What a link shows before anything is sent (mail scanners follow links with GET)."""

    message: str
    open_with: str
    verify_with: str
    ssn_with: str


@dataclass(frozen=True)
class Answer:
    message: str


@dataclass(frozen=True)
class Messages:
    messages: list[ClientMessage]


def _token(session: HTTPAuthorizationCredentials | None) -> str | None:
    return session.credentials if session else None


@router.get("/links/{token}")
async def link_page(token: str) -> LinkPage:
    """The page a link opens: no side effect, the same for every token."""
    return LinkPage(
        message="Continue to receive a one-time password by text message.",
        open_with="POST this URL",
        verify_with='POST this URL + "/code" with {"code": "..."}',
        ssn_with='POST this URL + "/ssn" with {"last4": "...."} (if your firm allows it)',
    )


@router.post("/links/{token}", responses=_NOT_ACCEPTED_DOC | _TOO_MANY)
async def open_link(token: str, core: CoreDep) -> LinkOpened:
    """Select the link: a new one-time password goes to the phone on file (valid 5 minutes;
    only the newest works; at most 5 per 10 minutes)."""
    return await client_actions.open_link(core, token)


@router.post("/links/{token}/code", responses=_NOT_ACCEPTED_DOC)
async def verify_code(token: str, body: CodeBody, core: CoreDep) -> Verified:
    """Verify the one-time password: identity verified, Connected, and a session."""
    return await client_actions.verify_code(core, token, body.code.strip())


@router.post("/links/{token}/ssn", responses=_NOT_ACCEPTED_DOC)
async def verify_ssn(token: str, body: SsnBody, core: CoreDep) -> Verified:
    """Verify with the last 4 SSN digits instead (when the firm allows it)."""
    return await client_actions.verify_ssn(core, token, body.last4)


@router.post("/login-link", status_code=status.HTTP_202_ACCEPTED)
async def request_login_link(
    body: LoginLinkBody, core: CoreDep, background: BackgroundTasks
) -> Answer:
    """'Send me a new login link': the same answer, at the same speed, whether or not the
    address is known (the work happens after the answer)."""
    background.add_task(
        client_actions.request_login_link, core, core.secrets.hasher.email(body.email)
    )
    return Answer(LOGIN_LINK_ANSWER)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def set_password(body: PasswordBody, core: CoreDep, session: Session) -> None:
    """Set a regular password (after verifying identity; Connected clients only)."""
    await passwords.set_password(core, _token(session), body.password)


@router.post("/login", responses=_NOT_ACCEPTED_DOC)
async def log_in(body: LoginBody, core: CoreDep) -> LoggedIn:
    """Log in with the email address and the password set earlier: a session per firm whose
    client this is. Wrong passwords count toward the same lock as wrong codes."""
    return await passwords.log_in(core, core.secrets.hasher.email(body.email), body.password)


@router.get("/messages")
async def messages(
    core: CoreDep, session: Session, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> Messages:
    """The firm's messages, newest first."""
    return Messages(sessions.client_messages(core, _token(session), limit))
