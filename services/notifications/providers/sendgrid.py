"""Email through SendGrid's v3 Mail Send API; our ids ride along as custom args, so SendGrid's
Event Webhook reports come back to the webhook ingest as delivery events of this message."""

from __future__ import annotations

from typing import Any

import httpx

from services.notifications.compose import OutgoingMessage
from services.notifications.providers import SendReceipt
from services.notifications.providers.callbacks import callback_ids
from services.notifications.providers.http import json_body, post, refused
from services.webhooks.records import DeliveryStatus, Provider

MAIL_SEND_PATH = "/v3/mail/send"


class SendGridSender:
    """POST /v3/mail/send with a bearer API key; 202 means SendGrid took it (processed)."""

    provider = Provider.SENDGRID

    def __init__(self, api_key: str, sender: str, *, base_url: str, timeout_s: float = 10.0):
        self._sender = sender
        self._client = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    def send(self, message: OutgoingMessage) -> SendReceipt:
        response = post(self._client, "SendGrid", MAIL_SEND_PATH, json=mail(message, self._sender))
        if not response.is_success:
            raise refused("SendGrid", response, _errors(response))
        # SendGrid's own id (X-Message-Id) names the message in its activity feed
        provider_id = response.headers.get("X-Message-Id") or message.notification.notification_id
        return SendReceipt(Provider.SENDGRID, provider_id, DeliveryStatus.PROCESSED)

    def close(self) -> None:
        self._client.close()


def mail(message: OutgoingMessage, sender: str) -> dict[str, Any]:
    """The v3 mail body: one recipient, plain text, our ids as custom_args (strings only)."""
    return {
        "personalizations": [{"to": [{"email": message.to}]}],
        "from": {"email": sender},
        "subject": message.content.subject or "",
        "content": [{"type": "text/plain", "value": message.content.body}],
        "custom_args": callback_ids(message.notification),
    }


def _errors(response: httpx.Response) -> str | None:
    errors = json_body(response).get("errors")
    if not isinstance(errors, list):
        return None
    messages = [str(e.get("message")) for e in errors if isinstance(e, dict) and e.get("message")]
    return "; ".join(messages) or None
