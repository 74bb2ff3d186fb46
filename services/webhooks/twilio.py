"""Twilio SMS status callbacks to delivery records, pure.

Twilio adds parameters without notice, so unknown ones are accepted (and signed over) but not
read. A status callback carries no timestamp of its own: it happened when it reached us.
Neither number is kept: only a keyed hash of `To`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from schemas.pii import ClearPiiError, PiiHasher, assert_no_clear_pii, redact
from services.webhooks.custom_args import message_ids, optional_str, required_str
from services.webhooks.errors import MalformedPayload
from services.webhooks.records import (
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    Outgoing,
    Provider,
    delivery_event_id,
    delivery_outgoing,
)

Params = Sequence[tuple[str, str]]

STATUS_OF_MESSAGE_STATUS: dict[str, DeliveryStatus] = {
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
}


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """The POST parameters of a form body, in order, blank values kept (Twilio signs them)."""
    try:
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload(
            "body is not form-encoded (application/x-www-form-urlencoded)"
        ) from exc


def map_callback(form: Params, query: Params, hasher: PiiHasher, received_at: datetime) -> Outgoing:
    """The delivery record of one status callback; raises MalformedPayload if it lacks our ids.

    Args:
        form: the POST parameters (MessageSid, MessageStatus, ErrorCode, To, ...).
        query: the callback URL's query parameters, which carry our ids.
        hasher: keyed hash of the recipient's number.
        received_at: when the callback arrived (UTC); also its occurred_at.
    """
    fields, our_ids = dict(form), dict(query)
    sid, message_status = required_str(fields, "MessageSid"), required_str(fields, "MessageStatus")
    to = optional_str(fields, "To")
    provider_event_id = f"{sid}:{message_status}"
    event = DeliveryEvent(
        event_id=delivery_event_id(Provider.TWILIO, provider_event_id),
        provider=Provider.TWILIO,
        provider_event_id=provider_event_id,
        channel=Channel.SMS,
        # A status Twilio adds later is kept (as UNKNOWN, raw in provider_event_id), not refused.
        status=STATUS_OF_MESSAGE_STATUS.get(message_status.lower(), DeliveryStatus.UNKNOWN),
        occurred_at=received_at,
        received_at=received_at,
        ids=message_ids(our_ids),
        recipient_hash=hasher.phone(to) if to else None,
        error_code=optional_str(fields, "ErrorCode"),
    )
    outgoing = delivery_outgoing(event)
    try:
        assert_no_clear_pii(outgoing.record, outgoing.schema_name)
    except ClearPiiError as exc:
        raise MalformedPayload(str(exc)) from exc
    return outgoing


def redact_form(body: bytes) -> bytes:
    """The form with each name and value redacted, re-encoded.

    `schemas.pii.redact` cannot see a percent-encoded number (`To=%2B15551234567`), so a
    rejected callback is decoded before it is redacted and kept.
    """
    pairs = parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
    return urlencode([(_redact_text(name), _redact_text(value)) for name, value in pairs]).encode()


def _redact_text(text: str) -> str:
    return redact(text.encode()).decode(errors="replace")


def callback_url(public_base: str | None, seen_url: str, path: str, query: str) -> str:
    """The URL Twilio signed: our public base URL (behind a proxy we see another) + path + query.

    Args:
        public_base: CTRACK_WEBHOOK_PUBLIC_URL, if set.
        seen_url: the full URL of the request as this process sees it.
        path: the request path.
        query: the raw query string, exactly as received.
    """
    if not public_base:
        return seen_url
    return public_base.rstrip("/") + path + (f"?{query}" if query else "")
