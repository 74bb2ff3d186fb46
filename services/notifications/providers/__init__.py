"""Providers behind one protocol: local files (default), SMTP, SendGrid and Twilio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notifications.compose import OutgoingMessage
from services.webhooks.records import DeliveryStatus, Provider


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The provider took the message: its id for it and the first status it reported."""

    provider: Provider
    provider_message_id: str
    status: DeliveryStatus


class MessageSender(Protocol):
    """Sends one message; raises `ProviderError` when the provider did not take it."""

    @property
    def provider(self) -> Provider: ...

    def send(self, message: OutgoingMessage) -> SendReceipt: ...

    def close(self) -> None: ...
