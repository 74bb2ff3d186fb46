"""Faust adapter of the lockout rule: decode, apply, persist state, emit Access Locked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust

from schemas import tracking
from schemas.catalogue import LOCKOUT_STATE, TRACKING
from schemas.errors import DeserializationError
from streams.errors import UnexpectedRecordError
from streams.firms.agent import FirmDirectory
from streams.lockout.rules import LockoutPolicy, LockoutState, apply
from streams.outbox import Outbox

STAGE = "streams.lockout"


def register_lockout(app: faust.App, outbox: Outbox, firms: FirmDirectory) -> None:
    """Attach the lockout agent and its changelogged state table to `app`."""
    states = app.Table(LOCKOUT_STATE.name, default=None, partitions=LOCKOUT_STATE.source.partitions)

    @app.agent(outbox.source(TRACKING), name="lockout")
    async def lockout(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for message in stream.events():
            try:
                event = _decode(outbox, message.value)
            except (DeserializationError, UnexpectedRecordError) as exc:
                await outbox.reject(message, STAGE, exc)
                continue
            policy = LockoutPolicy(firms.get(event.firm_id).max_access_failures)
            before = _state(states.get(event.subject))
            after, outputs = apply(before, event, policy)
            if after != before:
                states[event.subject] = {
                    "failures": after.consecutive_failures,
                    "locked": after.locked,
                }
            for output in outputs:
                await outbox.send(TRACKING, output.return_id, tracking.to_record(output))
            yield None


def _decode(outbox: Outbox, value: bytes) -> tracking.TrackingEvent:
    decoded = outbox.codec.decode(value)
    if decoded.schema_name != tracking.SCHEMA_NAME:
        raise UnexpectedRecordError(f"expected {tracking.SCHEMA_NAME}, got {decoded.schema_name}")
    return tracking.from_record(decoded.record)


def _state(row: dict[str, Any] | None) -> LockoutState:
    if row is None:
        return LockoutState()
    return LockoutState(consecutive_failures=int(row["failures"]), locked=bool(row["locked"]))
