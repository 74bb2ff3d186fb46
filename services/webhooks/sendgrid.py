"""SendGrid Event Webhook batches to delivery and Client Tracking records, pure.

A batch maps whole or not at all: the first bad event raises MalformedPayload naming its
index, so the ingest rejects the batch (SendGrid retries it) instead of half-accepting it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import uuid5

from schemas.pii import ClearPiiError, PiiHasher, assert_no_clear_pii, redact
from schemas.tracking import (
    DERIVED_EVENT_NAMESPACE,
    Actor,
    RecipientRole,
    TrackingEvent,
    TrackingEventType,
)
from services.webhooks.custom_args import message_ids, optional_str, required_str
from services.webhooks.errors import MalformedPayload
from services.webhooks.records import (
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    MessageKind,
    Outgoing,
    Provider,
    delivery_event_id,
    delivery_outgoing,
    tracking_outgoing,
)

STATUS_OF_EVENT: dict[str, DeliveryStatus] = {
    "processed": DeliveryStatus.PROCESSED,
    "dropped": DeliveryStatus.DROPPED,
    "delivered": DeliveryStatus.DELIVERED,
    "deferred": DeliveryStatus.DEFERRED,
    "bounce": DeliveryStatus.BOUNCE,
    "open": DeliveryStatus.OPEN,
    "click": DeliveryStatus.CLICK,
    "spamreport": DeliveryStatus.SPAMREPORT,
    "unsubscribe": DeliveryStatus.UNSUBSCRIBE,
    "group_unsubscribe": DeliveryStatus.GROUP_UNSUBSCRIBE,
    "group_resubscribe": DeliveryStatus.GROUP_RESUBSCRIBE,
}

_T = TrackingEventType
# The glossary's email rows; a dropped message never reached the client, so it reads as bounced.
TRACKING_TYPE: dict[tuple[MessageKind, DeliveryStatus], TrackingEventType] = {
    (MessageKind.INITIAL_EMAIL, DeliveryStatus.PROCESSED): _T.INITIAL_EMAIL_PROCESSED,
    (MessageKind.INITIAL_EMAIL, DeliveryStatus.DELIVERED): _T.INITIAL_EMAIL_DELIVERED,
    (MessageKind.INITIAL_EMAIL, DeliveryStatus.OPEN): _T.INITIAL_EMAIL_OPENED,
    (MessageKind.INITIAL_EMAIL, DeliveryStatus.BOUNCE): _T.INITIAL_EMAIL_BOUNCED,
    (MessageKind.INITIAL_EMAIL, DeliveryStatus.DROPPED): _T.INITIAL_EMAIL_BOUNCED,
    (MessageKind.ACCESS_CODE_EMAIL, DeliveryStatus.PROCESSED): _T.ACCESS_CODE_EMAIL_PROCESSED,
    (MessageKind.ACCESS_CODE_EMAIL, DeliveryStatus.DELIVERED): _T.ACCESS_CODE_EMAIL_DELIVERED,
    (MessageKind.ACCESS_CODE_EMAIL, DeliveryStatus.OPEN): _T.ACCESS_CODE_EMAIL_OPENED,
    (MessageKind.ACCESS_CODE_EMAIL, DeliveryStatus.BOUNCE): _T.ACCESS_CODE_EMAIL_BOUNCED,
    (MessageKind.ACCESS_CODE_EMAIL, DeliveryStatus.DROPPED): _T.ACCESS_CODE_EMAIL_BOUNCED,
}
REASON_MAX_CHARS = 1000


def map_batch(body: bytes, hasher: PiiHasher, received_at: datetime) -> tuple[Outgoing, ...]:
    """Every record a verified batch yields, in order; raises MalformedPayload for a bad batch.

    Args:
        body: the raw request body (a JSON array of events).
        hasher: keyed hash of recipient addresses.
        received_at: when the request arrived (UTC).
    """
    outgoing: list[Outgoing] = []
    for index, event in enumerate(parse_batch(body)):
        try:
            outgoing.extend(map_event(event, hasher, received_at))
        except MalformedPayload as exc:
            raise MalformedPayload(f"event {index}: {exc}") from exc
    return tuple(outgoing)


def parse_batch(body: bytes) -> list[dict[str, Any]]:
    """The events of a body: a non-empty JSON array of objects."""
    try:
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload("body is not valid JSON") from exc
    if not isinstance(events, list) or not events:
        raise MalformedPayload("body is not a non-empty JSON array of events")
    if not all(isinstance(event, dict) for event in events):
        raise MalformedPayload("every element of the array must be an event object")
    return events


def map_event(event: Mapping[str, Any], hasher: PiiHasher, received_at: datetime) -> list[Outgoing]:
    """The delivery record of one event, plus its Client Tracking record if the glossary has one."""
    delivery = delivery_event(event, hasher, received_at)
    outgoing = [delivery_outgoing(delivery)]
    if (tracked := tracking_event(delivery)) is not None:
        outgoing.append(tracking_outgoing(tracked))
    for item in outgoing:
        try:
            assert_no_clear_pii(item.record, item.schema_name)
        except ClearPiiError as exc:  # e.g. an address put in a custom arg by mistake
            raise MalformedPayload(str(exc)) from exc
    return outgoing


def delivery_event(
    event: Mapping[str, Any], hasher: PiiHasher, received_at: datetime
) -> DeliveryEvent:
    """One SendGrid event as a DeliveryEvent; the address survives only as a keyed hash."""
    sg_event_id = required_str(event, "sg_event_id")
    status = STATUS_OF_EVENT.get(required_str(event, "event"), DeliveryStatus.UNKNOWN)
    email = optional_str(event, "email")
    is_bounce = status is DeliveryStatus.BOUNCE
    return DeliveryEvent(
        event_id=delivery_event_id(Provider.SENDGRID, sg_event_id),
        provider=Provider.SENDGRID,
        provider_event_id=sg_event_id,
        channel=Channel.EMAIL,
        status=status,
        occurred_at=_occurred_at(event),
        received_at=received_at,
        ids=message_ids(event),
        recipient_hash=hasher.email(email) if email else None,
        bounce_type=optional_str(event, "type") if is_bounce else None,
        bounce_classification=optional_str(event, "bounce_classification") if is_bounce else None,
        machine_open=status is DeliveryStatus.OPEN and event.get("sg_machine_open") is True,
        error_code=optional_str(event, "status"),  # the SMTP status, e.g. 5.1.1
        reason=_reason(event),
    )


def tracking_event(delivery: DeliveryEvent) -> TrackingEvent | None:
    """The glossary's event for an initial or access-code email about a return, if any.

    Machine opens (privacy prefetch) are not the client opening the email: no OPENED event.
    """
    ids = delivery.ids
    event_type = TRACKING_TYPE.get((ids.message_kind, delivery.status))
    if event_type is None or ids.return_id is None or delivery.machine_open:
        return None
    opened = delivery.status is DeliveryStatus.OPEN
    return TrackingEvent(
        event_id=uuid5(DERIVED_EVENT_NAMESPACE, f"{event_type.value}:{delivery.event_id}"),
        event_type=event_type,
        occurred_at=delivery.occurred_at,
        firm_id=ids.firm_id,
        return_id=ids.return_id,
        recipient_role=ids.recipient_role or RecipientRole.TAXPAYER,
        actor=Actor.CLIENT if opened else Actor.SYSTEM,
        client_id=ids.client_id,
        caused_by=delivery.event_id,
    )


def _occurred_at(event: Mapping[str, Any]) -> datetime:
    seconds = event.get("timestamp")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise MalformedPayload("missing or non-numeric field 'timestamp'")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise MalformedPayload("field 'timestamp' is out of range") from exc


def _reason(event: Mapping[str, Any]) -> str | None:
    """Bounce/drop reason or deferral response, with addresses and numbers redacted."""
    text = optional_str(event, "reason") or optional_str(event, "response")
    if text is None:
        return None
    return redact(text[:REASON_MAX_CHARS].encode()).decode(errors="replace")
