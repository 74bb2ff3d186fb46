"""Delivery events as typed values, their Avro converter, and the records an ingest publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from schemas import tracking
from schemas.catalogue import DELIVERY_EVENT
from schemas.tracking import DERIVED_EVENT_NAMESPACE, RecipientRole, TrackingEvent


class Provider(StrEnum):
    LOCAL = "LOCAL"
    SENDGRID = "SENDGRID"
    TWILIO = "TWILIO"
    SMTP = "SMTP"


class Channel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"


class DeliveryStatus(StrEnum):
    """SendGrid events and Twilio statuses (ctrack.delivery.DeliveryEvent.avsc)."""

    UNKNOWN = "UNKNOWN"
    PROCESSED = "PROCESSED"
    DROPPED = "DROPPED"
    DELIVERED = "DELIVERED"
    DEFERRED = "DEFERRED"
    BOUNCE = "BOUNCE"
    OPEN = "OPEN"
    CLICK = "CLICK"
    SPAMREPORT = "SPAMREPORT"
    UNSUBSCRIBE = "UNSUBSCRIBE"
    GROUP_UNSUBSCRIBE = "GROUP_UNSUBSCRIBE"
    GROUP_RESUBSCRIBE = "GROUP_RESUBSCRIBE"
    QUEUED = "QUEUED"
    SENDING = "SENDING"
    SENT = "SENT"
    UNDELIVERED = "UNDELIVERED"
    FAILED = "FAILED"


class MessageKind(StrEnum):
    """Which message (template) was sent (ctrack.delivery.MessageKind.avsc)."""

    OTHER = "OTHER"
    INITIAL_EMAIL = "INITIAL_EMAIL"
    ACCESS_CODE_EMAIL = "ACCESS_CODE_EMAIL"
    DYNAMIC_PASSWORD_INVITE = "DYNAMIC_PASSWORD_INVITE"  # noqa: S105 - a template name, no secret
    INVITATION_REMINDER = "INVITATION_REMINDER"
    LOGIN_LINK = "LOGIN_LINK"
    OTP_SMS = "OTP_SMS"
    SIGNING_REMINDER = "SIGNING_REMINDER"
    VOUCHER_REMINDER = "VOUCHER_REMINDER"
    UNLOCK_NOTICE = "UNLOCK_NOTICE"
    FIRM_MESSAGE = "FIRM_MESSAGE"


@dataclass(frozen=True, slots=True)
class MessageIds:
    """Our ids of a sent message, as they come back with the provider's report."""

    message_id: str
    firm_id: str
    message_kind: MessageKind
    return_id: str | None = None
    client_id: str | None = None
    recipient_role: RecipientRole | None = None


@dataclass(frozen=True, slots=True)
class DeliveryEvent:
    """A provider's status report about one message (see the .avsc for each field)."""

    event_id: UUID
    provider: Provider
    provider_event_id: str
    channel: Channel
    status: DeliveryStatus
    occurred_at: datetime
    received_at: datetime
    ids: MessageIds
    recipient_hash: str | None = None
    bounce_type: str | None = None
    bounce_classification: str | None = None
    machine_open: bool = False
    error_code: str | None = None
    reason: str | None = None


def delivery_event_id(provider: Provider, provider_event_id: str) -> UUID:
    """Name-based on (provider, provider event id): a redelivered callback gets the same id."""
    return uuid5(DERIVED_EVENT_NAMESPACE, f"delivery:{provider.value}:{provider_event_id}")


def to_record(event: DeliveryEvent) -> dict[str, Any]:
    """The ctrack.delivery.DeliveryEvent Avro record of an event."""
    role = event.ids.recipient_role
    return {
        "event_id": str(event.event_id),
        "provider": event.provider.value,
        "provider_event_id": event.provider_event_id,
        "channel": event.channel.value,
        "status": event.status.value,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "message_id": event.ids.message_id,
        "message_kind": event.ids.message_kind.value,
        "firm_id": event.ids.firm_id,
        "return_id": event.ids.return_id,
        "client_id": event.ids.client_id,
        "recipient_role": role.value if role else None,
        "recipient_hash": event.recipient_hash,
        "bounce_type": event.bounce_type,
        "bounce_classification": event.bounce_classification,
        "machine_open": event.machine_open,
        "error_code": event.error_code,
        "reason": event.reason,
    }


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish: its schema, Kafka key and id (the dedupe key)."""

    event_id: UUID
    schema_name: str
    key: str
    record: dict[str, Any]


def delivery_outgoing(event: DeliveryEvent) -> Outgoing:
    """A delivery event, keyed by our message id."""
    return Outgoing(event.event_id, DELIVERY_EVENT, event.ids.message_id, to_record(event))


def tracking_outgoing(event: TrackingEvent) -> Outgoing:
    """A Client Tracking event, keyed by its return."""
    return Outgoing(
        event.event_id, tracking.SCHEMA_NAME, event.return_id, tracking.to_record(event)
    )
