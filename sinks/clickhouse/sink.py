"""Kafka -> ClickHouse: batches per (topic, partition), inserts, then commits offsets.

At-least-once: offsets are committed only after every row read before them is stored, so a
crash re-reads (and re-inserts) at most the uncommitted tail. Each insert carries a token
naming its offset range, so a retried insert is dropped by ClickHouse; rows stored twice
anyway (a crash between insert and commit) collapse in the ReplacingMergeTree tables and
read once with FINAL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from ctrack.settings import KafkaSettings, SinkSettings
from schemas import dead_letter
from schemas.catalogue import ALL_TOPICS, TopicNames
from schemas.codec import AvroCodec
from schemas.dead_letter import Rejected
from schemas.errors import DeserializationError
from sinks.clickhouse.batching import PartitionBatch, SinkBuffer, TopicPartitionKey
from sinks.clickhouse.decoding import PlainDecoder, flatten
from sinks.clickhouse.rows import Row
from sinks.clickhouse.tables import DEAD_LETTERS, TABLE_OF_SCHEMA, Table

log = structlog.get_logger(__name__)
STAGE = "sinks.clickhouse"
CONSUME_CHUNK = 5000
INSERT_ATTEMPTS = 5
RETRY_BACKOFF_S = 0.5
_POLL_TIMEOUT_S = 0.2


class SinkError(Exception):
    """Root of the sink's errors."""


class InsertFailed(SinkError):
    """An insert still failed after the bounded retries; nothing after the last commit is
    acknowledged, so a restarted sink reads it again."""


class UnexpectedSchemaError(DeserializationError):
    """A record decoded fine but its schema is not the one its topic carries."""


@dataclass
class SinkStats:
    """What the sink did: rows stored per table, flushes, dead letters it raised, skips."""

    rows_written: dict[str, int] = field(default_factory=dict)
    flushes: int = 0
    dead_letters: int = 0
    tombstones: int = 0


@dataclass(frozen=True)
class _Route:
    """Where one topic's records go: the schema they must have and its table."""

    schema_name: str
    table: Table
    compacted: bool


class ClickHouseSink:
    """Stores every catalogue topic (except the internal clock) in its ClickHouse table."""

    def __init__(
        self,
        client: Client,
        kafka: KafkaSettings,
        settings: SinkSettings,
        codec: AvroCodec,
        *,
        insert_attempts: int = INSERT_ATTEMPTS,
        retry_backoff_s: float = RETRY_BACKOFF_S,
        consumer_overrides: dict[str, Any] | None = None,
    ):
        """`insert_attempts` tries per insert, `retry_backoff_s` doubling between them;
        `consumer_overrides`: librdkafka properties (tests, tuning)."""
        self.client = client
        self.settings = settings
        self.stats = SinkStats()
        self.insert_attempts = insert_attempts
        self.retry_backoff_s = retry_backoff_s
        self._decoder = PlainDecoder(codec)
        self._tables = {table.name: table for table in TABLE_OF_SCHEMA.values()}
        names = TopicNames(kafka.topic_prefix)
        self._routes = {
            names.of(spec): _Route(
                spec.value_schema,
                TABLE_OF_SCHEMA[spec.value_schema],
                spec.cleanup_policy == "compact",
            )
            for spec in ALL_TOPICS
            if spec.value_schema in TABLE_OF_SCHEMA
        }
        self._buffer = SinkBuffer(settings.batch_max_rows)
        self._failed = False
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap,
                "group.id": f"{kafka.topic_prefix}-{settings.group_id}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                # bound what librdkafka prefetches too: our buffer is not the only memory
                "queued.max.messages.kbytes": 64 * 1024,
                **(consumer_overrides or {}),
            }
        )

    @property
    def topics(self) -> list[str]:
        """The topics the sink consumes."""
        return sorted(self._routes)

    def run(self, should_stop: Callable[[], bool]) -> SinkStats:
        """Consume until `should_stop()`, then flush what it holds; always closes the consumer.

        Raises `InsertFailed` when ClickHouse refuses a batch after the retries (nothing of it
        is committed).
        """
        self._consumer.subscribe(self.topics, on_revoke=self._on_revoke, on_lost=self._on_lost)
        try:
            while not should_stop():
                # never read more than fits: a slow ClickHouse slows consumption (backpressure)
                chunk = min(CONSUME_CHUNK, self._buffer.room)
                for message in self._consumer.consume(num_messages=chunk, timeout=_POLL_TIMEOUT_S):
                    self._accept(message)
                if self._buffer.due(self.settings.batch_max_seconds):
                    self.flush()
            self.flush()
        except BaseException:
            self._failed = True  # closing must not flush (or commit) past a failure
            raise
        finally:
            self._consumer.close()
        return self.stats

    def flush(self) -> None:
        """Insert every partition's batch, then commit the offsets after it."""
        batches = self._buffer.take()
        try:
            if batches:
                self._commit(self._write(batches))
                self.stats.flushes += 1
        finally:
            batches.clear()

    def _write(self, batches: dict[TopicPartitionKey, PartitionBatch]) -> list[TopicPartition]:
        """Insert each batch's rows table by table; the offsets to commit once all are stored."""
        commits = []
        for (topic, partition), batch in batches.items():
            for table_name, rows in batch.rows.items():
                token = batch.dedup_token(topic, partition, table_name)
                self._insert(self._tables[table_name], rows, token)
            commits.append(TopicPartition(topic, partition, batch.last_offset + 1))
        return commits

    def _commit(self, offsets: list[TopicPartition]) -> None:
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # e.g. a rebalance took the partitions: their new owner re-reads from the last
            # commit and the rows stored twice read once (ReplacingMergeTree + FINAL)
            log.warning("commit_failed", error=str(exc))

    def _insert(self, table: Table, rows: list[Row], token: str) -> None:
        columns = list(zip(*rows, strict=True))
        for attempt in range(1, self.insert_attempts + 1):
            try:
                self.client.insert(
                    table.name,
                    columns,
                    column_names=table.columns,
                    column_oriented=True,
                    settings={"insert_deduplication_token": token, "async_insert": 0},
                )
                break
            except Exception as exc:  # noqa: BLE001 - any failed write is retried, then raised
                if attempt == self.insert_attempts:
                    raise InsertFailed(
                        f"{table.name}: insert of {len(rows)} rows failed {attempt} times: {exc}"
                    ) from exc
                delay = self.retry_backoff_s * 2 ** (attempt - 1)
                log.warning("insert_retry", table=table.name, attempt=attempt, error=str(exc))
                time.sleep(delay)
        written = self.stats.rows_written
        written[table.name] = written.get(table.name, 0) + len(rows)

    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.error("consume_error", error=str(error))
            return
        topic, partition, offset = _coordinates(message)
        route = self._routes[topic]
        payload = message.value()
        if payload is None and route.compacted:  # a tombstone deletes a key: nothing to store
            self.stats.tombstones += 1
            self._buffer.add(topic, partition, offset, None, ())
            return
        table, row = self._row(route, message, payload or b"")
        self._buffer.add(topic, partition, offset, table.name, row)

    def _row(self, route: _Route, message: Message, payload: bytes) -> tuple[Table, Row]:
        """The table and row for a message; anything unreadable becomes a dead-letter row."""
        topic, partition, offset = _coordinates(message)
        try:
            schema_name, record = self._decoder.decode(payload)
            if schema_name != route.schema_name:
                raise UnexpectedSchemaError(f"{schema_name} does not belong on {topic}")
            return route.table, route.table.to_row(record, partition, offset)
        except DeserializationError as exc:
            return DEAD_LETTERS, self._dead_letter(message, payload, exc)

    def _dead_letter(self, message: Message, payload: bytes, exc: Exception) -> Row:
        topic, partition, offset = _coordinates(message)
        rejected = Rejected(topic, partition, offset, message.key(), payload)
        record = dead_letter.dead_letter_record(
            rejected, stage=STAGE, error=exc, failed_at=datetime.now(UTC)
        )
        log.warning(
            "dead_letter", reason=record["reason"], topic=topic, partition=partition, offset=offset
        )
        self.stats.dead_letters += 1
        return DEAD_LETTERS.to_row(flatten(record), partition, offset)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # hand partitions over with everything read from them stored and committed
        if partitions and not self._failed:
            self.flush()

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # another consumer owns them already: committing would fail; it re-reads the rows
        dropped = self._buffer.drop((tp.topic, tp.partition) for tp in partitions)
        log.warning("partitions_lost", partitions=len(partitions), dropped=dropped)


def _coordinates(message: Message) -> tuple[str, int, int]:
    """Topic, partition and offset of a consumed (non-error) message, which always has them."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None  # noqa: S101
    return topic, partition, offset
