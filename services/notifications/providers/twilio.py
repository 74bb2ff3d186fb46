"""SMS through Twilio's Messages API; the status callback URL carries our ids, so Twilio's
status reports come back to the webhook ingest as delivery events of this message."""

from __future__ import annotations

import httpx

from services.notifications.compose import OutgoingMessage
from services.notifications.providers import SendReceipt
from services.notifications.providers.callbacks import twilio_status_callback
from services.notifications.providers.http import json_body, post, refused
from services.webhooks.records import DeliveryStatus, Provider
from services.webhooks.twilio import STATUS_OF_MESSAGE_STATUS


class TwilioSender:
    """POST /2010-04-01/Accounts/{sid}/Messages.json with basic auth (account sid, token)."""

    provider = Provider.TWILIO

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        base_url: str,
        status_callback_url: str | None,
        timeout_s: float = 10.0,
    ):
        """`status_callback_url`: public base URL of the webhook ingest (None: no callbacks)."""
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._from = from_number
        self._callback_base = status_callback_url
        self._client = httpx.Client(
            base_url=base_url, timeout=timeout_s, auth=(account_sid, auth_token)
        )

    def send(self, message: OutgoingMessage) -> SendReceipt:
        form = {"To": message.to, "From": self._from, "Body": message.content.body}
        if self._callback_base:
            form["StatusCallback"] = twilio_status_callback(
                self._callback_base, message.notification
            )
        response = post(self._client, "Twilio", self._path, data=form)
        body = json_body(response)
        if not response.is_success:
            code = body.get("code")
            raise refused("Twilio", response, f"error {code}: {body.get('message')}")
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            sid = message.notification.notification_id
        status = str(body.get("status") or "queued").lower()
        # 'accepted' and 'scheduled' (messaging services) are queued as far as we know
        return SendReceipt(
            Provider.TWILIO, sid, STATUS_OF_MESSAGE_STATUS.get(status, DeliveryStatus.QUEUED)
        )

    def close(self) -> None:
        self._client.close()
