"""Driving and reading the stream worker in tests: records in, decoded records out, ticks."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from confluent_kafka import Message, Producer

from ctrack.settings import KafkaSettings
from producers.event_producer import EventProducer
from schemas.catalogue import CLOCK, TRACKING, TopicNames, TopicSpec
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEvent, TrackingEventType
from tests.factories import tracking_event
from tests.integration.kafka_helpers import consume_until

CODEC = AvroCodec()


def send_ticks(kafka: KafkaSettings, now: datetime) -> None:
    """Inject time: one tick on every clock partition (the worker runs with an external clock)."""
    topic = TopicNames(kafka.topic_prefix).of(CLOCK)
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    value = CODEC.encode(CLOCK.value_schema, {"now": now, "sender": "test"}, topic=topic)
    for partition in range(CLOCK.partitions):
        producer.produce(topic, value=value, partition=partition)
    assert producer.flush(10) == 0


def records(
    kafka: KafkaSettings,
    spec: TopicSpec,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 90.0,
) -> list[dict[str, Any]]:
    """Decoded records of a topic, read from the start until `done(records)` or the deadline."""

    def decoded(messages: list[Message]) -> list[dict[str, Any]]:
        return [CODEC.decode(m.value()).record for m in messages]

    messages = consume_until(
        kafka.bootstrap,
        TopicNames(kafka.topic_prefix).of(spec),
        lambda ms: done(decoded(ms)),
        timeout_s,
    )
    return decoded(messages)


def failures_per_return(count: int) -> dict[str, list[TrackingEvent]]:
    """Three authentication failures for each of `count` new returns (the third locks it)."""
    returns = [f"R-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    return {
        r: [
            tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=r, minute=i)
            for i in range(3)
        ]
        for r in returns
    }


def send_tracking(kafka: KafkaSettings, events: Iterable[TrackingEvent]) -> None:
    with EventProducer(kafka, CODEC) as producer:
        for event in events:
            producer.send_tracking(event)


def access_locks(kafka: KafkaSettings, returns: int, timeout_s: float) -> list[dict[str, Any]]:
    """The ACCESS_LOCKED records on the tracking topic, once `returns` returns are locked."""
    rows = records(
        kafka,
        TRACKING,
        lambda rs: (
            len({str(r["caused_by"]) for r in rs if r["event_type"] == "ACCESS_LOCKED"}) >= returns
        ),
        timeout_s=timeout_s,
    )
    return [r for r in rows if r["event_type"] == "ACCESS_LOCKED"]
