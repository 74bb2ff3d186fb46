"""Decoded Avro records -> ClickHouse rows (column order matches the migrations)."""

from __future__ import annotations

from typing import Any

TRACKING_TABLE = "tracking_events"
TRACKING_COLUMNS = (
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
    "kafka_partition",
    "kafka_offset",
)
DEAD_LETTER_TABLE = "dead_letters"
DEAD_LETTER_COLUMNS = (
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
)


def tracking_row(record: dict[str, Any], partition: int, offset: int) -> list[Any]:
    """A tracking_events row; optional strings become '' so columns stay non-nullable."""
    return [
        record["event_id"],
        record["event_type"],
        record["occurred_at"],
        record["firm_id"],
        record["return_id"],
        record["recipient_role"],
        record["actor"],
        record.get("client_id") or "",
        record.get("firm_user") or "",
        record.get("detail") or "",
        record.get("failure_reason") or "",
        record.get("kba_round") or 0,
        record.get("caused_by"),
        partition,
        offset,
    ]


def dead_letter_row(record: dict[str, Any]) -> list[Any]:
    """A dead_letters row; key and payload are kept byte for byte."""
    return [
        record["dead_letter_id"],
        record["failed_at"],
        record["stage"],
        record["error_type"],
        record["reason"],
        record["source_topic"],
        record["source_partition"],
        record["source_offset"],
        record.get("source_key") or b"",
        record["payload"],
    ]
