"""The one producer of ctrack: idempotent, keyed, validated before send, flushed on exit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ctrack.settings import KafkaSettings
from producers.errors import DeliveryError, MissingKeyError
from schemas import tracking
from schemas.catalogue import TOPIC_OF_SCHEMA, TopicNames
from schemas.codec import AvroCodec
from schemas.errors import SerializationError
from schemas.pii import assert_no_clear_pii

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
    "linger.ms": 5,
    "batch.size": 512 * 1024,
    "queue.buffering.max.messages": 200_000,
    "queue.buffering.max.kbytes": 256 * 1024,
}
FLUSH_TIMEOUT_S = 60.0
_QUEUE_FULL_WAIT_S = 0.05

_WALKED = (str, dict, list, tuple)  # str subclasses (enums), nested values
# A canonical UUID cannot hold anything the PII guard looks for: it has no '@', '+' or '(';
# an SSN or a separated phone number would start at index 0 (every other character follows a
# word character or '-') and need a separator at index 3 or a digit at index 8, where a UUID
# has a hex digit and a dash; a bare phone number would span whole segments (8-4-4-4-12)
# holding 10 or 11 digits in all, and none do (checked by a property test in
# tests/unit/test_producer_validation.py). So event ids, unique per record, skip the regexes,
# which cost a third of the send path.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


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
        self._pii_guard = _PiiGuard()
        self._producer = Producer(
            {
                "bootstrap.servers": kafka.bootstrap,
                **PRODUCER_DEFAULTS,
                **(overrides or {}),
                "on_delivery": self._on_delivery,
            }
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
        self._raise_if_fatal()
        self._pii_guard.check(record, schema_name)
        value = self.codec.encode(schema_name, record, topic=topic)
        self._produce(topic, key.encode() if isinstance(key, str) else key, value)

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

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        try:
            while True:
                try:
                    self._producer.produce(topic, value, key)
                    break
                except BufferError:  # local queue full: serve delivery reports (backpressure)
                    self.stats.queue_full_waits += 1
                    self._producer.poll(_QUEUE_FULL_WAIT_S)
            self.stats.sent += 1
            self._producer.poll(0)
        except KafkaException as exc:  # fatal errors are raised by poll, not reported
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


class _PiiGuard:
    """`assert_no_clear_pii`, asked once per distinct (field, string).

    Most strings of a record repeat (enum symbols, firm, return and client ids, file names) and
    the guard's verdict depends only on the field and the string, so clean ones are remembered
    (up to `capacity`; then the memory starts afresh). Canonical UUIDs need no scan at all.
    """

    def __init__(self, capacity: int = 100_000):
        self._capacity = capacity
        self._remembered = 0
        self._clean: dict[str, set[str]] = {}

    def check(self, record: dict[str, Any], schema_name: str) -> None:
        """Raise `ClearPiiError` naming the field if any string of `record` looks like PII."""
        clean = self._clean
        for name, value in record.items():
            if type(value) is str:
                seen = clean.get(name)
                if (seen is not None and value in seen) or _CANONICAL_UUID.fullmatch(value):
                    continue
                assert_no_clear_pii({name: value}, schema_name)  # raises, naming the field
                self._remember(name, value)
            elif isinstance(value, _WALKED):  # rare: the guard itself walks these
                assert_no_clear_pii(record, schema_name)
                return

    def _remember(self, name: str, value: str) -> None:
        if self._remembered >= self._capacity:
            self._clean.clear()
            self._remembered = 0
        self._clean.setdefault(name, set()).add(value)
        self._remembered += 1
