"""Typed builders of contract records, one per schema; called when a beat is due.

Each builder is `(time_ms, event_id, *facts) -> (schema name, key, record)` and fills every
field of its `.avsc` (defaults included), so the codec never has to guess. Keys follow the
catalogue: return_id, client_id, firm_id or message_id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from producers.simulator.agenda import Record, SimulatedRecord
from producers.simulator.cases import ClientCase, Firm, Message, ReturnCase
from schemas.catalogue import (
    CLIENT_EVENT,
    DELIVERY_EVENT,
    FIRM_SETTINGS,
    RETURN_LIFECYCLE_EVENT,
    TRACKING_EVENT,
)

# (bounce type, bounce classification, machine open, error code, reason)
DeliveryDetail = tuple[str | None, str | None, bool, str | None, str | None]
NO_DETAIL: DeliveryDetail = (None, None, False, None, None)
_at = datetime.fromtimestamp  # hot: one call per timestamp, no wrapper

_CLIENT_FIELDS: Record = {
    "event_id": None,
    "event_type": None,
    "occurred_at": None,
    "firm_id": None,
    "client_id": None,
    "actor": "SYSTEM",
    "firm_user": None,
    "origin": None,
    "email_hash": None,
    "email_masked": None,
    "phone_hash": None,
    "phone_masked": None,
    "get_request_kind": None,
    "request_id": None,
    "invite_trigger": None,
    "link_id": None,
    "link_expires_at": None,
    "superseded_by": None,
    "verification_method": None,
    "failure_reason": None,
    "status_from": None,
    "status_to": None,
    "message_id": None,
    "locked_until": None,
    "caused_by": None,
}


def firm_settings(time_ms: int, _event_id: str, firm: Firm) -> SimulatedRecord:
    """FirmSettings, keyed by firm_id."""
    record: Record = {
        "firm_id": firm.firm_id,
        "updated_at": _at(time_ms / 1000, UTC),
        "updated_by": firm.users[0],
        "sso_enabled": firm.sso_enabled,
        "ssn_verification_allowed": firm.ssn_verification_allowed,
        "automatic_invites_enabled": firm.automatic_invites_enabled,
        "automatic_invite_grace_days": firm.automatic_invite_grace_days,
        "link_expiry_days": firm.link_expiry_days,
        "max_otp_failures": firm.max_otp_failures,
        "otp_lockout_minutes": firm.otp_lockout_minutes,
        "max_access_failures": firm.max_access_failures,
        "signing_reminder_interval_days": firm.signing_reminder_interval_days,
        "voucher_reminder_days_before": firm.voucher_reminder_days_before,
        "invitation_reminder_interval_days": firm.invitation_reminder_interval_days,
    }
    return FIRM_SETTINGS, firm.firm_id, record


def tracking(
    time_ms: int,
    event_id: str,
    case: ReturnCase,
    event_type: str,
    role: str,
    actor: str,
    firm_user: str | None = None,
    detail: str | None = None,
    failure_reason: str | None = None,
    kba_round: int | None = None,
) -> SimulatedRecord:
    """A Client Tracking event, keyed by return_id."""
    record: Record = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": _at(time_ms / 1000, UTC),
        "firm_id": case.firm.firm_id,
        "return_id": case.return_id,
        "recipient_role": role,
        "actor": actor,
        "client_id": case.client_id,
        "firm_user": firm_user,
        "detail": detail,
        "failure_reason": failure_reason,
        "kba_round": kba_round,
        "caused_by": None,
    }
    return TRACKING_EVENT, case.return_id, record


def lifecycle(
    time_ms: int,
    event_id: str,
    case: ReturnCase,
    event_type: str,
    firm_user: str | None = None,
    role: str | None = None,
    signature_required: bool = False,
    voucher_due_dates: tuple[date, ...] = (),
    voucher_due_date: date | None = None,
) -> SimulatedRecord:
    """A ReturnLifecycleEvent, keyed by return_id."""
    record: Record = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": _at(time_ms / 1000, UTC),
        "firm_id": case.firm.firm_id,
        "return_id": case.return_id,
        "client_id": case.client_id,
        "firm_user": firm_user,
        "recipient_role": role,
        "signature_required": signature_required,
        "voucher_due_dates": list(voucher_due_dates),
        "voucher_due_date": voucher_due_date,
    }
    return RETURN_LIFECYCLE_EVENT, case.return_id, record


def client_event(
    time_ms: int,
    event_id: str,
    client: ClientCase,
    event_type: str,
    actor: str,
    facts: Record | None = None,
) -> SimulatedRecord:
    """A ClientEvent keyed by client_id; `facts` sets the fields this event type carries."""
    record = _CLIENT_FIELDS.copy()
    record["event_id"] = event_id
    record["event_type"] = event_type
    record["occurred_at"] = _at(time_ms / 1000, UTC)
    record["firm_id"] = client.firm.firm_id
    record["client_id"] = client.client_id
    record["actor"] = actor
    if facts:
        record.update(facts)
    return CLIENT_EVENT, client.client_id, record


def delivery(
    time_ms: int,
    event_id: str,
    message: Message,
    status: str,
    received_lag_ms: int,
    detail: DeliveryDetail = NO_DETAIL,
    duplicate_of: str | None = None,
) -> SimulatedRecord:
    """A provider's DeliveryEvent keyed by message_id; a duplicate repeats the original's ids."""
    if duplicate_of is not None:
        event_id = duplicate_of
    if message.provider == "TWILIO":
        provider_event_id = f"{message.provider_ref}:{status.lower()}"
    else:
        provider_event_id = "sg" + event_id.replace("-", "")
    bounce_type, classification, machine_open, error_code, reason = detail
    record: Record = {
        "event_id": event_id,
        "provider": message.provider,
        "provider_event_id": provider_event_id,
        "channel": message.channel,
        "status": status,
        "occurred_at": _at(time_ms / 1000, UTC),
        "received_at": _at((time_ms + received_lag_ms) / 1000, UTC),
        "message_id": message.message_id,
        "message_kind": message.kind,
        "firm_id": message.firm_id,
        "return_id": message.return_id,
        "client_id": message.client_id,
        "recipient_role": message.recipient_role,
        "recipient_hash": message.recipient_hash,
        "bounce_type": bounce_type,
        "bounce_classification": classification,
        "machine_open": machine_open,
        "error_code": error_code,
        "reason": reason,
    }
    return DELIVERY_EVENT, message.message_id, record
