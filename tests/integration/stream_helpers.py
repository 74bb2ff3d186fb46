"""Driving and reading the stream worker in tests: records in, decoded records out, ticks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from confluent_kafka import Message, Producer

from ctrack.settings import KafkaSettings
from schemas.catalogue import CLOCK, TopicNames, TopicSpec
from schemas.codec import AvroCodec
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
