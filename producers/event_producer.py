"""The one producer of ctrack: idempotent, keyed, validated before send, flushed on exit."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ctrack.settings import KafkaSettings
from producers.errors import DeliveryError, MissingKeyError
from producers.pii_guard import PiiGuard, guarded_encode
from schemas import tracking
from schemas.catalogue import TOPIC_OF_SCHEMA, TopicNames
from schemas.codec import AvroCodec
from schemas.errors import SerializationError

# Throughput-oriented defaults; idempotence implies acks=all and ordered retries per partition.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    # Java-compatible key hashing, as faust/aiokafka and Kafka Streams use: without it librdkafka's
    # CRC32 default puts one return's events on a different partition than faust's outputs.
    "partitioner": "murmur2_random",
    # Successful deliveries are counted from the queue length instead of one Python callback per
    # record (a fifth of the send path); failures still arrive one by one.
    "delivery.report.only.error": True,
    "compression.type": "lz4",
    # Bigger batches cost the broker far less per record (measured on one 2-core machine: about
    # 0.8 us of broker CPU per record at 100 ms against 2.6-6.3 us at 5 ms); `flush()`, which the
    # HTTP services call per request, does not wait for the linger.
    "linger.ms": 100,
    "batch.size": 512 * 1024,
    "queue.buffering.max.messages": 200_000,
    "queue.buffering.max.kbytes": 256 * 1024,
}
FLUSH_TIMEOUT_S = 60.0
_QUEUE_FULL_WAIT_S = 0.05
# Delivery reports (failures, and the per-record bookkeeping confluent-kafka does for every
# success) are served by poll(0) after the first record and then every this many records: one
# call serves them all, and a full queue or a fatal error is still seen by `produce` itself.
POLL_EVERY = 64


def producer_config(
    kafka: KafkaSettings, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """librdkafka settings of a ctrack producer: PRODUCER_DEFAULTS, then `overrides`."""
    return {"bootstrap.servers": kafka.bootstrap, **PRODUCER_DEFAULTS, **(overrides or {})}


@dataclass
class DeliveryStats:
    """What the producer did so far: enqueued, acknowledged (as of the last flush), failed, and
    waits on a full queue."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    queue_full_waits: int = 0
    last_error: KafkaError | None = field(default=None, repr=False)
    fatal_error: KafkaError | None = field(default=None, repr=False)


class EventProducer:
    """Context-managed producer of contract records.

    Key check, PII guard and Avro encoding happen before `produce`, so a record without a key,
    with personal data in clear or that does not fit its schema raises (`MissingKeyError`,
    `ClearPiiError`, `SerializationError`) and nothing is enqueued. A full local queue blocks
    (serving delivery reports, counted in `stats.queue_full_waits`) instead of dropping.
    `flush` and leaving the context raise `DeliveryError` if a record was not acknowledged;
    after a fatal error (e.g. idempotence broken) every call raises it.
    """

    def __init__(
        self, kafka: KafkaSettings, codec: AvroCodec, overrides: dict[str, Any] | None = None
    ):
        """`overrides`: librdkafka properties that replace PRODUCER_DEFAULTS (tests, tuning)."""
        self.codec = codec
        self.topics = TopicNames(kafka.topic_prefix)
        self._topic_of_schema = {
            name: self.topics.of(spec) for name, spec in TOPIC_OF_SCHEMA.items()
        }
        self.stats = DeliveryStats()
        self._failures_reported = 0
        self._pii_guard = PiiGuard(codec.schema)
        self._until_poll = 1
        self._producer = Producer(
            {**producer_config(kafka, overrides), "on_delivery": self._on_delivery}
        )

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.flush()
        else:  # still deliver what was queued, but let the original error propagate
            self._producer.flush(FLUSH_TIMEOUT_S)

    def __len__(self) -> int:
        """Records enqueued and not yet confirmed: successes are confirmed at each flush."""
        return self.stats.sent - self.stats.delivered - self.stats.failed

    def send(self, topic: str, key: str | bytes, schema_name: str, record: dict[str, Any]) -> None:
        """Check, encode and enqueue one record; `key` decides its partition and so its order.

        Raises `MissingKeyError`, `ClearPiiError` or `SerializationError` before anything is
        enqueued, and `DeliveryError` if the producer cannot enqueue at all (fatal error).
        """
        if not key:
            raise MissingKeyError(f"{schema_name} record for {topic} has no key")
        if self.stats.fatal_error is not None:
            self._raise_if_fatal()
        value = guarded_encode(self._pii_guard, self.codec, schema_name, record, topic)
        self._produce(topic, key, value)

    def send_record(self, schema_name: str, key: str, record: dict[str, Any]) -> None:
        """A record onto the catalogue's topic for its schema (see `send`)."""
        topic = self._topic_of_schema.get(schema_name)
        if topic is None:
            raise SerializationError(f"no topic of the catalogue carries {schema_name!r}")
        self.send(topic, key, schema_name, record)

    def send_tracking(self, event: tracking.TrackingEvent) -> None:
        """A Client Tracking event, keyed by its return."""
        self.send(
            self.topics.tracking, event.return_id, tracking.SCHEMA_NAME, tracking.to_record(event)
        )

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> None:
        """Wait for every delivery report; raise `DeliveryError` for records not acknowledged.

        Each failure is reported once: a later flush raises only for failures that came after.
        """
        self._raise_if_fatal()
        try:
            remaining = self._producer.flush(timeout_s)
        except KafkaException as exc:
            raise self._client_failure(exc, "flush failed") from exc
        if remaining:
            raise DeliveryError(
                f"{remaining} records still undelivered after {timeout_s}s",
                code="_TIMED_OUT",
                retriable=True,
            )
        # Nothing left in flight: every record sent so far was acknowledged or reported failed.
        self.stats.delivered = self.stats.sent - self.stats.failed
        new_failures = self.stats.failed - self._failures_reported
        if new_failures and self.stats.last_error is not None:
            self._failures_reported = self.stats.failed
            raise DeliveryError.of(
                self.stats.last_error, f"{new_failures} of {self.stats.sent} records failed"
            )

    def _produce(self, topic: str, key: str | bytes, value: bytes) -> None:
        producer = self._producer
        try:
            while True:
                try:
                    producer.produce(topic, value, key)
                    break
                except BufferError:  # local queue full: serve delivery reports (backpressure)
                    self.stats.queue_full_waits += 1
                    producer.poll(_QUEUE_FULL_WAIT_S)
            self.stats.sent += 1
            self._until_poll -= 1
            if not self._until_poll:
                self._until_poll = POLL_EVERY
                producer.poll(0)
        except KafkaException as exc:  # fatal errors are raised by poll and produce
            raise self._client_failure(exc, f"cannot send to {topic}") from exc

    def _client_failure(self, exc: KafkaException, context: str) -> DeliveryError:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if error is None:
            return DeliveryError(f"{context}: {exc}")
        if error.fatal():
            self.stats.fatal_error = error
        return DeliveryError.of(error, context)

    def _raise_if_fatal(self) -> None:
        if self.stats.fatal_error is not None:
            raise DeliveryError.of(self.stats.fatal_error, "producer stopped by a fatal error")

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        """Only failures are counted here; `delivered` follows from the queue length."""
        if error is not None:
            self.stats.failed += 1
            self.stats.last_error = error
