"""The latency half of `stream_worker.py`: time from producing the 3rd wrong SSN of a fresh
return to consuming its `Access Locked`, while a background load of tracking events flows.

The load runs in a process of its own (pre-encoded records, plain producer), so neither its
work nor the GIL delays the probe loop; the probe reader decodes only its own return's records.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as StopFlag

from confluent_kafka import Consumer, Producer
from rich.console import Console

from ctrack.settings import KafkaSettings
from producers.event_producer import EventProducer
from schemas import tracking
from schemas.catalogue import TRACKING, TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEvent, TrackingEventType

console = Console()
WARM_UP_S = 3.0


def tracking_event(
    event_type: TrackingEventType, return_id: str, detail: str | None = None
) -> TrackingEvent:
    return TrackingEvent(
        uuid.uuid4(), event_type, datetime.now(UTC), "F-bench", return_id, detail=detail
    )


def background_load(
    bootstrap: str, topic: str, per_s: int, stop: StopFlag, sent: Synchronized[int]
) -> None:
    """Document downloads on 5,000 returns at `per_s` until `stop` (runs in its own process)."""
    codec = AvroCodec()
    pool = [
        (
            f"BG-{i}".encode(),
            codec.encode(
                tracking.SCHEMA_NAME,
                tracking.to_record(
                    tracking_event(TrackingEventType.DOCUMENT_DOWNLOADED, f"BG-{i}", "1040.pdf")
                ),
                topic=topic,
            ),
        )
        for i in range(5000)
    ]
    producer = Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5}
    )
    count, start = 0, time.perf_counter()
    while not stop.is_set():
        key, value = pool[count % len(pool)]
        producer.produce(topic, value, key)
        producer.poll(0)
        count += 1
        if count % 100 == 0:
            sent.value = count
            ahead = count / per_s - (time.perf_counter() - start)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush(10)
    sent.value = count


def latency(kafka: KafkaSettings, probes: int, load_per_s: int) -> tuple[list[float], float]:
    """Milliseconds from producing a 3rd wrong SSN to consuming its Access Locked, and the
    background load (events/s) actually sent meanwhile."""
    topic = TopicNames(kafka.topic_prefix).of(TRACKING)
    spawn = multiprocessing.get_context("spawn")
    stop, sent = spawn.Event(), spawn.Value("q", 0)
    loader = spawn.Process(
        target=background_load, args=(kafka.bootstrap, topic, load_per_s, stop, sent)
    )
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"lat-{uuid.uuid4()}",
            "auto.offset.reset": "latest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.subscribe([topic])
    consumer.poll(2.0)
    loader.start()
    time.sleep(WARM_UP_S)
    started, sent_before = time.perf_counter(), sent.value
    try:
        results = _probe(kafka, consumer, probes)
    finally:
        elapsed, load = time.perf_counter() - started, sent.value - sent_before
        stop.set()
        loader.join(timeout=30)
        consumer.close()
    return results, load / max(elapsed, 1e-9)


def _probe(kafka: KafkaSettings, consumer: Consumer, probes: int) -> list[float]:
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
            deadline, key = sent_at + 10, return_id.encode()
            while time.perf_counter() < deadline:
                message = consumer.poll(0.05)
                if message is None or message.error() or message.key() != key:
                    continue
                record = codec.decode(message.value() or b"").record
                if record["event_type"] == "ACCESS_LOCKED":
                    results.append((time.perf_counter() - sent_at) * 1000)
                    break
    return results


def print_latency(lat: list[float], probes: int, load: float) -> None:
    if not lat:
        console.print(f"no Access Locked seen within 10 s for any of {probes} probes")
        return
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    console.print(
        f"Access Locked after the 3rd failure under {load:,.0f} events/s background load: "
        f"p50 {statistics.median(lat):.1f} ms, p99 {q[98]:.1f} ms, "
        f"max {max(lat):.1f} ms ({len(lat)}/{probes} probes)"
    )
