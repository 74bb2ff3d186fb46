"""Decoded Avro records -> ClickHouse rows, one converter per event family.

Rows are tuples in the column order of `tables.Table.columns` (inserted column-oriented).
Records arrive "plain" (see `decoding.py`): timestamps as epoch milliseconds, dates as days
since the epoch, UUIDs as strings. Optional strings become '' and optional enums '' so those
columns stay non-nullable; optional timestamps and UUIDs stay NULL.
"""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]
Row = tuple[Any, ...]
KAFKA_COLUMNS = ("kafka_partition", "kafka_offset")


def tracking_row(r: Record, partition: int, offset: int) -> Row:
    """A tracking_events row."""
    return (
        r["event_id"],
        r["event_type"],
        r["occurred_at"],
        r["firm_id"],
        r["return_id"],
        r["recipient_role"],
        r["actor"],
        r["client_id"] or "",
        r["firm_user"] or "",
        r["detail"] or "",
        r["failure_reason"] or "",
        r["kba_round"] or 0,
        r["caused_by"],
        partition,
        offset,
    )


def return_lifecycle_row(r: Record, partition: int, offset: int) -> Row:
    """A return_lifecycle_events row."""
    return (
        r["event_id"],
        r["event_type"],
        r["occurred_at"],
        r["firm_id"],
        r["return_id"],
        r["client_id"] or "",
        r["firm_user"] or "",
        r["recipient_role"] or "",
        r["signature_required"],
        r["voucher_due_dates"],
        r["voucher_due_date"],
        partition,
        offset,
    )


CLIENT_EVENT_OPTIONAL = (
    "firm_user",
    "origin",
    "email_hash",
    "email_masked",
    "phone_hash",
    "phone_masked",
    "get_request_kind",
    "request_id",
    "invite_trigger",
    "link_id",
)
CLIENT_EVENT_OPTIONAL_2 = (
    "superseded_by",
    "verification_method",
    "failure_reason",
    "status_from",
    "status_to",
    "message_id",
)


def client_event_row(r: Record, partition: int, offset: int) -> Row:
    """A client_events row."""
    return (
        r["event_id"],
        r["event_type"],
        r["occurred_at"],
        r["firm_id"],
        r["client_id"],
        r["actor"],
        *(r[name] or "" for name in CLIENT_EVENT_OPTIONAL),
        r["link_expires_at"],
        *(r[name] or "" for name in CLIENT_EVENT_OPTIONAL_2),
        r["locked_until"],
        r["caused_by"],
        partition,
        offset,
    )


def client_status_row(r: Record, partition: int, offset: int) -> Row:
    """A client_status row (latest per client wins, by updated_at)."""
    return (
        r["client_id"],
        r["firm_id"],
        r["status"],
        r["identity_verified"],
        r["verification_method"] or "",
        r["origin"] or "",
        r["has_email"],
        r["active_link_id"] or "",
        r["active_link_expires_at"],
        r["login_locked_until"],
        r["updated_at"],
        r["caused_by"],
        partition,
        offset,
    )


def delivery_row(r: Record, partition: int, offset: int) -> Row:
    """A delivery_events row."""
    return (
        r["event_id"],
        r["provider"],
        r["provider_event_id"],
        r["channel"],
        r["status"],
        r["occurred_at"],
        r["received_at"],
        r["message_id"],
        r["message_kind"],
        r["firm_id"],
        r["return_id"] or "",
        r["client_id"] or "",
        r["recipient_role"] or "",
        r["recipient_hash"] or "",
        r["bounce_type"] or "",
        r["bounce_classification"] or "",
        r["machine_open"],
        r["error_code"] or "",
        r["reason"] or "",
        partition,
        offset,
    )


def notification_row(r: Record, partition: int, offset: int) -> Row:
    """A notifications_requested row."""
    return (
        r["notification_id"],
        r["requested_at"],
        r["channel"],
        r["message_kind"],
        r["firm_id"],
        r["client_id"] or "",
        r["return_id"] or "",
        r["recipient_role"] or "",
        r["link_id"] or "",
        r["secret_ref"] or "",
        r["caused_by"],
        partition,
        offset,
    )


def trigger_row(r: Record, partition: int, offset: int) -> Row:
    """A triggers_fired row."""
    return (
        r["trigger_id"],
        r["idempotency_key"],
        r["kind"],
        r["firm_id"],
        r["subject_id"],
        r["due_at"],
        r["fired_at"],
        r["detail"] or "",
        partition,
        offset,
    )


def alert_row(r: Record, partition: int, offset: int) -> Row:
    """A firm_alerts row."""
    return (
        r["alert_id"],
        r["raised_at"],
        r["kind"],
        r["firm_id"],
        r["return_id"] or "",
        r["client_id"] or "",
        r["recipient_role"] or "",
        r["message_id"] or "",
        r["summary"],
        r["caused_by"],
        partition,
        offset,
    )


FIRM_SETTINGS_FIELDS = (
    "firm_id",
    "updated_at",
    "updated_by",
    "sso_enabled",
    "ssn_verification_allowed",
    "automatic_invites_enabled",
    "automatic_invite_grace_days",
    "link_expiry_days",
    "max_otp_failures",
    "otp_lockout_minutes",
    "max_access_failures",
    "signing_reminder_interval_days",
    "voucher_reminder_days_before",
    "invitation_reminder_interval_days",
)


def firm_settings_row(r: Record, partition: int, offset: int) -> Row:
    """A firm_settings row (latest per firm wins, by updated_at)."""
    values = [r[name] for name in FIRM_SETTINGS_FIELDS]
    values[2] = values[2] or ""  # updated_by
    return (*values, partition, offset)


def dead_letter_row(r: Record, partition: int, offset: int) -> Row:
    """A dead_letters row; key and payload are kept byte for byte (partition/offset unused:
    a dead letter carries the coordinates of the record it rejected)."""
    return (
        r["dead_letter_id"],
        r["failed_at"],
        r["stage"],
        r["error_type"],
        r["reason"],
        r["source_topic"],
        r["source_partition"],
        r["source_offset"],
        r["source_key"] or b"",
        r["payload"],
    )
