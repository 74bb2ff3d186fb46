"""The delivery event of a settled send, so provider callbacks and our own record line up.

Keyed by message_id = notification_id, the id the providers echo back (SendGrid custom args,
Twilio callback URL). The event id is name-based on (provider, provider's message id, status),
so publishing it again after a crash yields the same event.
"""

from __future__ import annotations

from typing import Any

from services.notifications.ledger import SendRecord, SendState
from services.notifications.requests import Notification
from services.webhooks.records import (
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    MessageIds,
    Provider,
    delivery_event_id,
    to_record,
)


def failure_status(channel: Channel) -> DeliveryStatus:
    """How a message the provider did not take reads: dropped email, failed SMS."""
    return DeliveryStatus.DROPPED if channel is Channel.EMAIL else DeliveryStatus.FAILED


def delivery_event(notification: Notification, settled: SendRecord) -> DeliveryEvent:
    """The DeliveryEvent of a SENT or FAILED ledger row."""
    if settled.state not in (SendState.SENT, SendState.FAILED):
        raise ValueError(f"no delivery event for a {settled.state.value} send")
    provider = Provider(settled.provider or Provider.LOCAL.value)
    status = DeliveryStatus(settled.delivery_status or failure_status(notification.channel).value)
    provider_event_id = (
        f"{settled.provider_message_id or notification.notification_id}:{status.value.lower()}"
    )
    return DeliveryEvent(
        event_id=delivery_event_id(provider, provider_event_id),
        provider=provider,
        provider_event_id=provider_event_id,
        channel=notification.channel,
        status=status,
        occurred_at=settled.updated_at,
        received_at=settled.updated_at,
        ids=MessageIds(
            message_id=notification.notification_id,
            firm_id=notification.firm_id,
            message_kind=notification.message_kind,
            return_id=notification.return_id,
            client_id=notification.client_id,
            recipient_role=notification.recipient_role,
        ),
        recipient_hash=settled.recipient_hash,
        error_code=settled.error_code,
        reason=settled.reason,
    )


def delivery_record(notification: Notification, settled: SendRecord) -> dict[str, Any]:
    """The ctrack.delivery.DeliveryEvent Avro record of a settled send."""
    return to_record(delivery_event(notification, settled))
