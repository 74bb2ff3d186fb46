"""One message, sent at most once: claimed in the ledger, handed to its provider, settled."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import structlog

from schemas.pii import PiiHasher
from services.notifications.compose import OutgoingMessage
from services.notifications.delivery import failure_status
from services.notifications.errors import ProviderError
from services.notifications.ledger import SendLedger, SendRecord, SendState
from services.notifications.providers import MessageSender, SendReceipt
from services.notifications.providers.local import masked_address
from services.notifications.selection import Senders
from services.webhooks.records import Channel

log = structlog.get_logger(__name__)


class Deliverer:
    """Claim (SENDING, on disk) -> provider call, retried only while it surely sent nothing ->
    SENT or FAILED. A process that dies in between leaves SENDING: in doubt, never resent."""

    def __init__(
        self,
        ledger: SendLedger,
        senders: Senders,
        hasher: PiiHasher,
        clock: Callable[[], datetime],
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.ledger = ledger
        self._senders = senders
        self._hasher = hasher
        self._clock = clock
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    def deliver(self, message: OutgoingMessage) -> SendRecord | None:
        """The settled ledger row, or None when the id was already claimed (not sent again)."""
        notification = message.notification
        channel, kind = notification.channel.value, notification.message_kind.value
        if not self.ledger.claim(notification.notification_id, channel, kind, self._clock()):
            return None
        sender = self._senders.for_channel(notification.channel)
        recipient_hash = self._recipient_hash(notification.channel, message.to)
        try:
            receipt = self._send(sender, message)
        except ProviderError as exc:
            return self.ledger.settle(
                notification.notification_id,
                SendState.FAILED,
                self._clock(),
                provider=sender.provider.value,
                provider_message_id=notification.notification_id,
                delivery_status=failure_status(notification.channel).value,
                recipient_hash=recipient_hash,
                error_code=exc.code,
                reason=str(exc),
            )
        return self.ledger.settle(
            notification.notification_id,
            SendState.SENT,
            self._clock(),
            provider=receipt.provider.value,
            provider_message_id=receipt.provider_message_id,
            delivery_status=receipt.status.value,
            recipient_hash=recipient_hash,
        )

    def _send(self, sender: MessageSender, message: OutgoingMessage) -> SendReceipt:
        for attempt in range(1, self._attempts + 1):
            try:
                return sender.send(message)
            except ProviderError as exc:
                if not exc.retriable or attempt == self._attempts:
                    raise
                log.warning(
                    "send_retry",
                    notification_id=message.notification.notification_id,
                    provider=sender.provider.value,
                    to=masked_address(message.notification.channel, message.to),
                    attempt=attempt,
                    error=str(exc),
                )
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _recipient_hash(self, channel: Channel, address: str) -> str:
        if channel is Channel.EMAIL:
            return self._hasher.email(address)
        return self._hasher.phone(address)
