"""Benchmark: the stream worker vs a plain confluent-kafka loop calling the same pure rules.

Run: .venv/bin/python bench/stream_worker.py [--returns N] [--latency-probes N] [--load N]
     [--port P]

In one run, on a broker of its own:
1. produce a simulated tax-season mix (all families) once;
2. baseline: one confluent-kafka consumer decodes every record and calls the same pure rules
   (lockout, client status, reminders, delivery roll-up) on in-memory state; events/s;
3. one `ctrack worker` process (faust, rocksdict tables) consumes the same records from the
   start; events/s from its committed offsets (lag 0 on every input topic);
4. latency: with the worker running and a background load of tracking events, send three
   wrong SSNs for a fresh return repeatedly and time produce -> `Access Locked` consumed.
Both rates are also given per CPU-second of the consuming process (all its threads), which
moves much less than events/s when other work shares the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table
from stream_latency import latency, print_latency

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
from streams.client_status import rules as status_rules
from streams.delivery import rules as delivery_rules
from streams.lockout import rules as lockout_rules
from streams.reminders import rules as reminder_rules
from streams.returns.agent import lifecycle_from_record

PORT = 19992

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


@dataclass(frozen=True)
class Rate:
    """Events consumed in `seconds` of wall time and `cpu_seconds` of the consumer's CPU."""

    events: int
    seconds: float
    cpu_seconds: float | None

    @property
    def per_s(self) -> float:
        return self.events / max(self.seconds, 1e-9)

    @property
    def per_cpu_s(self) -> float | None:
        return self.events / self.cpu_seconds if self.cpu_seconds else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and all its threads (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline(kafka: KafkaSettings, total: int) -> Rate:
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
    start, cpu_start = time.perf_counter(), time.process_time()
    while seen < total:
        for message in consumer.consume(2000, timeout=1.0):
            if message.error():
                continue
            decoded = codec.decode(message.value() or b"")
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
    rate = Rate(total, time.perf_counter() - start, time.process_time() - cpu_start)
    consumer.close()
    return rate


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


def worker_rate(kafka: KafkaSettings, data_dir: Path) -> tuple[Rate, subprocess.Popen[bytes]]:
    """Events/s from the worker's first commit to lag 0 (start-up and recovery excluded)."""
    group = f"{kafka.topic_prefix}.ctrack-streams"
    before = lag(kafka, group)
    worker = start_worker(kafka, data_dir)
    first: tuple[float, int, float | None] | None = None
    while True:
        remaining = lag(kafka, group)
        now = time.perf_counter()
        if first is None and remaining < before:
            first = (now, remaining, cpu_seconds(worker.pid))
        if first is not None and remaining == 0:
            cpu_now, cpu_then = cpu_seconds(worker.pid), first[2]
            cpu = cpu_now - cpu_then if cpu_now is not None and cpu_then is not None else None
            return Rate(first[1], now - first[0], cpu), worker
        if worker.poll() is not None:
            tail = (data_dir / "worker.log").read_text(errors="replace").splitlines()[-40:]
            raise RuntimeError("worker exited; its log ends:\n" + "\n".join(tail))
        time.sleep(0.5)


def print_rates(total: int, base: Rate, worker: Rate) -> None:
    table = Table(title=f"Stream rules on {total:,} simulated events (one process each)")
    table.add_column("consumer")
    table.add_column("events/s", justify="right")
    table.add_column("events per CPU-second", justify="right")
    for name, rate in (
        ("confluent-kafka loop + same pure rules (baseline)", base),
        ("ctrack worker (faust, changelogged tables, outputs)", worker),
    ):
        per_cpu = f"{rate.per_cpu_s:,.0f}" if rate.per_cpu_s else "n/a"
        table.add_row(name, f"{rate.per_s:,.0f}", per_cpu)
    console.print(table)
    cpu_ratio = (
        f", per CPU-second {worker.per_cpu_s / base.per_cpu_s:.2f}"
        if worker.per_cpu_s and base.per_cpu_s
        else ""
    )
    console.print(f"worker / baseline: events/s {worker.per_s / base.per_s:.2f}{cpu_ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--returns", type=int, default=3000)
    parser.add_argument("--latency-probes", type=int, default=100)
    parser.add_argument("--load", type=int, default=5000, help="background tracking events/s")
    parser.add_argument("--port", type=int, default=PORT, help="port of the bench's own broker")
    args = parser.parse_args()
    console.print(f"load average (1, 5, 15 min) at the start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalKafka(
            StackSettings(
                data_dir=Path(tmp) / "kafka",
                kafka_port=args.port,
                kafka_controller_port=args.port + 1,
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
            console.print(f"baseline: {base.per_s:,.0f} events/s")
            rate, worker = worker_rate(kafka, Path(tmp))
            print_rates(total, base, rate)
            cpu_before, wall_before = cpu_seconds(worker.pid), time.perf_counter()
            lat, load = latency(kafka, args.latency_probes, args.load)
            cpu_after = cpu_seconds(worker.pid)
            if cpu_before is not None and cpu_after is not None:
                share = (cpu_after - cpu_before) / (time.perf_counter() - wall_before)
                console.print(f"worker CPU while the load ran: {share:.0%} of one core")
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)
            stack.down()
    print_latency(lat, args.latency_probes, load)
    console.print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
