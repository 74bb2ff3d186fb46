"""Firm side (`/v1`, per-firm API key): clients, invites, unlocks, messages, settings.

A key sees only its firm's clients: any other id gets the same 404 as an unknown one.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from schemas.clients import ClientOrigin, ClientStatusValue
from schemas.firms import FirmSettings
from schemas.pii import clear_pii_kind
from services.dynamic_password import firm_actions
from services.dynamic_password.api_models import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    BulkInviteBody,
    ContactChangeBody,
    GetRequestBody,
    MessageBody,
    NewClientBody,
    SettingsChangeBody,
)
from services.dynamic_password.core import Core
from services.dynamic_password.csv_import import RowError
from services.dynamic_password.errors import InvalidInput
from services.dynamic_password.firm_actions import Imported, InviteOutcome, NewClient
from services.dynamic_password.routes.common import CoreDep, limited_body
from services.dynamic_password.store import ClientRow
from services.dynamic_password.views import ClientView, client_view
from services.tracking_api.auth import KeyRing

MAX_CSV_BYTES = 1024 * 1024
MAX_CURSOR_LENGTH = 300
FIRM_USER_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"

# Every route is `async def`: they run on the event loop's thread, the only one that uses the
# service's database connection and client locks.
router = APIRouter(prefix="/v1", tags=["firm"])
_bearer = HTTPBearer(auto_error=False, description="The firm's API key.")


async def _firm(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The firm of the bearer key; 401 when it is missing or unknown."""
    ring: KeyRing = request.app.state.key_ring
    firm = ring.firm_of(credentials.credentials) if credentials else None
    if firm is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or unknown API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return firm


async def _firm_user(
    x_firm_user: Annotated[
        str | None,
        Header(
            max_length=64,
            pattern=FIRM_USER_PATTERN,
            description="The firm user acting (recorded on events); letters, digits, . _ -",
        ),
    ] = None,
) -> str | None:
    if x_firm_user and clear_pii_kind(x_firm_user):
        raise InvalidInput("X-Firm-User must not be personal data (use a user id)")
    return x_firm_user


FirmId = Annotated[str, Depends(_firm)]
FirmUser = Annotated[str | None, Depends(_firm_user)]
ClientIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="Client.")
]


@dataclass(frozen=True)
class ClientPage:
    clients: list[ClientView]
    next_cursor: str | None


@dataclass(frozen=True)
class ImportReport:
    """Rows added (with their new client ids) and rows refused (with the reason)."""

    imported: list[Imported]
    errors: list[RowError]


@dataclass(frozen=True)
class BulkInviteReport:
    outcomes: list[InviteOutcome]


@dataclass(frozen=True)
class RequestSent:
    request_id: str


@dataclass(frozen=True)
class MessageSent:
    message_id: str


def _view(core: Core, row: ClientRow) -> ClientView:
    return client_view(row, core.clock())


@router.post("/clients", status_code=status.HTTP_201_CREATED)
async def add_client(
    body: NewClientBody, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ClientView:
    """Add a client (Not Invited); the service assigns its id."""
    new = NewClient(body.email, body.phone, body.ssn_last4, ClientOrigin(body.origin))
    return _view(core, firm_actions.add_client(core, firm_id, user, new))


@router.post(
    "/clients/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "Header line naming some of: email, phone, ssn_last4.",
        }
    },
)
async def import_clients(
    request: Request, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ImportReport:
    """Add many clients from CSV (at most 1 MiB, 5,000 rows): good rows are added, each bad
    row is reported with its line number and reason."""
    data = await limited_body(request, MAX_CSV_BYTES)
    imported, errors = firm_actions.import_clients(core, firm_id, user, data)
    return ImportReport(imported, errors)


@router.get("/clients")
async def list_clients(
    firm_id: FirmId,
    core: CoreDep,
    status_filter: Annotated[ClientStatusValue | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
) -> ClientPage:
    """The firm's clients in the order they were added, with their status."""
    after = _decode_cursor(cursor) if cursor else 0
    value = status_filter.value if status_filter else None
    rows = core.store.firm_clients(firm_id, value, after, limit + 1)
    next_cursor = _encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    return ClientPage([_view(core, row) for _, row in rows[:limit]], next_cursor)


@router.get("/clients/{client_id}")
async def get_client(client_id: ClientIdPath, firm_id: FirmId, core: CoreDep) -> ClientView:
    """One client: status, masked contact, lock, link expiry."""
    return _view(core, core.firm_client(firm_id, client_id))


@router.patch("/clients/{client_id}/contact")
async def change_contact(
    client_id: ClientIdPath, body: ContactChangeBody, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ClientView:
    """New email and/or phone. While Not Enrolled a new email re-sends the invite with a new
    link and the old link stops working."""
    row = await firm_actions.change_contact(core, firm_id, user, client_id, body.email, body.phone)
    return _view(core, row)


@router.post("/clients/{client_id}/requests", status_code=status.HTTP_201_CREATED)
async def send_get_request(
    client_id: ClientIdPath, body: GetRequestBody, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> RequestSent:
    """Send a get request (DRL, questionnaire, letter); with automatic invites on, the first
    one starts the grace period."""
    request_id = await firm_actions.send_get_request(core, firm_id, user, client_id, body.kind)
    return RequestSent(request_id)


@router.post("/clients/{client_id}/invite")
async def invite(
    client_id: ClientIdPath, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ClientView:
    """Send a dynamic password invite (409 with the reason when it may not be sent)."""
    return _view(core, await firm_actions.invite(core, firm_id, user, client_id))


@router.post("/invites")
async def invite_many(
    body: BulkInviteBody, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> BulkInviteReport:
    """Invite many clients; each outcome says sent, or why not."""
    return BulkInviteReport(await firm_actions.invite_many(core, firm_id, user, body.client_ids))


@router.post("/clients/{client_id}/reminder")
async def remind(
    client_id: ClientIdPath, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ClientView:
    """Invitation reminder (Not Enrolled only): a new link; the previous one stops working."""
    return _view(core, await firm_actions.send_new_link(core, firm_id, user, client_id, True))


@router.post("/clients/{client_id}/login-link")
async def send_login_link(
    client_id: ClientIdPath, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ClientView:
    """A new login link on the client's behalf (Not Enrolled or Connected)."""
    return _view(core, await firm_actions.send_new_link(core, firm_id, user, client_id, False))


@router.post("/clients/{client_id}/unlock")
async def unlock(
    client_id: ClientIdPath, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ClientView:
    """Unlock a locked login before the lock runs out; the client is told by email."""
    return _view(core, await firm_actions.unlock(core, firm_id, user, client_id))


@router.post("/clients/{client_id}/identity-confirmation")
async def confirm_identity(
    client_id: ClientIdPath, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> ClientView:
    """Confirm the client's identity by hand: verified and Connected."""
    return _view(core, await firm_actions.confirm_identity(core, firm_id, user, client_id))


@router.post("/clients/{client_id}/messages", status_code=status.HTTP_201_CREATED)
async def send_message(
    client_id: ClientIdPath, body: MessageBody, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> MessageSent:
    """Message a client (only Connected with verified identity); the client is told by email."""
    message_id = await firm_actions.send_message(
        core, firm_id, user, client_id, body.subject, body.body
    )
    return MessageSent(message_id)


@router.get("/settings")
async def get_settings(firm_id: FirmId, core: CoreDep) -> FirmSettings:
    """The firm's current settings (defaults until changed)."""
    return core.firm(firm_id)


@router.patch("/settings")
async def change_settings(
    body: SettingsChangeBody, firm_id: FirmId, user: FirmUser, core: CoreDep
) -> FirmSettings:
    """Change settings; they are published to the stream workers (firm-settings topic)."""
    return firm_actions.update_settings(core, firm_id, user, body.changes())


def _encode_cursor(position: int) -> str:
    raw = json.dumps([position]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        [position] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(position, int) and not isinstance(position, bool) and 0 <= position < 2**62:
            return position
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        pass
    raise InvalidInput("invalid cursor")
