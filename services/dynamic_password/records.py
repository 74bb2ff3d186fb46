"""Contract records the service emits: client events, notification requests, sealed contacts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from schemas.clients import ClientEvent, ClientEventType
from schemas.pii import PiiHasher, mask_email, mask_phone
from schemas.tracking import DERIVED_EVENT_NAMESPACE, Actor
from services.credentials import Contact

E = ClientEventType
# The template the dispatcher uses for each link-issuing event.
LINK_MESSAGE_KINDS = {
    E.INVITE_SENT: "DYNAMIC_PASSWORD_INVITE",
    E.INVITATION_REMINDER_SENT: "INVITATION_REMINDER",
    E.NEW_LOGIN_LINK_SENT: "LOGIN_LINK",
}


def client_event(
    event_type: ClientEventType,
    firm_id: str,
    client_id: str,
    at: datetime,
    actor: Actor,
    firm_user: str | None = None,
    **fields: Any,
) -> ClientEvent:
    """A new event with a fresh id (the service's decisions are not replays)."""
    return ClientEvent(
        event_id=uuid4(),
        event_type=event_type,
        occurred_at=at,
        firm_id=firm_id,
        client_id=client_id,
        actor=actor,
        firm_user=firm_user,
        **fields,
    )


def notification_id(message_kind: str, cause: UUID) -> UUID:
    """Derived from the event that asked for it, as the stream worker derives its own."""
    return uuid5(DERIVED_EVENT_NAMESPACE, f"notify:{message_kind}:{cause}")


def notification(
    *,
    cause: UUID,
    at: datetime,
    channel: str,
    message_kind: str,
    firm_id: str,
    client_id: str,
    link_id: str | None = None,
    secret_ref: str | None = None,
    return_id: str | None = None,
    recipient_role: str | None = None,
) -> dict[str, Any]:
    """A NotificationRequested record: ids and references only, never a code or a token."""
    return {
        "notification_id": str(notification_id(message_kind, cause)),
        "requested_at": at,
        "channel": channel,
        "message_kind": message_kind,
        "firm_id": firm_id,
        "client_id": client_id,
        "return_id": return_id,
        "recipient_role": recipient_role,
        "link_id": link_id,
        "secret_ref": secret_ref,
        "caused_by": str(cause),
    }


def contact_record(
    firm_id: str,
    client_id: str,
    key_id: str,
    sealed: bytes,
    fields: ContactFields,
    at: datetime,
) -> dict[str, Any]:
    """The ClientContact record for the compacted client-contacts topic."""
    return {
        "firm_id": firm_id,
        "client_id": client_id,
        "updated_at": at,
        "key_id": key_id,
        "sealed": sealed,
        "email_hash": fields.email_hash,
        "phone_masked": fields.phone_masked,
    }


@dataclass(frozen=True, slots=True)
class ContactFields:
    """What may be said about a contact outside its seal: keyed hashes and masked forms."""

    email_hash: str | None = None
    email_masked: str | None = None
    phone_hash: str | None = None
    phone_masked: str | None = None

    @classmethod
    def of(cls, contact: Contact, hasher: PiiHasher) -> ContactFields:
        email, phone = contact.email, contact.phone
        return cls(
            email_hash=hasher.email(email) if email else None,
            email_masked=mask_email(email) if email else None,
            phone_hash=hasher.phone(phone) if phone else None,
            phone_masked=mask_phone(phone) if phone else None,
        )

    def event_fields(self) -> dict[str, str | None]:
        return {
            "email_hash": self.email_hash,
            "email_masked": self.email_masked,
            "phone_hash": self.phone_hash,
            "phone_masked": self.phone_masked,
        }
