"""Kafka -> ClickHouse: batches per (topic, partition), inserts, then commits offsets.

At-least-once: offsets are committed only after every row read before them is stored, so a
crash re-reads (and re-inserts) at most the uncommitted tail; inserts are retry-safe and rows
stored twice read once (see `writing.py`).

Fast path: values written with a current contract schema are not decoded here; ClickHouse
decodes them (`avro_frames.py`, `avro_loading.py`), one insert per table per flush. Anything
else (older writer schemas, the registry wire format, dead letters) is decoded here into rows.
Values over `KafkaSettings.max_record_bytes` are poison on either path: dead letters, not rows.
A flush's inserts run on a background thread while the next batch is consumed; at most one
flush is in flight, so memory stays bounded: two batches of values and one batch's container.
Its offsets are committed once its inserts are stored (checked at every poll), so an idle sink
has committed everything it stored.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import structlog
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from ctrack.settings import KafkaSettings, SinkSettings
from schemas.avro_writer import write_long
from schemas.codec import AvroCodec
from sinks.clickhouse.batching import Flush, SinkBuffer
from sinks.clickhouse.decoding import PlainDecoder
from sinks.clickhouse.errors import InsertFailed as InsertFailed  # re-exported: callers catch it
from sinks.clickhouse.errors import SinkError as SinkError
from sinks.clickhouse.records import RecordReader, coordinates
from sinks.clickhouse.records import SinkStats as SinkStats
from sinks.clickhouse.routing import routes
from sinks.clickhouse.writing import FlushWriter

log = structlog.get_logger(__name__)
CONSUME_CHUNK = 10_000
INSERT_ATTEMPTS = 5
RETRY_BACKOFF_S = 0.5
_POLL_TIMEOUT_S = 0.2


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
        fast_path: bool = True,
    ):
        """`insert_attempts` tries per insert, `retry_backoff_s` doubling between them;
        `consumer_overrides`: librdkafka properties (tests, tuning); `fast_path=False`
        decodes every record here (benchmarks compare the two)."""
        self.client = client
        self.settings = settings
        self.stats = SinkStats()
        decoder = PlainDecoder(codec)
        self._routes = routes(kafka.topic_prefix, decoder, fast_path)
        self._reader = RecordReader(decoder, self.stats, kafka.max_record_bytes)
        framed = {r.table.name: r for r in self._routes.values() if r.frames is not None}
        self._writer = FlushWriter(
            client,
            framed,
            lambda route, message: self._reader.row(
                route, message, message.value() or b"", checked=True
            ),
            self.stats,
            attempts=insert_attempts,
            backoff_s=retry_backoff_s,
        )
        self._buffer = SinkBuffer(settings.batch_max_rows)
        self._failed = False
        self._inserter = ThreadPoolExecutor(1, thread_name_prefix="ctrack-sink-insert")
        self._in_flight: tuple[Future[None], list[TopicPartition]] | None = None
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap,
                "group.id": f"{kafka.topic_prefix}-{settings.group_id}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                # bound what librdkafka prefetches too: our buffer is not the only memory
                "queued.max.messages.kbytes": 64 * 1024,
                # large fetches: at the 1 MB default, fetching bounds the sink (~140k vs ~245k
                # records/s measured); the prefetch bound above still holds
                "max.partition.fetch.bytes": 8 * 1024 * 1024,
                "fetch.max.bytes": 64 * 1024 * 1024,
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
                self._accept(self._consumer.consume(num_messages=chunk, timeout=_POLL_TIMEOUT_S))
                if self._buffer.due(self.settings.batch_max_seconds):
                    self._flush_in_background()
                elif self._in_flight is not None and self._in_flight[0].done():
                    # commit as soon as the insert is stored, not at the next flush: an idle
                    # sink would hold its last batch's offsets (lag never 0, re-read on restart)
                    self._settle()
            self.flush()
        except BaseException:
            self._failed = True  # closing must not flush (or commit) past a failure
            raise
        finally:
            try:
                self._consumer.close()
            finally:
                self._inserter.shutdown(wait=True)
        return self.stats

    def flush(self) -> None:
        """Insert everything read so far, then commit the offsets after it."""
        self._settle()
        flush = self._buffer.take()
        if flush.batches:
            self._writer.write(self._writer.prepare(flush))
            self._committed(_offsets(flush))

    def _flush_in_background(self) -> None:
        """Start inserting the buffer on the inserter thread, once the previous flush is
        stored and committed; its offsets are committed by the next `_settle`."""
        self._settle()
        flush = self._buffer.take()
        if flush.batches:
            writes = self._writer.prepare(flush)
            self._in_flight = (self._inserter.submit(self._writer.write, writes), _offsets(flush))

    def _settle(self) -> None:
        """Wait for the flush in flight, if any, and commit its offsets; raises its error."""
        if self._in_flight is None:
            return
        future, offsets = self._in_flight
        self._in_flight = None
        future.result()
        self._committed(offsets)

    def _committed(self, offsets: list[TopicPartition]) -> None:
        self._commit(offsets)
        self.stats.flushes += 1

    def _commit(self, offsets: list[TopicPartition]) -> None:
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # e.g. a rebalance took the partitions: their new owner re-reads from the last
            # commit and the rows stored twice read once (ReplacingMergeTree + FINAL)
            log.warning("commit_failed", error=str(exc))

    def _accept(self, messages: list[Message]) -> None:
        """Buffer consumed messages: values with a fast-path header as they are, the rest
        decoded into rows (or dead letters).

        The sink's hot loop (about a microsecond a record): consecutive messages mostly share
        a partition, so its batch and frames are looked up once per run of them.
        """
        buffer, routes, reader = self._buffer, self._routes, self._reader
        max_bytes = reader.max_bytes  # larger values are dead letters, never framed
        topic, partition = "", -1
        accepted = 0
        for message in messages:
            if message.error() is not None:
                self._consume_error(message)
                continue
            offset: int = message.offset()  # type: ignore[assignment]  # consumed: has one
            if message.partition() != partition or message.topic() != topic:
                topic, partition, offset = coordinates(message)
                route = routes[topic]
                batch = buffer.batch(topic, partition, offset)
                header = route.frames.header if route.frames is not None else None
                frames = batch.frames_of(route.table.name) if header is not None else None
            payload = message.value()
            if (
                frames is not None
                and payload is not None
                and len(payload) <= max_bytes
                and payload.startswith(header)  # type: ignore[arg-type]
            ):
                frames.parts += (
                    payload,
                    frames.partition_suffix,
                    write_long(offset),
                    frames.mark_suffix,
                )
                frames.messages.append(message)
            elif payload is None and route.compacted:  # a tombstone deletes a key: not stored
                self.stats.tombstones += 1
            else:
                table, row = reader.row(route, message, payload or b"")
                batch.add_row(table.name, row)
            batch.last_offset = offset
            batch.records += 1
            accepted += 1
        buffer.grew(accepted)

    @staticmethod
    def _consume_error(message: Message) -> None:
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            log.error("consume_error", error=str(error))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # hand partitions over with everything read from them stored and committed
        if partitions and not self._failed:
            self.flush()

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # another consumer owns them already: committing would fail; it re-reads the rows
        dropped = self._buffer.drop((tp.topic, tp.partition) for tp in partitions)
        log.warning("partitions_lost", partitions=len(partitions), dropped=dropped)


def _offsets(flush: Flush) -> list[TopicPartition]:
    """The offsets to commit once a flush is stored: after the last record of each batch."""
    return [
        TopicPartition(topic, partition, batch.last_offset + 1)
        for (topic, partition), batch in flush.batches.items()
    ]
