"""NotificationRequested records (the outbox) as typed values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.tracking import RecipientRole
from services.notifications.errors import InvalidNotification
from services.webhooks.records import Channel, MessageKind


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to send (see ctrack.notifications.NotificationRequested.avsc)."""

    notification_id: str
    requested_at: datetime
    channel: Channel
    message_kind: MessageKind
    firm_id: str
    client_id: str | None = None
    return_id: str | None = None
    recipient_role: RecipientRole | None = None
    link_id: str | None = None
    secret_ref: str | None = None
    caused_by: str | None = None

    @property
    def recipient(self) -> str:
        """Who it is for, as our ids say it (for logs): the client, else the return."""
        return self.client_id or f"return:{self.return_id}"


def from_record(record: dict[str, Any]) -> Notification:
    """The notification of a decoded record; raises InvalidNotification if it names nobody."""
    client_id, return_id = record.get("client_id"), record.get("return_id")
    if not client_id and not return_id:
        raise InvalidNotification("notification names neither a client_id nor a return_id")
    role = record.get("recipient_role")
    caused_by = record.get("caused_by")
    return Notification(
        notification_id=str(record["notification_id"]),
        requested_at=record["requested_at"],
        channel=Channel(record["channel"]),
        message_kind=MessageKind(record["message_kind"]),
        firm_id=record["firm_id"],
        client_id=client_id or None,
        return_id=return_id or None,
        recipient_role=RecipientRole(role) if role else None,
        link_id=record.get("link_id") or None,
        secret_ref=record.get("secret_ref") or None,
        caused_by=str(caused_by) if caused_by is not None else None,
    )


def to_record(notification: Notification) -> dict[str, Any]:
    """The Avro record of a notification (producers and tests)."""
    role = notification.recipient_role
    return {
        "notification_id": notification.notification_id,
        "requested_at": notification.requested_at,
        "channel": notification.channel.value,
        "message_kind": notification.message_kind.value,
        "firm_id": notification.firm_id,
        "client_id": notification.client_id,
        "return_id": notification.return_id,
        "recipient_role": role.value if role else None,
        "link_id": notification.link_id,
        "secret_ref": notification.secret_ref,
        "caused_by": notification.caused_by,
    }
