"""The sink's routing: each schema's ClickHouse table, its columns and its row converter.

Column order matches the converters in `rows.py`; the DDL lives in `migrations.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas import catalogue
from sinks.clickhouse.rows import (
    CLIENT_EVENT_OPTIONAL,
    CLIENT_EVENT_OPTIONAL_2,
    FIRM_SETTINGS_FIELDS,
    KAFKA_COLUMNS,
    Record,
    Row,
    alert_row,
    client_event_row,
    client_status_row,
    dead_letter_row,
    delivery_row,
    firm_settings_row,
    notification_row,
    return_lifecycle_row,
    tracking_row,
    trigger_row,
)


@dataclass(frozen=True)
class Table:
    """A ClickHouse table fed by one schema: its name, columns and row converter."""

    name: str
    columns: tuple[str, ...]
    to_row: Callable[[Record, int, int], Row]  # (record, partition, offset) -> row


TRACKING = Table(
    "tracking_events",
    (
        "event_id",
        "event_type",
        "occurred_at",
        "firm_id",
        "return_id",
        "recipient_role",
        "actor",
        "client_id",
        "firm_user",
        "detail",
        "failure_reason",
        "kba_round",
        "caused_by",
        *KAFKA_COLUMNS,
    ),
    tracking_row,
)
RETURN_LIFECYCLE = Table(
    "return_lifecycle_events",
    (
        "event_id",
        "event_type",
        "occurred_at",
        "firm_id",
        "return_id",
        "client_id",
        "firm_user",
        "recipient_role",
        "signature_required",
        "voucher_due_dates",
        "voucher_due_date",
        *KAFKA_COLUMNS,
    ),
    return_lifecycle_row,
)
CLIENT_EVENTS = Table(
    "client_events",
    (
        "event_id",
        "event_type",
        "occurred_at",
        "firm_id",
        "client_id",
        "actor",
        *CLIENT_EVENT_OPTIONAL,
        "link_expires_at",
        *CLIENT_EVENT_OPTIONAL_2,
        "locked_until",
        "caused_by",
        *KAFKA_COLUMNS,
    ),
    client_event_row,
)
CLIENT_STATUS = Table(
    "client_status",
    (
        "client_id",
        "firm_id",
        "status",
        "identity_verified",
        "verification_method",
        "origin",
        "has_email",
        "active_link_id",
        "active_link_expires_at",
        "login_locked_until",
        "updated_at",
        "caused_by",
        *KAFKA_COLUMNS,
    ),
    client_status_row,
)
DELIVERY = Table(
    "delivery_events",
    (
        "event_id",
        "provider",
        "provider_event_id",
        "channel",
        "status",
        "occurred_at",
        "received_at",
        "message_id",
        "message_kind",
        "firm_id",
        "return_id",
        "client_id",
        "recipient_role",
        "recipient_hash",
        "bounce_type",
        "bounce_classification",
        "machine_open",
        "error_code",
        "reason",
        *KAFKA_COLUMNS,
    ),
    delivery_row,
)
NOTIFICATIONS = Table(
    "notifications_requested",
    (
        "notification_id",
        "requested_at",
        "channel",
        "message_kind",
        "firm_id",
        "client_id",
        "return_id",
        "recipient_role",
        "link_id",
        "secret_ref",
        "caused_by",
        *KAFKA_COLUMNS,
    ),
    notification_row,
)
TRIGGERS = Table(
    "triggers_fired",
    (
        "trigger_id",
        "idempotency_key",
        "kind",
        "firm_id",
        "subject_id",
        "due_at",
        "fired_at",
        "detail",
        *KAFKA_COLUMNS,
    ),
    trigger_row,
)
ALERTS = Table(
    "firm_alerts",
    (
        "alert_id",
        "raised_at",
        "kind",
        "firm_id",
        "return_id",
        "client_id",
        "recipient_role",
        "message_id",
        "summary",
        "caused_by",
        *KAFKA_COLUMNS,
    ),
    alert_row,
)
FIRM_SETTINGS = Table("firm_settings", (*FIRM_SETTINGS_FIELDS, *KAFKA_COLUMNS), firm_settings_row)
DEAD_LETTERS = Table(
    "dead_letters",
    (
        "dead_letter_id",
        "failed_at",
        "stage",
        "error_type",
        "reason",
        "source_topic",
        "source_partition",
        "source_offset",
        "source_key",
        "payload",
    ),
    dead_letter_row,
)

# The routing of the sink: every schema with a table. Topics carrying any other schema
# (the internal clock) are not consumed.
TABLE_OF_SCHEMA: dict[str, Table] = {
    catalogue.TRACKING_EVENT: TRACKING,
    catalogue.RETURN_LIFECYCLE_EVENT: RETURN_LIFECYCLE,
    catalogue.CLIENT_EVENT: CLIENT_EVENTS,
    catalogue.CLIENT_STATUS: CLIENT_STATUS,
    catalogue.DELIVERY_EVENT: DELIVERY,
    catalogue.NOTIFICATION_REQUESTED: NOTIFICATIONS,
    catalogue.TRIGGER_FIRED: TRIGGERS,
    catalogue.FIRM_ALERT: ALERTS,
    catalogue.FIRM_SETTINGS: FIRM_SETTINGS,
    catalogue.DEAD_LETTER: DEAD_LETTERS,
}
