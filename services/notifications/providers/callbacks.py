"""Our ids on a message, in the form the webhook ingest reads them back
(`services/webhooks/custom_args.py`): SendGrid custom args, Twilio status-callback query."""

from __future__ import annotations

from urllib.parse import urlencode

from services.notifications.requests import Notification

TWILIO_CALLBACK_PATH = "/webhooks/twilio"


def callback_ids(notification: Notification) -> dict[str, str]:
    """message_id (= notification_id), firm_id and message_kind; return, client and role if set."""
    ids = {
        "message_id": notification.notification_id,
        "firm_id": notification.firm_id,
        "message_kind": notification.message_kind.value,
    }
    optional = {
        "return_id": notification.return_id,
        "client_id": notification.client_id,
        "recipient_role": notification.recipient_role.value
        if notification.recipient_role
        else None,
    }
    return ids | {name: value for name, value in optional.items() if value}


def twilio_status_callback(ingest_url: str, notification: Notification) -> str:
    """The StatusCallback URL: the ingest's Twilio route with our ids as its query."""
    query = urlencode(callback_ids(notification))
    return f"{ingest_url.rstrip('/')}{TWILIO_CALLBACK_PATH}?{query}"
