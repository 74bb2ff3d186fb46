"""Benchmark: the stream worker vs a plain confluent-kafka loop calling the same pure rules.

Run: .venv/bin/python bench/stream_worker.py [--returns N] [--latency-probes N] [--load N]

In one run, on a broker of its own:
1. produce a simulated tax-season mix (all families) once;
2. baseline: one confluent-kafka consumer decodes every record and calls the same pure rules
   (lockout, client status, reminders, delivery roll-up) on in-memory state; events/s;
3. one `ctrack worker` process (faust, rocksdict tables) consumes the same records from the
   start; events/s from its committed offsets (lag 0 on every input topic);
4. latency: with the worker running and a background load of tracking events, send three
   wrong SSNs for a fresh return repeatedly and time produce -> `Access Locked` consumed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from ctrack.settings import KafkaSettings, StackSettings
from ctrack.stack.local_kafka import LocalKafka
from ctrack.topic_admin import ensure_topics
from producers.event_producer import EventProducer
from producers.simulator import SimulationPlan, simulate
from schemas import clients, tracking
from schemas.catalogue import (
    ALL_TOPICS,
    CLIENT_EVENT,
    CLIENT_EVENTS,
    DELIVERY,
    DELIVERY_EVENT,
    FIRM_SETTINGS,
    FIRM_SETTINGS_TOPIC,
    RETURN_LIFECYCLE,
    RETURN_LIFECYCLE_EVENT,
    TRACKING,
    TRACKING_EVENT,
    TopicNames,
)
from schemas.codec import AvroCodec
from schemas.firms import FirmSettings, from_record
from schemas.tracking import TrackingEvent, TrackingEventType
from streams.client_status import rules as status_rules
from streams.delivery import rules as delivery_rules
from streams.lockout import rules as lockout_rules
from streams.reminders import rules as reminder_rules
from streams.returns.agent import lifecycle_from_record

PORT = 19992


def tracking_event(
    event_type: TrackingEventType, return_id: str, detail: str | None = None
) -> TrackingEvent:
    return TrackingEvent(
        uuid.uuid4(), event_type, datetime.now(UTC), "F-bench", return_id, detail=detail
    )


INPUTS = (TRACKING, RETURN_LIFECYCLE, FIRM_SETTINGS_TOPIC, CLIENT_EVENTS, DELIVERY)
console = Console()


def produce_mix(kafka: KafkaSettings, returns: int) -> Counter[str]:
    plan = SimulationPlan(
        seed=7,
        firms=20,
        clients_per_firm=max(10, returns // 20),
        returns=returns,
        duration=timedelta(days=75),
    )
    counts: Counter[str] = Counter()
    wanted = {spec.value_schema for spec in INPUTS}
    with EventProducer(kafka, AvroCodec()) as producer:
        for schema_name, key, record in simulate(plan):
            if schema_name in wanted:
                producer.send_record(schema_name, key, record)
                counts[schema_name] += 1
    return counts


def baseline(kafka: KafkaSettings, total: int) -> float:
    """Plain consume-decode loop calling the same rules, state in dicts."""
    names = TopicNames(kafka.topic_prefix)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"base-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([names.of(spec) for spec in INPUTS])
    codec = AvroCodec()
    firms: dict[str, FirmSettings] = {}
    lock: dict[str, Any] = {}
    status: dict[str, Any] = {}
    returns: dict[str, Any] = {}
    rollups: dict[str, Any] = {}
    seen = 0
    start = time.perf_counter()
    while seen < total:
        for message in consumer.consume(2000, timeout=1.0):
            if message.error():
                continue
            decoded = codec.decode(message.value())
            seen += 1
            record = decoded.record
            name = decoded.schema_name
            if name == FIRM_SETTINGS:
                firms[record["firm_id"]] = from_record(record)
                continue
            firm = firms.get(record.get("firm_id", ""), FirmSettings(record.get("firm_id", "")))
            if name == TRACKING_EVENT:
                event = tracking.from_record(record)
                lock[event.subject], _ = lockout_rules.apply(
                    lock.get(event.subject, lockout_rules.LockoutState()), event
                )
                returns[event.return_id], _ = reminder_rules.on_tracking(
                    returns.get(event.return_id), event
                )
            elif name == CLIENT_EVENT:
                client_event = clients.from_record(record)
                status[client_event.client_id], _ = status_rules.apply(
                    status.get(client_event.client_id), client_event, firm
                )
            elif name == RETURN_LIFECYCLE_EVENT:
                lifecycle = lifecycle_from_record(record)
                returns[lifecycle.return_id], _ = reminder_rules.on_lifecycle(
                    returns.get(lifecycle.return_id), lifecycle, firm
                )
            elif name == DELIVERY_EVENT:
                rollups[record["message_id"]], _ = delivery_rules.apply(
                    rollups.get(record["message_id"]), record
                )
    elapsed = time.perf_counter() - start
    consumer.close()
    return total / elapsed


def lag(kafka: KafkaSettings, group: str) -> int:
    names = TopicNames(kafka.topic_prefix)
    probe = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        partitions = [TopicPartition(names.of(s), p) for s in INPUTS for p in range(s.partitions)]
        committed = probe.committed(partitions, timeout=10)
        total = 0
        for tp in committed:
            high = probe.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)[
                1
            ]
            total += high - max(tp.offset, 0)
        return total
    finally:
        probe.close()


def start_worker(kafka: KafkaSettings, data_dir: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CTRACK_TOPIC_PREFIX": kafka.topic_prefix,
        "CTRACK_DATA_DIR": str(data_dir),
        "CTRACK_WORKER_CLOCK": "external",
    }
    log = (data_dir / "worker.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "ctrack.cli.main", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def worker_rate(kafka: KafkaSettings, data_dir: Path) -> tuple[float, subprocess.Popen[bytes]]:
    """Events/s from the worker's first commit to lag 0 (start-up and recovery excluded)."""
    group = f"{kafka.topic_prefix}.ctrack-streams"
    before = lag(kafka, group)
    worker = start_worker(kafka, data_dir)
    first: tuple[float, int] | None = None
    while True:
        remaining = lag(kafka, group)
        now = time.perf_counter()
        if first is None and remaining < before:
            first = (now, remaining)
        if first is not None and remaining == 0:
            return first[1] / max(now - first[0], 1e-9), worker
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited; see {data_dir / 'worker.log'}")
        time.sleep(0.5)


def latency(kafka: KafkaSettings, probes: int, load_per_s: int) -> list[float]:
    """Milliseconds from producing a 3rd wrong SSN to consuming its Access Locked."""
    names = TopicNames(kafka.topic_prefix)
    stop = threading.Event()

    def background() -> None:
        with EventProducer(kafka, AvroCodec()) as producer:
            sent, start = 0, time.perf_counter()
            while not stop.is_set():
                producer.send_tracking(
                    tracking_event(
                        TrackingEventType.DOCUMENT_DOWNLOADED,
                        return_id=f"BG-{sent % 5000}",
                        detail="1040.pdf",
                    )
                )
                sent += 1
                ahead = sent / load_per_s - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)

    loader = threading.Thread(target=background, daemon=True)
    loader.start()
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"lat-{uuid.uuid4()}",
            "auto.offset.reset": "latest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.subscribe([names.of(TRACKING)])
    consumer.poll(2.0)
    codec = AvroCodec()
    results: list[float] = []
    with EventProducer(kafka, AvroCodec(), {"linger.ms": 0}) as producer:
        for _ in range(probes):
            return_id = f"LAT-{uuid.uuid4().hex}"
            for _ in range(2):
                producer.send_tracking(
                    tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=return_id)
                )
            producer.flush()
            sent_at = time.perf_counter()
            producer.send_tracking(
                tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=return_id)
            )
            producer.flush()
            deadline = sent_at + 10
            while time.perf_counter() < deadline:
                message = consumer.poll(0.05)
                if message is None or message.error():
                    continue
                record = codec.decode(message.value()).record
                if record["event_type"] == "ACCESS_LOCKED" and record["return_id"] == return_id:
                    results.append((time.perf_counter() - sent_at) * 1000)
                    break
    stop.set()
    loader.join(timeout=10)
    consumer.close()
    return results


def print_rates(total: int, base: float, rate: float) -> None:
    table = Table(title=f"Stream rules on {total:,} simulated events (one process each)")
    table.add_column("consumer")
    table.add_column("events/s", justify="right")
    table.add_row("confluent-kafka loop + same pure rules (baseline)", f"{base:,.0f}")
    table.add_row("ctrack worker (faust, changelogged tables, outputs)", f"{rate:,.0f}")
    console.print(table)
    console.print(f"worker / baseline: {rate / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--returns", type=int, default=3000)
    parser.add_argument("--latency-probes", type=int, default=100)
    parser.add_argument("--load", type=int, default=5000, help="background tracking events/s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalKafka(
            StackSettings(
                data_dir=Path(tmp) / "kafka",
                kafka_port=PORT,
                kafka_controller_port=PORT + 1,
                kafka_jars_dir=StackSettings().jars_dir,
            )
        )
        stack.up()
        worker = None
        try:
            kafka = KafkaSettings(bootstrap_servers=stack.bootstrap, topic_prefix="bench")
            ensure_topics(kafka.bootstrap, TopicNames(kafka.topic_prefix), 1, ALL_TOPICS)
            counts = produce_mix(kafka, args.returns)
            total = sum(counts.values())
            console.print(f"produced {total:,} records: {dict(counts)}")
            base = baseline(kafka, total)
            console.print(f"baseline: {base:,.0f} events/s")
            rate, worker = worker_rate(kafka, Path(tmp))
            print_rates(total, base, rate)
            lat = latency(kafka, args.latency_probes, args.load)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            stack.down()
    if lat:
        q = statistics.quantiles(lat, n=100)
        console.print(
            f"Access Locked after the 3rd failure under {args.load:,} events/s load: "
            f"p50 {statistics.median(lat):.1f} ms, p99 {q[98]:.1f} ms, "
            f"max {max(lat):.1f} ms ({len(lat)}/{args.latency_probes} probes)"
        )


if __name__ == "__main__":
    main()
