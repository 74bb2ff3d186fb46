"""A record the broker refuses stops the worker from committing past it; nothing is lost.

The refusal is the broker's own: the dead-letter topic is given a `max.message.bytes` smaller
than the worker's dead letter for a poison record, so the broker answers "message too large".
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from ctrack.settings import KafkaSettings, StreamSettings
from producers.event_producer import EventProducer
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from tests.conftest import WorkerFactory
from tests.factories import tracking_event
from tests.integration.kafka_helpers import consume_until
from tests.integration.sink_offsets import NOT_COMMITTED, _consumer

SMALL_LIMIT = 1024  # bytes: the broker refuses a larger batch on the topic


def set_max_message_bytes(kafka: KafkaSettings, topic: str, limit: int | None) -> None:
    """The topic's `max.message.bytes` (None: back to the broker's default)."""
    operation = AlterConfigOpType.SET if limit is not None else AlterConfigOpType.DELETE
    entry = ConfigEntry("max.message.bytes", str(limit or ""), incremental_operation=operation)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def committed_offset(kafka: KafkaSettings, topic: str, partition: int) -> int:
    """The worker group's committed offset on one partition (NOT_COMMITTED if none)."""
    group = TopicNames(kafka.topic_prefix).app_id(StreamSettings().app_id)
    consumer = _consumer(kafka, group)
    try:
        [offset] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        return int(offset.offset)
    finally:
        consumer.close()


def test_a_refused_dead_letter_is_never_committed_past_and_is_sent_after_a_restart(
    kafka: KafkaSettings, workers: WorkerFactory, tmp_path: Path
) -> None:
    codec, topics = AvroCodec(), TopicNames(kafka.topic_prefix)
    return_id = f"R-{uuid.uuid4().hex}"
    set_max_message_bytes(kafka, topics.dead_letter, SMALL_LIMIT)
    # random bytes: no compression brings the dead letter under the limit
    poison = b"not avro " + os.urandom(4 * SMALL_LIMIT)
    with EventProducer(kafka, codec) as producer:  # a good record first, same partition
        producer.send_tracking(
            tracking_event(TrackingEventType.INITIAL_EMAIL_PROCESSED, return_id=return_id)
        )
    delivered: list[Message] = []
    raw = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})
    raw.produce(
        topics.tracking,
        key=return_id.encode(),
        value=poison,
        on_delivery=lambda e, m: delivered.append(m),
    )
    raw.flush(10)
    [poisoned] = delivered
    assert poisoned.error() is None
    partition, poison_offset = int(poisoned.partition() or 0), int(poisoned.offset() or 0)

    first = workers.start("refused")
    log = tmp_path / "refused.log"
    assert wait_for(lambda: "send_failed" in log.read_text(errors="replace")), log.read_text()
    # the worker stops rather than go on past a record it could not deliver
    assert first.wait(timeout=120) != 0
    assert committed_offset(kafka, topics.tracking, partition) in (NOT_COMMITTED, poison_offset)

    # the topic takes it again: a new worker starts from the last commit and delivers it
    set_max_message_bytes(kafka, topics.dead_letter, None)
    workers.start("restarted")
    [letter] = consume_until(kafka.bootstrap, topics.dead_letter, lambda ms: len(ms) >= 1)
    record = codec.decode(letter.value() or b"").record
    assert (record["source_offset"], record["payload"]) == (poison_offset, poison)
    assert wait_for(lambda: committed_offset(kafka, topics.tracking, partition) > poison_offset)
