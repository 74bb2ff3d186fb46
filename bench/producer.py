"""Benchmark: the ctrack producer path against Avro encoding alone, for the same N records.

Run: .venv/bin/python bench/producer.py [--records N] [--repeat R] [--profile]
Starts a private local broker (port 19692, temporary data dir), measures, stops it. For the
same N realistic TrackingEvent records it times (a) fastavro encoding alone (`schemaless_writer`
behind the single-object header: what `AvroCodec.encode` did before its compiled writers),
(a') `AvroCodec.encode` as it is now, (b) raw confluent-kafka producing the pre-encoded bytes
with the same producer config, including the final flush, and (c) `EventProducer.send_record`
end to end (key check, PII guard, encoding, produce, flush, delivery reports counted). Each
path runs R times, interleaved; prints best and median rates, the ratio of (c) to (a) (the
goal) and to (a'), and the load average before and after.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from fastavro import schemaless_writer
from rich.console import Console
from rich.table import Table

from ctrack.settings import KafkaSettings, StackSettings
from ctrack.stack.local_kafka import LocalKafka
from ctrack.topic_admin import ensure_topics
from producers.event_producer import PRODUCER_DEFAULTS, EventProducer
from schemas import tracking
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import Actor, AuthFailureReason, RecipientRole, TrackingEvent

PORT = 19692
T = tracking.TrackingEventType
FILE_NAMES = [
    f"{year} {form}{suffix}.pdf"
    for year in (2023, 2024, 2025)
    for form in ("Form 1040", "Form 1065", "Form 1120-S", "Schedule K-1", "W-2", "1099-DIV")
    for suffix in ("", " (signed)", " - amended", " copy")
]
PARTNERS = [f"{name} Partners LLC" for name in ("Oak", "Birch", "Cedar", "Elm", "Maple", "Pine")]
Record = dict[str, Any]
FASTAVRO = "(a) encode only: fastavro schemaless_writer"
ENCODE = "(a') encode only: AvroCodec.encode (compiled)"
RAW = "(b) confluent-kafka, pre-encoded bytes"
CTRACK = "(c) EventProducer.send_record"


def realistic_records(n: int, returns: int = 5_000, seed: int = 7) -> list[tuple[str, Record]]:
    """`n` (return_id, record) pairs: every event type, 1000s of returns, varied file names."""
    rng = random.Random(seed)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        return_number = rng.randrange(returns)
        event_type = rng.choice(list(T))
        event = TrackingEvent(
            event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            event_type=event_type,
            occurred_at=start + timedelta(seconds=i * 7),
            firm_id=f"F-{return_number % 120:04d}",
            return_id=f"R-2025-{return_number:06d}",
            recipient_role=rng.choice(list(RecipientRole)),
            actor=Actor.FIRM_USER if event_type is T.TAX_RETURN_RECALLED else Actor.CLIENT,
            client_id=f"C-{return_number * 3 % 9_000:05d}",
            firm_user="preparer-17" if event_type is T.TAX_RETURN_RECALLED else None,
            detail=_detail(event_type, rng),
            failure_reason=(
                AuthFailureReason.WRONG_SSN if event_type is T.AUTHENTICATION_FAILED else None
            ),
            kba_round=rng.randint(1, 3) if event_type in (T.KBA_FAILED, T.KBA_SUCCEEDED) else None,
            caused_by=(
                uuid.UUID(int=rng.getrandbits(128), version=4)
                if event_type is T.ACCESS_LOCKED
                else None
            ),
        )
        out.append((event.return_id, tracking.to_record(event)))
    return out


def _detail(event_type: T, rng: random.Random) -> str | None:
    if event_type in (T.DOCUMENT_DOWNLOADED, T.FILES_UPLOADED, T.UPLOADED_FILES_DELETED):
        return rng.choice(FILE_NAMES)
    if event_type is T.K1_DISTRIBUTED:
        return rng.choice(PARTNERS)
    return None


def fastavro_only(codec: AvroCodec, records: list[tuple[str, Record]]) -> float:
    """The codec's encoding before its compiled writers: header, then fastavro's body."""
    schema = codec.schema(tracking.SCHEMA_NAME)
    header = b"\xc3\x01" + schema.fingerprint
    start = time.perf_counter()
    for _, record in records:
        body = io.BytesIO()
        body.write(header)
        schemaless_writer(body, schema.parsed, record)
        body.getvalue()
    return time.perf_counter() - start


def encode_only(codec: AvroCodec, records: list[tuple[str, Record]], topic: str) -> float:
    start = time.perf_counter()
    for _, record in records:
        codec.encode(tracking.SCHEMA_NAME, record, topic=topic)
    return time.perf_counter() - start


def raw_produce(bootstrap: str, topic: str, encoded: list[tuple[bytes, bytes]]) -> float:
    """The same config and loop idiom as EventProducer, minus validation and encoding."""
    failed = 0

    def on_delivery(error: object, _message: object) -> None:
        nonlocal failed
        failed += error is not None

    producer = Producer(
        {"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS, "on_delivery": on_delivery}
    )
    producer.produce(topic, encoded[0][1], encoded[0][0])  # warm-up: metadata, producer id
    producer.flush(30)
    start = time.perf_counter()
    for key, value in encoded:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - start
    if failed or len(producer):
        raise SystemExit(f"raw producer: {failed} failed, {len(producer)} undelivered")
    return elapsed


def ctrack_produce(kafka: KafkaSettings, records: list[tuple[str, Record]]) -> float:
    with EventProducer(kafka, AvroCodec()) as producer:
        producer.send_record(tracking.SCHEMA_NAME, *records[0])  # warm-up, as for (b)
        producer.flush(30)
        start = time.perf_counter()
        for key, record in records:
            producer.send_record(tracking.SCHEMA_NAME, key, record)
        producer.flush(120)
        elapsed = time.perf_counter() - start
    if producer.stats.delivered != len(records) + 1:
        raise SystemExit(f"EventProducer: {producer.stats}")
    return elapsed


def profiled(run: Callable[[], float]) -> float:
    profile = cProfile.Profile()
    elapsed = profile.runcall(run)
    pstats.Stats(profile).sort_stats("tottime").print_stats(12)
    return elapsed


def fresh_namespace(bootstrap: str) -> KafkaSettings:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:8]}")
    ensure_topics(bootstrap, TopicNames(kafka.topic_prefix))
    return kafka


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each path")
    parser.add_argument("--profile", action="store_true", help="cProfile the ctrack path (c)")
    args = parser.parse_args()
    records = realistic_records(args.records)
    codec = AvroCodec()
    seconds: dict[str, list[float]] = {FASTAVRO: [], ENCODE: [], RAW: [], CTRACK: []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalKafka(
            StackSettings(
                data_dir=Path(tmp),
                kafka_port=PORT,
                kafka_controller_port=PORT + 10_000,
                kafka_jars_dir=StackSettings().jars_dir,
            )
        )
        broker.up()
        try:
            raw_kafka = fresh_namespace(broker.bootstrap)
            ctrack_kafka = fresh_namespace(broker.bootstrap)
            topic = raw_kafka.topic_prefix + ".tracking"
            encoded = [
                (key.encode(), codec.encode(tracking.SCHEMA_NAME, record, topic=topic))
                for key, record in records
            ]
            for _ in range(args.repeat):  # interleaved, so a busy moment hits every path
                seconds[FASTAVRO].append(fastavro_only(codec, records))
                seconds[ENCODE].append(encode_only(codec, records, topic))
                seconds[RAW].append(raw_produce(broker.bootstrap, topic, encoded))
                run_c = partial(ctrack_produce, ctrack_kafka, records)
                seconds[CTRACK].append(profiled(run_c) if args.profile else run_c())
        finally:
            broker.down()
    console = Console(width=120)
    report(console, len(records), seconds)
    load = ", ".join(
        f"{before:.2f} -> {after:.2f}"
        for before, after in zip(load_before, os.getloadavg(), strict=True)
    )
    console.print(f"Load average (1, 5, 15 min) before -> after: {load}; {os.cpu_count()} cores.")


def report(console: Console, n: int, seconds: dict[str, list[float]]) -> None:
    runs = len(seconds[FASTAVRO])
    table = Table(title=f"Producer path: {n:,} TrackingEvent records, one process, {runs} runs")
    columns = ("path", "records/s (best)", "records/s (median)", "best s", "vs (a), best")
    for column in columns:
        table.add_column(column, justify="left" if column == "path" else "right")
    fastavro_best = n / min(seconds[FASTAVRO])
    for name, values in seconds.items():
        best, median = n / min(values), n / statistics.median(values)
        row = (
            f"{best:,.0f}",
            f"{median:,.0f}",
            f"{min(values):.2f}",
            f"{best / fastavro_best:.2f}",
        )
        table.add_row(name, *row)
    console.print(table)
    ctrack_best = n / min(seconds[CTRACK])
    ratio = min(seconds[FASTAVRO]) / min(seconds[CTRACK])
    median_ratio = statistics.median(seconds[FASTAVRO]) / statistics.median(seconds[CTRACK])
    codec_ratio = min(seconds[ENCODE]) / min(seconds[CTRACK])
    console.print(
        f"(c)/(a) = {ratio:.2f} (best runs), {median_ratio:.2f} (medians); (c)/(a') = "
        f"{codec_ratio:.2f} (best). Goals: (c) >= 100,000 records/s: "
        f"{'met' if ctrack_best >= 100_000 else 'NOT met'}; (c)/(a) >= 0.70: "
        f"{'met' if ratio >= 0.7 else 'NOT met'}."
    )


if __name__ == "__main__":
    main()
