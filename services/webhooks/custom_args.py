"""Our ids as they come back from a provider: SendGrid custom args, Twilio callback URL params."""

from __future__ import annotations

from collections.abc import Mapping

from schemas.tracking import RecipientRole
from services.webhooks.errors import MalformedPayload
from services.webhooks.records import MessageIds, MessageKind


def required_str(source: Mapping[str, object], name: str) -> str:
    """A non-empty string field; MalformedPayload names the field (never its value)."""
    value = source.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"missing or non-string field {name!r}")
    return value


def optional_str(source: Mapping[str, object], name: str) -> str | None:
    """A string (or number, which providers sometimes send) field; empty counts as absent."""
    value = source.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedPayload(f"field {name!r} is not a string")
    return str(value)


def message_ids(source: Mapping[str, object]) -> MessageIds:
    """message_id, firm_id and message_kind are required; return, client and role are optional.

    Args:
        source: the provider's event (SendGrid puts custom args at its top level) or the
            query parameters of a Twilio status callback URL.
    """
    kind = required_str(source, "message_kind")
    role = optional_str(source, "recipient_role")
    if kind not in MessageKind.__members__:
        raise MalformedPayload("custom arg 'message_kind' is not a MessageKind symbol")
    if role is not None and role not in RecipientRole.__members__:
        raise MalformedPayload("custom arg 'recipient_role' is not a RecipientRole symbol")
    return MessageIds(
        message_id=required_str(source, "message_id"),
        firm_id=required_str(source, "firm_id"),
        message_kind=MessageKind(kind),
        return_id=optional_str(source, "return_id"),
        client_id=optional_str(source, "client_id"),
        recipient_role=RecipientRole(role) if role else None,
    )
