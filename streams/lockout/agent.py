"""Faust adapter of the lockout rule: decode, apply, persist state, emit Access Locked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust

from schemas import tracking
from schemas.catalogue import LOCKOUT_STATE, TRACKING, TopicNames
from schemas.codec import AvroCodec
from schemas.errors import DeserializationError
from streams.dead_letters import DeadLetterSender, rejected_from
from streams.errors import UnexpectedRecordError
from streams.lockout.rules import LockoutPolicy, LockoutState, apply

STAGE = "streams.lockout"


def register_lockout(
    app: faust.App, topics: TopicNames, codec: AvroCodec, dead_letters: DeadLetterSender
) -> None:
    """Attach the lockout agent and its changelogged state table to `app`."""
    tracking_topic = app.topic(
        topics.tracking,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=TRACKING.partitions,
    )
    states = app.Table(LOCKOUT_STATE.name, default=None, partitions=LOCKOUT_STATE.source.partitions)
    policy = LockoutPolicy()

    @app.agent(tracking_topic, name="lockout")
    async def lockout(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for message in stream.events():
            try:
                event = _decode(codec, message.value)
            except (DeserializationError, UnexpectedRecordError) as exc:
                await dead_letters.send(rejected_from(message), stage=STAGE, error=exc)
                continue
            before = _state(states.get(event.subject))
            after, outputs = apply(before, event, policy)
            if after != before:
                states[event.subject] = {
                    "failures": after.consecutive_failures,
                    "locked": after.locked,
                }
            for output in outputs:
                encoded = codec.encode(
                    tracking.SCHEMA_NAME, tracking.to_record(output), topic=topics.tracking
                )
                await tracking_topic.send(key=message.key, value=encoded)
            yield None


def _decode(codec: AvroCodec, value: bytes) -> tracking.TrackingEvent:
    decoded = codec.decode(value)
    if decoded.schema_name != tracking.SCHEMA_NAME:
        raise UnexpectedRecordError(f"expected {tracking.SCHEMA_NAME}, got {decoded.schema_name}")
    return tracking.from_record(decoded.record)


def _state(row: dict[str, Any] | None) -> LockoutState:
    if row is None:
        return LockoutState()
    return LockoutState(consecutive_failures=int(row["failures"]), locked=bool(row["locked"]))
