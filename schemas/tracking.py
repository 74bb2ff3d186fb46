"""Client Tracking events as typed values, and their converters at the Avro boundary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from schemas.catalogue import TRACKING_EVENT

# Name-based ids of derived events live in their own namespace, so a replay yields the same id.
DERIVED_EVENT_NAMESPACE = UUID("6f1c2f0e-6d53-4a4e-9d8f-2f3c1a7b9e10")


class TrackingEventType(StrEnum):
    """One symbol per row of the Client Tracking glossary (enum in the .avsc)."""

    UNKNOWN = "UNKNOWN"
    INITIAL_EMAIL_PROCESSED = "INITIAL_EMAIL_PROCESSED"
    INITIAL_EMAIL_DELIVERED = "INITIAL_EMAIL_DELIVERED"
    INITIAL_EMAIL_OPENED = "INITIAL_EMAIL_OPENED"
    INITIAL_EMAIL_BOUNCED = "INITIAL_EMAIL_BOUNCED"
    ACCESS_CODE_EMAIL_PROCESSED = "ACCESS_CODE_EMAIL_PROCESSED"
    ACCESS_CODE_EMAIL_DELIVERED = "ACCESS_CODE_EMAIL_DELIVERED"
    ACCESS_CODE_EMAIL_OPENED = "ACCESS_CODE_EMAIL_OPENED"
    ACCESS_CODE_EMAIL_BOUNCED = "ACCESS_CODE_EMAIL_BOUNCED"
    TAX_RETURN_ACCESSED = "TAX_RETURN_ACCESSED"
    OTHER_DOCUMENTS_ESIGNED = "OTHER_DOCUMENTS_ESIGNED"
    TAX_RETURN_RECALLED = "TAX_RETURN_RECALLED"
    TAX_RETURN_REPROCESSED = "TAX_RETURN_REPROCESSED"
    VOUCHER_REMINDER_SENT = "VOUCHER_REMINDER_SENT"
    ACCESS_LINK_SELECTED = "ACCESS_LINK_SELECTED"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    ACCESS_LOCKED = "ACCESS_LOCKED"
    ACCESS_UNLOCKED = "ACCESS_UNLOCKED"
    EFILE_FORMS_DOWNLOADED = "EFILE_FORMS_DOWNLOADED"
    DOCUMENT_DOWNLOADED = "DOCUMENT_DOWNLOADED"
    KBA_SUCCEEDED = "KBA_SUCCEEDED"
    KBA_FAILED = "KBA_FAILED"
    K1_DISTRIBUTED = "K1_DISTRIBUTED"
    FILES_UPLOADED = "FILES_UPLOADED"
    UPLOADED_FILES_DELETED = "UPLOADED_FILES_DELETED"
    SIGNING_REMINDER_SENT = "SIGNING_REMINDER_SENT"


class RecipientRole(StrEnum):
    TAXPAYER = "TAXPAYER"
    SPOUSE = "SPOUSE"
    CC_RECIPIENT = "CC_RECIPIENT"


class Actor(StrEnum):
    CLIENT = "CLIENT"
    FIRM_USER = "FIRM_USER"
    SYSTEM = "SYSTEM"


class AuthFailureReason(StrEnum):
    OTHER = "OTHER"
    WRONG_SSN = "WRONG_SSN"
    WRONG_ACCESS_CODE = "WRONG_ACCESS_CODE"
    EXPIRED_ACCESS_CODE = "EXPIRED_ACCESS_CODE"


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    """A touch on a delivered return (see ctrack.tracking.TrackingEvent.avsc for each field)."""

    event_id: UUID
    event_type: TrackingEventType
    occurred_at: datetime
    firm_id: str
    return_id: str
    recipient_role: RecipientRole = RecipientRole.TAXPAYER
    actor: Actor = Actor.CLIENT
    client_id: str | None = None
    firm_user: str | None = None
    detail: str | None = None
    failure_reason: AuthFailureReason | None = None
    kba_round: int | None = None
    caused_by: UUID | None = None

    @property
    def subject(self) -> str:
        """The lockout subject: one recipient of one return."""
        return f"{self.return_id}|{self.recipient_role}"

    def derived_id(self, kind: str) -> UUID:
        """Deterministic id for an event derived from this one (same input, same id)."""
        return uuid5(DERIVED_EVENT_NAMESPACE, f"{kind}:{self.event_id}")


SCHEMA_NAME = TRACKING_EVENT


def to_record(event: TrackingEvent) -> dict[str, Any]:
    """The Avro record of an event."""
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type.value,
        "occurred_at": event.occurred_at,
        "firm_id": event.firm_id,
        "return_id": event.return_id,
        "recipient_role": event.recipient_role.value,
        "actor": event.actor.value,
        "client_id": event.client_id,
        "firm_user": event.firm_user,
        "detail": event.detail,
        "failure_reason": event.failure_reason.value if event.failure_reason else None,
        "kba_round": event.kba_round,
        "caused_by": str(event.caused_by) if event.caused_by else None,
    }


def from_record(record: dict[str, Any]) -> TrackingEvent:
    """The event of a decoded Avro record."""
    reason = record.get("failure_reason")
    caused_by = record.get("caused_by")
    return TrackingEvent(
        event_id=_uuid(record["event_id"]),
        event_type=TrackingEventType(record["event_type"]),
        occurred_at=record["occurred_at"],
        firm_id=record["firm_id"],
        return_id=record["return_id"],
        recipient_role=RecipientRole(record["recipient_role"]),
        actor=Actor(record["actor"]),
        client_id=record.get("client_id"),
        firm_user=record.get("firm_user"),
        detail=record.get("detail"),
        failure_reason=AuthFailureReason(reason) if reason else None,
        kba_round=record.get("kba_round"),
        caused_by=_uuid(caused_by) if caused_by else None,
    )


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)
