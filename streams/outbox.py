"""The worker's side of the catalogue: subscriptions, encoded sends and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust
import structlog

from schemas import dead_letter
from schemas.catalogue import ALL_TOPICS, DEAD_LETTERS, TopicNames, TopicSpec
from schemas.codec import AvroCodec, Decoded
from schemas.dead_letter import OVERSIZED_KEPT_BYTES, Rejected
from schemas.errors import DeserializationError, RecordTooLargeError
from streams.errors import UnexpectedRecordError
from streams.lanes import Consumed
from streams.raw_records import RawRecords
from streams.sends import Sends

log = structlog.get_logger(__name__)


def _raw(app: faust.App, *names: str, spec: TopicSpec | None = None) -> faust.TopicT:
    return app.topic(
        *names,
        schema=RawRecords(),
        partitions=spec.partitions if spec else None,
        internal=False,
    )


class Outbox:
    """Sources for agents (one faust topic per catalogue entry, or several read as one) and
    encoded sends."""

    def __init__(
        self,
        app: faust.App,
        names: TopicNames,
        codec: AvroCodec,
        max_record_bytes: int,
        sends: Sends,
    ):
        self.app = app
        self.names = names
        self.codec = codec
        self.max_record_bytes = max_record_bytes
        self.sends = sends
        self._topics = {spec.name: _raw(app, names.of(spec), spec=spec) for spec in ALL_TOPICS}

    def source(self, *specs: TopicSpec) -> faust.TopicT:
        """What an agent subscribes to: co-partitioned topics read as one stream."""
        if len(specs) == 1:
            return self._topics[specs[0].name]
        return _raw(self.app, *(self.names.of(spec) for spec in specs))

    async def send(
        self, spec: TopicSpec, key: str | None, record: dict[str, Any], partition: int | None = None
    ) -> None:
        """Encode `record` with the topic's schema and send it (keyed: same partition per key)."""
        topic = self.names.of(spec)
        value = self.codec.encode(spec.value_schema, record, topic=topic)
        await self._publish(topic, key.encode() if key is not None else None, value, partition)

    async def _publish(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None
    ) -> None:
        """Queue the record on the worker's producer (streams/sends.py); its partitioner is the
        Java-compatible murmur2 of the key, like faust's `Topic.send`."""
        await self.sends.send(topic, key, value, partition)

    async def accept(self, event: Consumed, stage: str, expected: frozenset[str]) -> Decoded | None:
        """The decoded record, or None once an unreadable, unexpected or oversized one is
        dead-lettered."""
        value = event.value
        if value is None:  # a tombstone: no event in it
            await self.reject(event, stage, DeserializationError("record has no value"))
            return None
        if len(value) > self.max_record_bytes:
            kept = min(len(value), OVERSIZED_KEPT_BYTES)
            too_large = RecordTooLargeError(len(value), self.max_record_bytes, kept)
            await self.reject(event, stage, too_large, kept_bytes=kept)
            return None
        try:
            decoded = self.codec.decode(value)
        except DeserializationError as exc:
            await self.reject(event, stage, exc)
            return None
        if decoded.schema_name not in expected:
            error = UnexpectedRecordError(f"{decoded.schema_name} on {event.topic}")
            await self.reject(event, stage, error)
            return None
        return decoded

    async def reject(
        self,
        event: Consumed,
        stage: str,
        error: BaseException,
        kept_bytes: int | None = None,
    ) -> None:
        """Keep an unusable record on the dead-letter topic with the reason (and its first
        `kept_bytes` bytes only, if given)."""
        message = event
        payload = message.value if isinstance(message.value, bytes) else b""
        rejected = Rejected(
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            key=message.key,
            payload=payload if kept_bytes is None else payload[:kept_bytes],
        )
        record = dead_letter.dead_letter_record(
            rejected, stage=stage, error=error, failed_at=datetime.now(UTC)
        )
        log.warning(
            "dead_letter",
            stage=stage,
            error_type=record["error_type"],
            reason=record["reason"],
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        topic = self.names.of(DEAD_LETTERS)
        value = self.codec.encode(dead_letter.SCHEMA_NAME, record, topic=topic)
        await self._publish(topic, message.key, value, None)
