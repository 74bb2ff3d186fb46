"""Consumed messages -> rows decoded in Python, or dead-letter rows naming what was wrong."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from confluent_kafka import Message

from schemas import dead_letter
from schemas.dead_letter import OVERSIZED_KEPT_BYTES, Rejected
from schemas.errors import DeserializationError, RecordTooLargeError
from sinks.clickhouse.decoding import PlainDecoder, flatten
from sinks.clickhouse.errors import UnexpectedSchemaError
from sinks.clickhouse.routing import Route
from sinks.clickhouse.rows import Row
from sinks.clickhouse.tables import DEAD_LETTERS, Table

log = structlog.get_logger(__name__)
STAGE = "sinks.clickhouse"


@dataclass
class SinkStats:
    """What the sink did: rows stored per table, flushes, dead letters it raised, skips."""

    rows_written: dict[str, int] = field(default_factory=dict)
    flushes: int = 0
    dead_letters: int = 0
    tombstones: int = 0
    fast_rows: int = 0  # rows ClickHouse decoded itself (fast path)
    fallbacks: int = 0  # fast-path inserts refused, then decoded here record by record

    def written(self, table: str, rows: int) -> None:
        self.rows_written[table] = self.rows_written.get(table, 0) + rows


class RecordReader:
    """Decodes messages into their table's rows; counts the dead letters it raises (from the
    consuming and the inserting thread alike). Values over `max_bytes` are dead letters."""

    def __init__(self, decoder: PlainDecoder, stats: SinkStats, max_bytes: int):
        self._decoder = decoder
        self._stats = stats
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def row(
        self, route: Route, message: Message, payload: bytes, *, checked: bool = False
    ) -> tuple[Table, Row]:
        """The table and row for a message; anything unreadable becomes a dead-letter row.
        `checked`: read every logical type (slower; for records ClickHouse refused)."""
        if len(payload) > self.max_bytes:
            kept = min(len(payload), OVERSIZED_KEPT_BYTES)
            error = RecordTooLargeError(len(payload), self.max_bytes, kept)
            return DEAD_LETTERS, self._dead_letter(message, payload[:kept], error)
        topic, partition, offset = coordinates(message)
        decode = self._decoder.decode_checked if checked else self._decoder.decode
        try:
            schema_name, record = decode(payload)
            if schema_name != route.schema_name:
                raise UnexpectedSchemaError(f"{schema_name} does not belong on {topic}")
            return route.table, route.table.to_row(record, partition, offset)
        except DeserializationError as exc:
            return DEAD_LETTERS, self._dead_letter(message, payload, exc)

    def _dead_letter(self, message: Message, payload: bytes, exc: Exception) -> Row:
        topic, partition, offset = coordinates(message)
        rejected = Rejected(topic, partition, offset, message.key(), payload)
        record = dead_letter.dead_letter_record(
            rejected, stage=STAGE, error=exc, failed_at=datetime.now(UTC)
        )
        log.warning(
            "dead_letter", reason=record["reason"], topic=topic, partition=partition, offset=offset
        )
        with self._lock:
            self._stats.dead_letters += 1
        return DEAD_LETTERS.to_row(flatten(record), partition, offset)


def coordinates(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed (non-error) message, which always has them."""
    return message.topic(), message.partition(), message.offset()  # type: ignore[return-value]
