"""Dynamic Password flow events and client status as typed values, with Avro converters."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from schemas.catalogue import CLIENT_EVENT, CLIENT_STATUS
from schemas.tracking import DERIVED_EVENT_NAMESPACE, Actor

EVENT_SCHEMA = CLIENT_EVENT
STATUS_SCHEMA = CLIENT_STATUS


class ClientEventType(StrEnum):
    UNKNOWN = "UNKNOWN"
    CLIENT_ADDED = "CLIENT_ADDED"
    CLIENT_IMPORTED = "CLIENT_IMPORTED"
    EMAIL_CHANGED = "EMAIL_CHANGED"
    PHONE_CHANGED = "PHONE_CHANGED"
    GET_REQUEST_SENT = "GET_REQUEST_SENT"
    INVITE_SENT = "INVITE_SENT"
    INVITATION_REMINDER_SENT = "INVITATION_REMINDER_SENT"
    NEW_LOGIN_LINK_REQUESTED = "NEW_LOGIN_LINK_REQUESTED"
    NEW_LOGIN_LINK_SENT = "NEW_LOGIN_LINK_SENT"
    LINK_SELECTED = "LINK_SELECTED"
    LINK_EXPIRED = "LINK_EXPIRED"
    LINK_SUPERSEDED = "LINK_SUPERSEDED"
    LINK_REJECTED = "LINK_REJECTED"
    OTP_SENT = "OTP_SENT"
    OTP_VERIFIED = "OTP_VERIFIED"
    OTP_FAILED = "OTP_FAILED"
    SSN_CHECK_PASSED = "SSN_CHECK_PASSED"
    SSN_CHECK_FAILED = "SSN_CHECK_FAILED"
    IDENTITY_VERIFIED = "IDENTITY_VERIFIED"
    LOGIN_LOCKED = "LOGIN_LOCKED"
    LOGIN_UNLOCKED = "LOGIN_UNLOCKED"
    STATUS_CHANGED = "STATUS_CHANGED"
    MESSAGE_SENT = "MESSAGE_SENT"
    PASSWORD_SET = "PASSWORD_SET"  # noqa: S105 - an event name, not a password
    CONNECTED_ELSEWHERE = "CONNECTED_ELSEWHERE"
    DISCONNECTED = "DISCONNECTED"


class ClientStatusValue(StrEnum):
    NOT_INVITED = "NOT_INVITED"
    NOT_ENROLLED = "NOT_ENROLLED"
    CONNECTED = "CONNECTED"
    CONNECTED_ELSEWHERE = "CONNECTED_ELSEWHERE"
    DISCONNECTED = "DISCONNECTED"


class ClientOrigin(StrEnum):
    MANUAL = "MANUAL"
    IMPORT = "IMPORT"
    API = "API"


class GetRequestKind(StrEnum):
    DRL = "DRL"
    QUESTIONNAIRE = "QUESTIONNAIRE"
    LETTER = "LETTER"


class InviteTrigger(StrEnum):
    MANUAL = "MANUAL"
    AUTOMATIC = "AUTOMATIC"
    EMAIL_CHANGED = "EMAIL_CHANGED"
    REMINDER = "REMINDER"
    CLIENT_REQUEST = "CLIENT_REQUEST"
    SUPPORT = "SUPPORT"


class VerificationMethod(StrEnum):
    OTP_SMS = "OTP_SMS"
    SSN_LAST4 = "SSN_LAST4"
    FIRM_CONFIRMATION = "FIRM_CONFIRMATION"


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """A step of the Dynamic Password flow (see ctrack.clients.ClientEvent.avsc)."""

    event_id: UUID
    event_type: ClientEventType
    occurred_at: datetime
    firm_id: str
    client_id: str
    actor: Actor = Actor.SYSTEM
    firm_user: str | None = None
    origin: ClientOrigin | None = None
    email_hash: str | None = None
    email_masked: str | None = None
    phone_hash: str | None = None
    phone_masked: str | None = None
    get_request_kind: GetRequestKind | None = None
    request_id: str | None = None
    invite_trigger: InviteTrigger | None = None
    link_id: str | None = None
    link_expires_at: datetime | None = None
    superseded_by: str | None = None
    verification_method: VerificationMethod | None = None
    failure_reason: str | None = None
    status_from: ClientStatusValue | None = None
    status_to: ClientStatusValue | None = None
    message_id: str | None = None
    locked_until: datetime | None = None
    caused_by: UUID | None = None

    def derived_id(self, kind: str) -> UUID:
        """Deterministic id of an event derived from this one."""
        return uuid5(DERIVED_EVENT_NAMESPACE, f"{kind}:{self.event_id}")


_ENUMS: dict[str, type[StrEnum]] = {
    "event_type": ClientEventType,
    "actor": Actor,
    "origin": ClientOrigin,
    "get_request_kind": GetRequestKind,
    "invite_trigger": InviteTrigger,
    "verification_method": VerificationMethod,
    "status_from": ClientStatusValue,
    "status_to": ClientStatusValue,
}
_UUIDS = ("event_id", "caused_by")
_FIELD_NAMES = tuple(f.name for f in fields(ClientEvent))


def to_record(event: ClientEvent) -> dict[str, Any]:
    """The Avro record of a client event."""
    record: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = getattr(event, name)
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, UUID):
            value = str(value)
        record[name] = value
    return record


def from_record(record: dict[str, Any]) -> ClientEvent:
    """The client event of a decoded Avro record."""
    values: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = record.get(name)
        if value is not None and name in _ENUMS:
            value = _ENUMS[name](value)
        elif value is not None and name in _UUIDS and not isinstance(value, UUID):
            value = UUID(value)
        values[name] = value
    return ClientEvent(**values)
