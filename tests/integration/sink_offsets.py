"""What the sink's consumer group has committed on a topic, and where the topic ends."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, TopicPartition

from ctrack.settings import KafkaSettings, SinkSettings

NOT_COMMITTED = -1001  # librdkafka's OFFSET_INVALID: the group has no offset there


def _consumer(kafka: KafkaSettings, group_id: str) -> Consumer:
    return Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group_id, "enable.auto.commit": False}
    )


def _partitions(consumer: Consumer, topic: str) -> list[TopicPartition]:
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions)]


def committed(kafka: KafkaSettings, topic: str, sink: SinkSettings | None = None) -> list[int]:
    """The sink group's committed offset of each partition (NOT_COMMITTED where none)."""
    group = f"{kafka.topic_prefix}-{(sink or SinkSettings()).group_id}"
    consumer = _consumer(kafka, group)
    try:
        offsets = consumer.committed(_partitions(consumer, topic), timeout=10)
        return [tp.offset for tp in offsets]
    finally:
        consumer.close()


def end_offsets(kafka: KafkaSettings, topic: str) -> list[int]:
    """The offset after the last record of each partition."""
    consumer = _consumer(kafka, f"test-ends-{uuid.uuid4().hex}")
    try:
        ends = []
        for tp in _partitions(consumer, topic):
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            ends.append(high)
        return ends
    finally:
        consumer.close()
