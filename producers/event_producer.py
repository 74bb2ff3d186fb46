"""The one producer of ctrack: idempotent, keyed, validated before send, flushed on exit."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from ctrack.settings import KafkaSettings
from producers.errors import DeliveryError
from schemas import tracking
from schemas.catalogue import TOPIC_OF_SCHEMA, TopicNames
from schemas.codec import AvroCodec
from schemas.pii import assert_no_clear_pii

# Throughput-oriented defaults; idempotence implies acks=all and ordered retries per partition.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    # Java-compatible key hashing, as faust/aiokafka and Kafka Streams use: without it librdkafka's
    # CRC32 default puts one return's events on a different partition than faust's outputs.
    "partitioner": "murmur2_random",
    "compression.type": "lz4",
    "linger.ms": 5,
    "batch.size": 512 * 1024,
    "queue.buffering.max.messages": 200_000,
    "queue.buffering.max.kbytes": 256 * 1024,
}


@dataclass
class DeliveryStats:
    """Delivery reports seen so far."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    last_error: KafkaError | None = field(default=None, repr=False)


class EventProducer:
    """Context-managed producer of contract records.

    Encoding happens before `produce`, so a record that does not fit its schema raises
    `SerializationError` and nothing is sent. A full local queue blocks (polling delivery
    reports) instead of dropping. Leaving the context flushes and raises `DeliveryError`
    if any record was not acknowledged.
    """

    def __init__(
        self, kafka: KafkaSettings, codec: AvroCodec, overrides: dict[str, Any] | None = None
    ):
        self.codec = codec
        self.topics = TopicNames(kafka.topic_prefix)
        self.stats = DeliveryStats()
        self._producer = Producer(
            {"bootstrap.servers": kafka.bootstrap, **PRODUCER_DEFAULTS, **(overrides or {})}
        )

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.flush()

    def send(self, topic: str, key: str | bytes, schema_name: str, record: dict[str, Any]) -> None:
        """Check, encode and enqueue one record; `key` decides its partition and so its order.

        Raises `ClearPiiError` or `SerializationError` before anything is enqueued.
        """
        assert_no_clear_pii(record, schema_name)
        value = self.codec.encode(schema_name, record, topic=topic)
        key_bytes = key.encode() if isinstance(key, str) else key
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key_bytes, on_delivery=self._on_delivery
                )
                break
            except BufferError:  # local queue full: wait for deliveries (backpressure)
                self._producer.poll(0.05)
        self.stats.sent += 1
        self._producer.poll(0)

    def send_record(self, schema_name: str, key: str, record: dict[str, Any]) -> None:
        """A record onto the catalogue's topic for its schema."""
        self.send(self.topics.of(TOPIC_OF_SCHEMA[schema_name]), key, schema_name, record)

    def send_tracking(self, event: tracking.TrackingEvent) -> None:
        """A Client Tracking event, keyed by its return."""
        self.send(
            self.topics.tracking, event.return_id, tracking.SCHEMA_NAME, tracking.to_record(event)
        )

    def flush(self, timeout_s: float = 60.0) -> None:
        """Wait for every delivery report; raise if any record was not acknowledged."""
        deadline = time.monotonic() + timeout_s
        remaining = self._producer.flush(timeout_s)
        while remaining and time.monotonic() < deadline:
            remaining = self._producer.flush(max(0.0, deadline - time.monotonic()))
        if remaining:
            raise DeliveryError(f"{remaining} records still undelivered after {timeout_s}s")
        if self.stats.failed:
            error = self.stats.last_error
            raise DeliveryError(
                f"{self.stats.failed} of {self.stats.sent} records failed: {error}",
                code=error.name() if error else None,
            )

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.stats.delivered += 1
        else:
            self.stats.failed += 1
            self.stats.last_error = error
