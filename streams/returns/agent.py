"""Faust adapter of the per-return rules: tracking, return lifecycle and clock ticks in.

One agent reads everything keyed by return, so each tracking event is decoded once and both
rules see it: the lockout rule (3 consecutive failures -> Access Locked) and the reminder
rules (signing and voucher reminders, stopped by a bounced initial email). Events come in
batches; each partition's events are folded in arrival order, outputs are sent as they are
decided, and each changed table key is written once at the end of the batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from functools import partial
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
    RETURNS_JOURNAL,
    TICK,
    TRACKING,
    TRACKING_EVENT,
)
from streams.batches import BatchLimits, BatchTable
from streams.effects import carry_out
from streams.firms.agent import BatchFirms, FirmDirectory
from streams.lanes import Consumed
from streams.lockout import rules as lockout
from streams.lockout.rules import LockoutPolicy, LockoutState
from streams.outbox import Outbox
from streams.partition_folds import fold_batches, journaled_tables
from streams.reminders import rules
from streams.reminders.rules import ReturnLifecycle, ReturnState
from streams.timers.continuation import fire_due
from streams.timers.wheel import TimerWheel

STAGE = "streams.returns"
ACCEPTED = frozenset({TRACKING_EVENT, RETURN_LIFECYCLE_EVENT, TICK})


TABLES = (LOCKOUT_STATE, RETURN_STATE, RETURN_TIMERS, RETURN_TIMER_BUCKETS)


def register_returns(
    app: faust.App, outbox: Outbox, firms: FirmDirectory, limits: BatchLimits
) -> None:
    """Attach the per-return agent, its lockout, reminder and timer tables and its journal."""
    tables, journal = journaled_tables(
        app, outbox.sends, TABLES, RETURNS_JOURNAL, RETURN_LIFECYCLE.partitions
    )

    @app.agent(outbox.source(TRACKING, RETURN_LIFECYCLE, CLOCK), name="returns")
    async def returns(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        fold = partial(ReturnsBatch, tables, outbox, limits.timers_per_tick)
        async for _ in fold_batches(stream, limits, journal, firms, fold):
            yield None


class ReturnsBatch:
    """One partition's share of a batch, folded through the lockout and reminder rules."""

    def __init__(
        self,
        tables: Sequence[BatchTable],
        outbox: Outbox,
        timers_per_tick: int,
        firms: BatchFirms,
    ):
        self.outbox = outbox
        self.timers_per_tick = timers_per_tick
        self.firms = firms
        self.tables = [table.write_back() for table in tables]
        self.locks, self.states, timers, buckets = self.tables
        self.wheel = TimerWheel(timers, buckets)

    async def run(self, events: Sequence[Consumed]) -> None:
        """Apply the events in order (the journal writes the changed keys)."""
        for event in events:
            decoded = await self.outbox.accept(event, STAGE, ACCEPTED)
            if decoded is None:
                continue
            if decoded.schema_name == TICK:
                await self.on_tick(event, decoded.record["now"])
            elif decoded.schema_name == RETURN_LIFECYCLE_EVENT:
                await self.on_lifecycle(event, decoded.record)
            else:
                await self.on_tracking(event, decoded.record)

    async def on_tracking(self, event: Consumed, record: dict[str, Any]) -> None:
        event_type = record["event_type"]
        locks_it = event_type in lockout.ACTED_ON
        if not (locks_it or event_type in rules.TRACKING_ACTED_ON):
            return  # neither rule changes anything for this touch: no state to read
        touch = tracking.from_record(record)
        if locks_it:
            await self.apply_lockout(touch)
        before = from_row(self.states.get(touch.return_id))
        result = rules.on_tracking(before, touch)
        await self.settle(event, touch.return_id, result, before, touch.firm_id, touch)

    async def on_lifecycle(self, event: Consumed, record: dict[str, Any]) -> None:
        lifecycle = lifecycle_from_record(record)
        before = from_row(self.states.get(lifecycle.return_id))
        result = rules.on_lifecycle(before, lifecycle, self.firms.get(lifecycle.firm_id))
        await self.settle(event, lifecycle.return_id, result, before, lifecycle.firm_id, lifecycle)

    async def on_tick(self, event: Consumed, now: datetime) -> None:
        limit = self.timers_per_tick
        async for timer in fire_due(self.wheel, self.outbox, event, now, limit):
            before = from_row(self.states.get(timer.subject_id))
            result = rules.on_timer(
                before,
                timer.kind,
                timer.due_at,
                timer.detail,
                timer.trigger_id,
                self.firms.get(timer.firm_id),
            )
            cause = _Cause(timer.trigger_id, now)
            await self.settle(event, timer.subject_id, result, before, timer.firm_id, cause)

    async def apply_lockout(self, touch: tracking.TrackingEvent) -> None:
        policy = LockoutPolicy(self.firms.get(touch.firm_id).max_access_failures)
        before = _lock_state(self.locks.get(touch.subject))
        after, outputs = lockout.apply(before, touch, policy)
        for output in outputs:
            await self.outbox.send(TRACKING, output.return_id, tracking.to_record(output))
        if after != before:
            self.locks[touch.subject] = {
                "failures": after.consecutive_failures,
                "locked": after.locked,
            }

    async def settle(
        self,
        event: Consumed,
        return_id: str,
        result: rules.Result,
        before: ReturnState | None,
        firm_id: str,
        cause: tracking.TrackingEvent | ReturnLifecycle | _Cause,
    ) -> None:
        """Carry out the rule's outputs, then keep the new state."""
        after, outputs = result
        await carry_out(
            outputs,
            outbox=self.outbox,
            wheel=self.wheel,
            partition=event.partition,
            event=event,
            stage=STAGE,
            firm_id=firm_id,
            cause=cause.event_id,
            now=cause.occurred_at,
            subject=return_id,
            subject_is_return=True,
        )
        if after is not None and after != before:
            self.states[return_id] = to_row(after)


@dataclass(frozen=True, slots=True)
class _Cause:
    """A fired timer as the cause of what the rule decided."""

    event_id: UUID
    occurred_at: datetime


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


# Every field is a plain value: a shallow row is what dataclasses.asdict gives, much cheaper.
_STATE_FIELDS = tuple(f.name for f in fields(ReturnState))


def to_row(state: ReturnState) -> dict[str, Any]:
    row = {name: getattr(state, name) for name in _STATE_FIELDS}
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
