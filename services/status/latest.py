"""Reads the latest record of one key from a compacted topic (status lookups without a store)."""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from schemas.codec import AvroCodec


def latest_for_key(
    bootstrap: str, topic: str, key: str, codec: AvroCodec, timeout_s: float = 30.0
) -> dict[str, Any] | None:
    """The last record stored under `key`, scanning every partition up to its current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ctrack-status-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
            for p in partitions
        }
        pending = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        wanted, latest = key.encode(), None
        while pending:
            message = consumer.poll(timeout_s)
            if message is None:
                break
            partition = message.partition()
            if message.error() is None and message.key() == wanted:
                latest = codec.decode(message.value() or b"").record
            offset = message.offset()
            if message.error() is not None or (
                offset is not None and offset + 1 >= ends[partition]
            ):
                pending.discard(partition)
        return latest
    finally:
        consumer.close()
