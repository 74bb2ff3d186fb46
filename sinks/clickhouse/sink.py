"""Kafka -> ClickHouse: batches per (topic, partition), inserts, then commits offsets."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from ctrack.settings import KafkaSettings, SinkSettings
from schemas import dead_letter, tracking
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.dead_letter import Rejected
from schemas.errors import DeserializationError
from sinks.clickhouse.rows import (
    DEAD_LETTER_COLUMNS,
    DEAD_LETTER_TABLE,
    TRACKING_COLUMNS,
    TRACKING_TABLE,
    dead_letter_row,
    tracking_row,
)

log = structlog.get_logger(__name__)
STAGE = "sinks.clickhouse"


@dataclass
class PartitionBatch:
    """Rows read from one partition since its last flush."""

    first_offset: int
    last_offset: int = -1
    rows: dict[str, list[list[Any]]] = field(default_factory=dict)

    def add(self, table: str, row: list[Any], offset: int) -> None:
        self.rows.setdefault(table, []).append(row)
        self.last_offset = offset


@dataclass
class SinkStats:
    rows_written: dict[str, int] = field(default_factory=dict)
    flushes: int = 0


class ClickHouseSink:
    """At-least-once delivery into tables whose queries see each event once (ReplacingMergeTree)."""

    def __init__(
        self, client: Client, kafka: KafkaSettings, settings: SinkSettings, codec: AvroCodec
    ):
        self.client = client
        self.codec = codec
        self.settings = settings
        self.topics = TopicNames(kafka.topic_prefix)
        self.stats = SinkStats()
        self._schema_of = {
            self.topics.tracking: tracking.SCHEMA_NAME,
            self.topics.dead_letter: dead_letter.SCHEMA_NAME,
        }
        self._batches: dict[tuple[str, int], PartitionBatch] = {}
        self._buffered = 0
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap,
                "group.id": f"{kafka.topic_prefix}-{settings.group_id}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
            }
        )

    def run(self, should_stop: Callable[[], bool]) -> SinkStats:
        """Consume until `should_stop()`; always flushes what it holds and closes the consumer."""
        self._consumer.subscribe(
            [self.topics.tracking, self.topics.dead_letter], on_revoke=self._on_revoke
        )
        last_flush = time.monotonic()
        try:
            while not should_stop():
                for message in self._consumer.consume(num_messages=5000, timeout=0.2):
                    self._accept(message)
                due = time.monotonic() - last_flush >= self.settings.batch_max_seconds
                if self._buffered >= self.settings.batch_max_rows or (due and self._buffered):
                    self.flush()
                    last_flush = time.monotonic()
            self.flush()
        finally:
            self._consumer.close()
        return self.stats

    def flush(self) -> None:
        """Insert every partition's batch, then commit the offsets after it."""
        batches, self._batches, self._buffered = self._batches, {}, 0
        if not batches:
            return
        commits = []
        for (topic, partition), batch in batches.items():
            token = f"{topic}:{partition}:{batch.first_offset}-{batch.last_offset}"
            for table, rows in batch.rows.items():
                self._insert(table, rows, f"{token}:{table}")
            commits.append(TopicPartition(topic, partition, batch.last_offset + 1))
        self._consumer.commit(offsets=commits, asynchronous=False)
        self.stats.flushes += 1

    def _insert(self, table: str, rows: list[list[Any]], token: str) -> None:
        columns = TRACKING_COLUMNS if table == TRACKING_TABLE else DEAD_LETTER_COLUMNS
        self.client.insert(
            table,
            rows,
            column_names=list(columns),
            settings={"insert_deduplication_token": token, "async_insert": 0},
        )
        self.stats.rows_written[table] = self.stats.rows_written.get(table, 0) + len(rows)

    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.error("consume_error", error=str(error))
            return
        topic, partition, offset = _coordinates(message)
        batch = self._batches.setdefault((topic, partition), PartitionBatch(first_offset=offset))
        table, row = self._row(message)
        batch.add(table, row, offset)
        self._buffered += 1

    def _row(self, message: Message) -> tuple[str, list[Any]]:
        """The table and row for a message; anything unreadable becomes a dead-letter row."""
        topic, partition, offset = _coordinates(message)
        payload = message.value() or b""
        try:
            decoded = self.codec.decode(payload)
            expected = self._schema_of.get(topic)
            if decoded.schema_name != expected:
                raise DeserializationError(f"{decoded.schema_name} does not belong on {topic}")
            if expected == tracking.SCHEMA_NAME:
                return TRACKING_TABLE, tracking_row(decoded.record, partition, offset)
            return DEAD_LETTER_TABLE, dead_letter_row(decoded.record)
        except DeserializationError as exc:
            rejected = Rejected(topic, partition, offset, message.key(), payload)
            record = dead_letter.dead_letter_record(
                rejected, stage=STAGE, error=exc, failed_at=datetime.now(UTC)
            )
            log.warning(
                "dead_letter",
                stage=STAGE,
                reason=record["reason"],
                topic=topic,
                partition=partition,
                offset=offset,
            )
            return DEAD_LETTER_TABLE, dead_letter_row(record)

    def _on_revoke(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        self.flush()  # hand partitions over with everything read from them stored and committed


def _coordinates(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed (non-error) message, which always has them."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None  # noqa: S101
    return topic, partition, offset
