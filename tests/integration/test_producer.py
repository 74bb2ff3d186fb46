"""The producer on a real broker: exactly once, keyed like Java, failures typed, no drops."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer, TopicPartition

from ctrack.settings import KafkaSettings
from producers.errors import DeliveryError
from producers.event_producer import EventProducer
from schemas import tracking
from schemas.catalogue import TRACKING, TRACKING_EVENT
from schemas.codec import AvroCodec
from tests.factories import tracking_event
from tests.integration.kafka_helpers import consume_until

T = tracking.TrackingEventType


def stories(returns: int, events_per_return: int) -> list[tracking.TrackingEvent]:
    """Interleaved events of several returns, each return's in the order they happened."""
    return_ids = [f"R-{uuid.uuid4().hex[:12]}" for _ in range(returns)]
    kinds = [T.INITIAL_EMAIL_PROCESSED, T.INITIAL_EMAIL_DELIVERED, T.TAX_RETURN_ACCESSED]
    return [
        tracking_event(kinds[minute % len(kinds)], return_id=return_id, minute=minute)
        for minute in range(events_per_return)
        for return_id in return_ids
    ]


def records_in_topic(bootstrap: str, topic: str, partitions: int) -> int:
    """Records the broker appended to `topic`: the sum of its partitions' high watermarks."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"wm-{uuid.uuid4().hex}"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        )
    finally:
        consumer.close()


def java_partition(key: bytes, partitions: int) -> int:
    """Kafka's Java client (and faust/aiokafka): positive murmur2 of the key, modulo."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_records_arrive_exactly_once_keyed_on_java_partitions_in_order(
    kafka: KafkaSettings,
) -> None:
    codec, story = AvroCodec(), stories(returns=40, events_per_return=5)
    with EventProducer(kafka, codec) as producer:
        for event in story:
            producer.send_tracking(event)
    assert (producer.stats.delivered, producer.stats.failed, len(producer)) == (len(story), 0, 0)

    topic = producer.topics.tracking
    messages = consume_until(kafka.bootstrap, topic, lambda ms: len(ms) >= len(story))
    assert records_in_topic(kafka.bootstrap, topic, TRACKING.partitions) == len(story)
    events = [tracking.from_record(codec.decode(m.value()).record) for m in messages]
    assert sorted(str(e.event_id) for e in events) == sorted(str(e.event_id) for e in story)
    for message, event in zip(messages, events, strict=True):
        assert message.key() == event.return_id.encode()
        assert message.partition() == java_partition(message.key(), TRACKING.partitions)
    for return_id in {e.return_id for e in story}:
        sent = [e.event_id for e in story if e.return_id == return_id]
        assert [e.event_id for e in events if e.return_id == return_id] == sent


def test_a_topic_that_does_not_exist_surfaces_the_kafka_error_code(kafka: KafkaSettings) -> None:
    # Unknown topics are retried for topic.metadata.propagation.max.ms (30 s by default).
    overrides = {"topic.metadata.propagation.max.ms": 1000}
    producer = EventProducer(kafka, AvroCodec(), overrides=overrides)
    record = tracking.to_record(tracking_event(T.TAX_RETURN_ACCESSED))
    producer.send(f"{kafka.topic_prefix}.no-such-topic", "R-1", TRACKING_EVENT, record)
    with pytest.raises(DeliveryError) as raised:
        producer.flush(30)
    assert raised.value.code == "UNKNOWN_TOPIC_OR_PART"
    assert not raised.value.fatal
    assert (producer.stats.sent, producer.stats.delivered, producer.stats.failed) == (1, 0, 1)
    producer.flush(5)  # reported once: nothing new failed since


def test_a_full_local_queue_slows_sending_down_and_drops_nothing(kafka: KafkaSettings) -> None:
    codec, story = AvroCodec(), stories(returns=50, events_per_return=40)
    overrides = {"queue.buffering.max.messages": 10}
    with EventProducer(kafka, codec, overrides=overrides) as producer:
        for event in story:
            producer.send_tracking(event)
    assert producer.stats.queue_full_waits > 0
    assert (producer.stats.delivered, producer.stats.failed) == (len(story), 0)
    topic = producer.topics.tracking
    assert records_in_topic(kafka.bootstrap, topic, TRACKING.partitions) == len(story)
