"""Faust adapter of the per-return rules: tracking, return lifecycle and clock ticks in.

One agent reads everything keyed by return, so each tracking event is decoded once and both
rules see it: the lockout rule (3 consecutive failures -> Access Locked) and the reminder
rules (signing and voucher reminders, stopped by a bounced initial email).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from uuid import UUID

import faust

from schemas import tracking
from schemas.catalogue import (
    CLOCK,
    LOCKOUT_STATE,
    RETURN_LIFECYCLE,
    RETURN_LIFECYCLE_EVENT,
    RETURN_STATE,
    RETURN_TIMER_BUCKETS,
    RETURN_TIMERS,
    TICK,
    TRACKING,
    TRACKING_EVENT,
)
from streams.effects import carry_out, record_trigger
from streams.firms.agent import FirmDirectory
from streams.lockout import rules as lockout
from streams.lockout.rules import LockoutPolicy, LockoutState
from streams.outbox import Outbox
from streams.reminders import rules
from streams.reminders.rules import ReturnLifecycle, ReturnState
from streams.timers.wheel import TimerWheel

STAGE = "streams.returns"
ACCEPTED = frozenset({TRACKING_EVENT, RETURN_LIFECYCLE_EVENT, TICK})


def register_returns(app: faust.App, outbox: Outbox, firms: FirmDirectory) -> None:
    """Attach the per-return agent, its lockout, reminder and timer tables."""
    partitions = RETURN_LIFECYCLE.partitions
    locks = app.Table(LOCKOUT_STATE.name, default=None, partitions=partitions)
    states = app.Table(RETURN_STATE.name, default=None, partitions=partitions)
    wheel = TimerWheel(
        app.Table(RETURN_TIMERS.name, default=None, partitions=partitions),
        app.Table(RETURN_TIMER_BUCKETS.name, default=None, partitions=partitions),
    )

    async def handle(
        event: faust.EventT[bytes],
        return_id: str,
        result: rules.Result,
        before: ReturnState | None,
        firm_id: str,
        cause: UUID,
        now: datetime,
    ) -> None:
        after, outputs = result
        if after is not None and after != before:
            states[return_id] = to_row(after)
        await carry_out(
            outputs,
            outbox=outbox,
            wheel=wheel,
            partition=event.message.partition,
            event=event,
            stage=STAGE,
            firm_id=firm_id,
            cause=cause,
            now=now,
            subject=return_id,
            subject_is_return=True,
        )

    async def apply_lockout(touch: tracking.TrackingEvent) -> None:
        policy = LockoutPolicy(firms.get(touch.firm_id).max_access_failures)
        before = _lock_state(locks.get(touch.subject))
        after, outputs = lockout.apply(before, touch, policy)
        if after != before:
            locks[touch.subject] = {"failures": after.consecutive_failures, "locked": after.locked}
        for output in outputs:
            await outbox.send(TRACKING, output.return_id, tracking.to_record(output))

    async def on_record(
        event: faust.EventT[bytes], schema_name: str, record: dict[str, Any]
    ) -> None:
        before = from_row(states.get(record["return_id"]))
        if schema_name == RETURN_LIFECYCLE_EVENT:
            lifecycle = lifecycle_from_record(record)
            result = rules.on_lifecycle(before, lifecycle, firms.get(lifecycle.firm_id))
            cause, at = lifecycle.event_id, lifecycle.occurred_at
        else:
            touch = tracking.from_record(record)
            await apply_lockout(touch)
            result = rules.on_tracking(before, touch)
            cause, at = touch.event_id, touch.occurred_at
        await handle(event, record["return_id"], result, before, record["firm_id"], cause, at)

    async def on_tick(event: faust.EventT[bytes], now: datetime) -> None:
        for timer in wheel.pop_due(now, event.message.partition):
            await record_trigger(outbox, timer, now)
            before = from_row(states.get(timer.subject_id))
            result = rules.on_timer(
                before,
                timer.kind,
                timer.due_at,
                timer.detail,
                timer.trigger_id,
                firms.get(timer.firm_id),
            )
            await handle(
                event, timer.subject_id, result, before, timer.firm_id, timer.trigger_id, now
            )

    @app.agent(outbox.source(TRACKING, RETURN_LIFECYCLE, CLOCK), name="returns")
    async def returns(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            decoded = await outbox.accept(event, STAGE, ACCEPTED)
            if decoded is None:
                continue
            if decoded.schema_name == TICK:
                await on_tick(event, decoded.record["now"])
            else:
                await on_record(event, decoded.schema_name, decoded.record)
            yield None


def lifecycle_from_record(record: dict[str, Any]) -> ReturnLifecycle:
    return ReturnLifecycle(
        event_id=UUID(str(record["event_id"])),
        event_type=record["event_type"],
        occurred_at=record["occurred_at"],
        firm_id=record["firm_id"],
        return_id=record["return_id"],
        client_id=record.get("client_id"),
        signature_required=bool(record.get("signature_required")),
        voucher_due_dates=tuple(record.get("voucher_due_dates") or ()),
        voucher_due_date=record.get("voucher_due_date"),
    )


def to_row(state: ReturnState) -> dict[str, Any]:
    row = asdict(state)
    row["unpaid_vouchers"] = sorted(d.isoformat() for d in state.unpaid_vouchers)
    return row


def from_row(row: dict[str, Any] | None) -> ReturnState | None:
    if row is None:
        return None
    vouchers = frozenset(date.fromisoformat(d) for d in row["unpaid_vouchers"])
    return ReturnState(**{**row, "unpaid_vouchers": vouchers})


def _lock_state(row: dict[str, Any] | None) -> LockoutState:
    if row is None:
        return LockoutState()
    return LockoutState(consecutive_failures=int(row["failures"]), locked=bool(row["locked"]))
