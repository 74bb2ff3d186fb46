"""What the firm side returns about a client: status and masked contact, never a secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.dynamic_password.store import ClientRow


@dataclass(frozen=True)
class ClientView:
    """A client as its firm sees it."""

    client_id: str
    status: str
    origin: str
    identity_verified: bool
    verification_method: str | None
    email_masked: str | None
    phone_masked: str | None
    has_ssn_last4: bool
    has_password: bool
    login_locked_until: datetime | None
    active_link_expires_at: datetime | None
    first_pending_request_at: datetime | None
    created_at: datetime


def client_view(row: ClientRow, now: datetime) -> ClientView:
    """The view at `now` (a lock that has run out is not shown)."""
    state = row.state
    return ClientView(
        client_id=row.client_id,
        status=state.status.value,
        origin=state.origin.value,
        identity_verified=state.identity_verified,
        verification_method=state.verification_method.value if state.verification_method else None,
        email_masked=row.email_masked,
        phone_masked=row.phone_masked,
        has_ssn_last4=row.ssn_hash is not None,
        has_password=row.password_hash is not None,
        login_locked_until=state.login_locked_until if state.login_locked_at(now) else None,
        active_link_expires_at=state.active_link_expires_at,
        first_pending_request_at=state.first_pending_request_at,
        created_at=row.created_at,
    )
