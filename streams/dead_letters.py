"""Sends records a processor cannot use to the dead-letter topic, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import faust
import structlog

from schemas import dead_letter
from schemas.codec import AvroCodec
from schemas.dead_letter import Rejected

log = structlog.get_logger(__name__)


def rejected_from(event: faust.EventT[bytes]) -> Rejected:
    """Where a faust event came from, for its dead letter."""
    message = event.message
    return Rejected(
        source_topic=message.topic,
        source_partition=message.partition,
        source_offset=message.offset,
        key=message.key,
        payload=message.value if isinstance(message.value, bytes) else bytes(message.value or b""),
    )


class DeadLetterSender:
    """Publishes DeadLetter records onto the deployment's dead-letter topic."""

    def __init__(self, topic: faust.TopicT, codec: AvroCodec):
        self._topic = topic
        self._codec = codec

    async def send(self, rejected: Rejected, *, stage: str, error: BaseException) -> None:
        record = dead_letter.dead_letter_record(
            rejected, stage=stage, error=error, failed_at=datetime.now(UTC)
        )
        log.warning(
            "dead_letter",
            stage=stage,
            error_type=record["error_type"],
            reason=record["reason"],
            topic=rejected.source_topic,
            partition=rejected.source_partition,
            offset=rejected.source_offset,
        )
        value = self._codec.encode(
            dead_letter.SCHEMA_NAME, record, topic=self._topic.get_topic_name()
        )
        await self._topic.send(key=rejected.key, value=value)
