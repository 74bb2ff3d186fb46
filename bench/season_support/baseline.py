"""Baseline: one plain confluent-kafka loop that consumes, decodes, applies the same pure rules
(`SeasonFold`, state in dicts) and inserts every record and every output into ClickHouse,
committing offsets after each insert. No faust, no second hop through Kafka.

Run as `python -m season_support.baseline SUMMARY.json` with KAFKA_BOOTSTRAP_SERVERS,
CTRACK_TOPIC_PREFIX and CLICKHOUSE_DSN set; SIGTERM flushes, writes the summary and exits.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Message, TopicPartition

from ctrack.logs import configure_logging
from ctrack.runtime import process_codec
from ctrack.settings import ClickHouseSettings, KafkaSettings
from schemas import dead_letter
from schemas.catalogue import (
    CLIENT_EVENTS,
    CLOCK,
    DELIVERY,
    FIRM_SETTINGS_TOPIC,
    RETURN_LIFECYCLE,
    TICK,
    TRACKING,
    TopicNames,
)
from schemas.codec import AvroCodec
from schemas.errors import DeserializationError
from season_support.fold import DEAD_LETTER, Output, SeasonFold
from season_support.states import fold_rows, fold_summary
from sinks.clickhouse.connection import connect
from sinks.clickhouse.decoding import flatten
from sinks.clickhouse.migrations import migrate
from sinks.clickhouse.rows import Row
from sinks.clickhouse.tables import DEAD_LETTERS, TABLE_OF_SCHEMA, Table
from streams.errors import IllegalTransitionError

INPUTS = (FIRM_SETTINGS_TOPIC, CLIENT_EVENTS, TRACKING, RETURN_LIFECYCLE, DELIVERY, CLOCK)
GROUP = "baseline"
FLUSH_ROWS, FLUSH_SECONDS = 50_000, 1.0
STAGE = "baseline"


class Baseline:
    """Consume -> decode -> rules -> rows; insert and commit once a second or 50k rows."""

    def __init__(self, kafka: KafkaSettings, client: Client, codec: AvroCodec):
        self.names = TopicNames(kafka.topic_prefix)
        self.client, self.codec = client, codec
        self.fold = SeasonFold()
        self.rows: dict[str, list[Row]] = defaultdict(list)
        self.pending = 0
        self.offsets: dict[tuple[str, int], int] = {}
        self.consumed = 0
        self.last_tick: datetime | None = None
        self.config = {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"{kafka.topic_prefix}-{GROUP}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
        self.consumer = Consumer(self.config)
        self.tables = {table.name: table for table in TABLE_OF_SCHEMA.values()}

    def run(self, should_stop: Any) -> None:
        self.load_firm_settings()
        self.consumer.subscribe([self.names.of(spec) for spec in INPUTS])
        last_flush = time.monotonic()
        try:
            while not should_stop():
                for message in self.consumer.consume(num_messages=5000, timeout=0.2):
                    if message.error() is None:
                        self.accept(message)
                if self.pending >= FLUSH_ROWS or time.monotonic() - last_flush >= FLUSH_SECONDS:
                    self.flush()
                    last_flush = time.monotonic()
            self.flush()
        finally:
            self.consumer.close()

    def load_firm_settings(self) -> None:
        """Every firm's settings before any other record, as the worker's global table is
        restored before its agents start (otherwise rules would run on default settings)."""
        topic = self.names.of(FIRM_SETTINGS_TOPIC)
        reader = Consumer({**self.config, "group.id": f"{self.config['group.id']}-settings"})
        try:
            ends = {}
            for partition in range(FIRM_SETTINGS_TOPIC.partitions):
                _low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), 10)
                ends[partition] = high
            reader.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end])
            read = dict.fromkeys(ends, 0)
            while any(read[p] < ends[p] for p in ends):
                for message in reader.consume(num_messages=1000, timeout=1.0):
                    if message.error() is None:
                        read[message.partition() or 0] = (message.offset() or 0) + 1
                        decoded = self.codec.decode(message.value() or b"")
                        self.fold.apply(decoded.schema_name, decoded.record)
        finally:
            reader.close()

    def accept(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None  # noqa: S101
        self.consumed += 1
        self.offsets[(topic, partition)] = offset
        payload = message.value() or b""
        try:
            decoded = self.codec.decode(payload)
        except DeserializationError as exc:
            self.add_dead_letter(message, STAGE, exc)
            return
        if decoded.schema_name == TICK:
            # one tick per clock partition: the worker pops each partition's timers once per
            # tick; one wheel here, so a repeated tick would fire follow-up timers again
            now = decoded.record["now"]
            outputs = self.fold.tick(now) if now != self.last_tick else []
            self.last_tick = now
        else:
            table = TABLE_OF_SCHEMA[decoded.schema_name]
            self.add(table, table.to_row(flatten(decoded.record), partition, offset))
            outputs = self.fold.apply(decoded.schema_name, decoded.record)
        for output in outputs:
            self.add_output(output, message)

    def add_output(self, output: Output, cause: Message) -> None:
        schema_name, _key, record = output
        if schema_name == DEAD_LETTER:
            error = IllegalTransitionError(record["reason"])
            self.add_dead_letter(cause, record["stage"], error)
            return
        table = TABLE_OF_SCHEMA[schema_name]
        partition, offset = cause.partition() or 0, cause.offset() or 0
        self.add(table, table.to_row(flatten(record), partition, offset))

    def add_dead_letter(self, message: Message, stage: str, error: BaseException) -> None:
        rejected = dead_letter.Rejected(
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
            message.key(),
            message.value() or b"",
        )
        record = dead_letter.dead_letter_record(
            rejected, stage=stage, error=error, failed_at=datetime.now(UTC)
        )
        self.add(DEAD_LETTERS, DEAD_LETTERS.to_row(flatten(record), 0, 0))

    def add(self, table: Table, row: Row) -> None:
        self.rows[table.name].append(row)
        self.pending += 1

    def flush(self) -> None:
        for name, rows in self.rows.items():
            if rows:
                table = self.tables[name]
                self.client.insert(
                    name,
                    list(zip(*rows, strict=True)),
                    column_names=table.columns,
                    column_oriented=True,
                    settings={"async_insert": 0},
                )
        self.rows.clear()
        self.pending = 0
        if self.offsets:
            commits = [TopicPartition(t, p, o + 1) for (t, p), o in self.offsets.items()]
            self.consumer.commit(offsets=commits, asynchronous=False)
            self.offsets.clear()


def main() -> None:
    configure_logging("WARNING")
    summary_path = Path(sys.argv[1])
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    client = connect(ClickHouseSettings().resolved_dsn)
    migrate(client)
    baseline = Baseline(KafkaSettings(), client, process_codec())
    baseline.run(stop.is_set)
    summary = {"consumed": baseline.consumed, **fold_summary(baseline.fold)}
    summary_path.write_text(json.dumps(summary, indent=1, default=str))
    # its final state, row by row, for the reconciliation to compare with the expectation
    states = summary_path.with_name("states.json")
    states.write_text(json.dumps(fold_rows(baseline.fold), default=str))


if __name__ == "__main__":
    main()
