"""Benchmark: the ctrack ClickHouse sink against clickhouse-connect inserting pre-decoded rows.

Run: .venv/bin/python bench/sink.py [--records N] [--batch-rows B] [--profile]
Starts a private local broker (port 19892, temporary data dir) and chdb in a temporary dir,
produces N tracking events (pre-encoded, raw confluent-kafka), then measures (a) baseline:
clickhouse-connect inserting the same rows, already decoded, in batches of B rows
(column-oriented, as the sink's Python path does), (b) `ClickHouseSink.run`: consume + decode
+ insert + commit of all N records, from the first record consumed (group join excluded) and
(b') from start, and (c) the same sink with its fast path off (every record decoded in
Python). Prints a table and (b)/(a).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Message, Producer
from rich.console import Console
from rich.table import Table

from ctrack.settings import KafkaSettings, SinkSettings, StackSettings
from ctrack.stack.local_kafka import LocalKafka
from ctrack.topic_admin import ensure_topics
from producers.event_producer import PRODUCER_DEFAULTS
from schemas import tracking
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from sinks.clickhouse.connection import connect
from sinks.clickhouse.decoding import PlainDecoder
from sinks.clickhouse.migrations import migrate
from sinks.clickhouse.sink import ClickHouseSink
from sinks.clickhouse.tables import TRACKING

PORT, CONTROLLER_PORT = 19892, 19893
TYPES = list(tracking.TrackingEventType)[1:]
FILES = [f"{y} {f}.pdf" for y in (2024, 2025) for f in ("Form 1040", "Schedule K-1", "W-2")]


def tracking_payloads(n: int, codec: AvroCodec, topic: str) -> list[tuple[bytes, bytes]]:
    """`n` (key, value) pairs: realistic tracking events over 5,000 returns of 120 firms."""
    rng = random.Random(11)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        number = rng.randrange(5_000)
        event_type = rng.choice(TYPES)
        record: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": event_type.value,
            "occurred_at": start + timedelta(seconds=i * 7),
            "firm_id": f"F-{number % 120:04d}",
            "return_id": f"R-2025-{number:06d}",
            "recipient_role": "TAXPAYER",
            "actor": "CLIENT",
            "client_id": f"C-{number * 3 % 9_000:05d}",
            "detail": rng.choice(FILES) if "DOWNLOAD" in event_type.value else None,
            "failure_reason": "WRONG_SSN" if event_type.value == "AUTHENTICATION_FAILED" else None,
        }
        out.append(
            (record["return_id"].encode(), codec.encode(tracking.SCHEMA_NAME, record, topic=topic))
        )
    return out


def produce(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS})
    for key, value in payloads:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise SystemExit("records not delivered")


def baseline(client: Any, payloads: list[tuple[bytes, bytes]], batch_rows: int) -> float:
    """Seconds for clickhouse-connect to insert the pre-decoded rows in batches."""
    decoder = PlainDecoder(AvroCodec())
    rows = [
        TRACKING.to_row(decoder.decode(value)[1], 0, offset)
        for offset, (_, value) in enumerate(payloads)
    ]
    started = time.perf_counter()
    for first in range(0, len(rows), batch_rows):
        batch = rows[first : first + batch_rows]
        client.insert(
            TRACKING.name,
            list(zip(*batch, strict=True)),
            column_names=TRACKING.columns,
            column_oriented=True,
            settings={"async_insert": 0},
        )
    return time.perf_counter() - started


class _TimedSink(ClickHouseSink):
    first_record_at = 0.0

    def _accept(self, messages: list[Message]) -> None:
        if messages and not self.first_record_at:
            self.first_record_at = time.perf_counter()
        super()._accept(messages)


def sink_run(
    client: Any, kafka: KafkaSettings, n: int, batch_rows: int, fast_path: bool = True
) -> tuple[float, float]:
    """(seconds from the first record consumed, seconds from start) to store all `n`; each
    run reads the topic from the start in its own consumer group."""
    group = f"bench-sink-{uuid.uuid4().hex[:8]}"
    settings = SinkSettings(batch_max_rows=batch_rows, batch_max_seconds=1.0, group_id=group)
    sink = _TimedSink(client, kafka, settings, AvroCodec(), fast_path=fast_path)
    started = time.perf_counter()
    sink.run(lambda: sink.stats.rows_written.get(TRACKING.name, 0) >= n)
    ended = time.perf_counter()
    return ended - sink.first_record_at, ended - started


PATHS = (
    "(a) clickhouse-connect insert, pre-decoded rows",
    "(b) ClickHouseSink: consume + decode + insert + commit",
    "(b') the same, including consumer-group join",
    "(c) ClickHouseSink, fast path off (decoded in Python)",
)


def one_run(
    client: Any,
    kafka: KafkaSettings,
    payloads: list[tuple[bytes, bytes]],
    batch: int,
    profile: bool,
) -> tuple[list[float], int]:
    """Seconds of each path (PATHS order) and the rows the sink's run left visible (FINAL)."""
    n = len(payloads)
    client.command(f"TRUNCATE TABLE {TRACKING.name}")
    base_s = baseline(client, payloads, batch)
    client.command(f"TRUNCATE TABLE {TRACKING.name}")
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    steady_s, total_s = sink_run(client, kafka, n, batch)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    final_count = f"SELECT count() FROM {TRACKING.name} FINAL"  # noqa: S608 - constant
    stored = int(client.query(final_count).result_rows[0][0])
    client.command(f"TRUNCATE TABLE {TRACKING.name}")
    python_s, _ = sink_run(client, kafka, n, batch, fast_path=False)
    return [base_s, steady_s, total_s, python_s], stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--batch-rows", type=int, default=SinkSettings().batch_max_rows)
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of every path")
    parser.add_argument("--profile", action="store_true", help="profile the sink runs")
    args = parser.parse_args()
    console, n = Console(width=140), args.records
    with tempfile.TemporaryDirectory(prefix="ctrack-bench-sink-") as tmp:
        stack = StackSettings(
            data_dir=Path(tmp) / "stack",
            kafka_port=PORT,
            kafka_controller_port=CONTROLLER_PORT,
            kafka_jars_dir=StackSettings().jars_dir,
        )
        broker = LocalKafka(stack)
        broker.up()
        try:
            kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix="bench")
            ensure_topics(broker.bootstrap, TopicNames(kafka.topic_prefix))
            topic = TopicNames(kafka.topic_prefix).tracking
            payloads = tracking_payloads(n, AvroCodec(), topic)
            produce(broker.bootstrap, topic, payloads)
            client = connect(f"chdb://{Path(tmp) / 'chdb'}")
            migrate(client)
            runs, stored = [], []
            for run in range(args.runs):
                seconds, visible = one_run(client, kafka, payloads, args.batch_rows, args.profile)
                runs.append(seconds)
                stored.append(visible)
                console.print(f"run {run + 1}: " + ", ".join(f"{n / s:,.0f}" for s in seconds))
        finally:
            broker.down()
    console.print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report(console, n, args.batch_rows, runs, min(stored))


def report(console: Console, n: int, batch: int, runs: list[list[float]], stored: int) -> None:
    title = f"ClickHouse sink, {n:,} tracking events, batches of {batch:,} rows, {len(runs)} runs"
    table = Table(title=title)
    for column in ("path", "rows/s (best)", "rows/s (median)", "vs (a), best", "vs (a), median"):
        table.add_column(column, justify="left" if column == "path" else "right")
    best = [min(run[i] for run in runs) for i in range(len(PATHS))]
    median = [statistics.median(run[i] for run in runs) for i in range(len(PATHS))]
    for i, name in enumerate(PATHS):
        table.add_row(
            name,
            f"{n / best[i]:,.0f}",
            f"{n / median[i]:,.0f}",
            f"{best[0] / best[i]:.2f}",
            f"{median[0] / median[i]:.2f}",
        )
    console.print(table)
    console.print(
        f"(b)/(a) = {best[0] / best[1]:.2f} best, {median[0] / median[1]:.2f} median;"
        f" rows visible with FINAL after each fast-path run: at least {stored:,} of {n:,}"
    )


if __name__ == "__main__":
    main()
