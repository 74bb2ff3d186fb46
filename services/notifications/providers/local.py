"""The embedded default provider: each message becomes a JSON file in the outbox directory and a
one-line summary on the console (with the link or code, so a demo can follow the flow).

This file is the 'provider': like a real one it holds the address. Nothing else does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from schemas.pii import mask_email, mask_phone
from services.notifications.compose import OutgoingMessage
from services.notifications.errors import ProviderError
from services.notifications.providers import SendReceipt
from services.webhooks.records import Channel, DeliveryStatus, Provider


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class LocalOutbox:
    """Writes `<outbox_dir>/<notification_id>.json` (atomically) and announces it."""

    provider = Provider.LOCAL

    def __init__(
        self,
        outbox_dir: Path,
        clock: Callable[[], datetime],
        announce: Callable[[str], None] | None = None,
    ):
        """`announce` gets the one-line summary (stdout by default)."""
        self.outbox_dir = outbox_dir
        self._clock = clock
        self._announce = announce or _print_line
        outbox_dir.mkdir(parents=True, exist_ok=True)

    def send(self, message: OutgoingMessage) -> SendReceipt:
        notification = message.notification
        path = self.outbox_dir / f"{notification.notification_id}.json"
        temporary = path.with_suffix(".json.tmp")
        try:
            temporary.write_text(json.dumps(outbox_entry(message, self._clock()), indent=2) + "\n")
            os.replace(temporary, path)
        except OSError as exc:  # nothing was 'sent' until the rename
            raise ProviderError(
                f"cannot write the outbox file: {exc.strerror}", retriable=True
            ) from exc
        self._announce(summary_line(message))
        is_sms = notification.channel is Channel.SMS
        status = DeliveryStatus.SENT if is_sms else DeliveryStatus.PROCESSED
        return SendReceipt(Provider.LOCAL, notification.notification_id, status)

    def close(self) -> None:
        """Nothing to release."""


def outbox_entry(message: OutgoingMessage, sent_at: datetime) -> dict[str, Any]:
    """The JSON a local 'send' writes."""
    notification, content = message.notification, message.content
    return {
        "notification_id": notification.notification_id,
        "channel": notification.channel.value,
        "message_kind": notification.message_kind.value,
        "firm_id": notification.firm_id,
        "client_id": notification.client_id,
        "return_id": notification.return_id,
        "to": message.to,
        "subject": content.subject,
        "body": content.body,
        "link": content.link,
        "code": content.code,
        "sent_at": sent_at.isoformat(),
    }


def summary_line(message: OutgoingMessage) -> str:
    """`[outbox] SMS OTP_SMS to ***-***-1234 (client C-1): code 123456` - address masked."""
    notification, content = message.notification, message.content
    masked = masked_address(notification.channel, message.to)
    shown = [f"link {content.link}"] if content.link else []
    shown += [f"code {content.code}"] if content.code else []
    what = ", ".join(shown) or (content.subject or content.body[:60])
    return (
        f"[outbox] {notification.channel.value} {notification.message_kind.value} to {masked} "
        f"({notification.recipient}): {what}"
    )


def masked_address(channel: Channel, address: str) -> str:
    return mask_email(address) if channel is Channel.EMAIL else mask_phone(address)
