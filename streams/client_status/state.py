"""A client's state as the status rule keeps it (one row per client in the worker's table)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from schemas.clients import ClientOrigin, ClientStatusValue, VerificationMethod

S = ClientStatusValue


@dataclass(frozen=True, slots=True)
class ClientState:
    """Everything the Dynamic Password rules need to decide the next step for one client."""

    firm_id: str
    client_id: str
    status: ClientStatusValue = S.NOT_INVITED
    origin: ClientOrigin = ClientOrigin.MANUAL
    has_email: bool = False
    identity_verified: bool = False
    verification_method: VerificationMethod | None = None
    active_link_id: str | None = None
    active_link_expires_at: datetime | None = None
    login_failures: int = 0
    login_locked_until: datetime | None = None
    first_pending_request_at: datetime | None = None

    def login_locked_at(self, now: datetime) -> bool:
        return self.login_locked_until is not None and now < self.login_locked_until

    @property
    def can_receive_messages(self) -> bool:
        """Messages go only to Connected clients whose identity is verified."""
        return self.status is S.CONNECTED and self.identity_verified

    @property
    def activity_shared(self) -> bool:
        """Client's and firm's activity are hidden from each other until identity is verified."""
        return self.identity_verified


# Every field is a plain value: reading them is what dataclasses.asdict does, minus its deepcopy.
_STATE_FIELDS = tuple(f.name for f in fields(ClientState))


def to_row(state: ClientState) -> dict[str, Any]:
    """JSON-friendly table row."""
    row: dict[str, Any] = {}
    for key in _STATE_FIELDS:
        value = getattr(state, key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif hasattr(value, "value"):
            value = value.value
        row[key] = value
    return row


def from_row(row: dict[str, Any]) -> ClientState:
    values = dict(row)
    for key in ("active_link_expires_at", "login_locked_until", "first_pending_request_at"):
        if values.get(key):
            values[key] = datetime.fromisoformat(values[key])
    values["status"] = S(values["status"])
    values["origin"] = ClientOrigin(values["origin"])
    if values.get("verification_method"):
        values["verification_method"] = VerificationMethod(values["verification_method"])
    return ClientState(**values)
