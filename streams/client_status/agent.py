"""Faust adapter of the client status rule: client events and clock ticks in, status out.

Events come in batches; each partition's events are folded in arrival order, outputs are sent
as they are decided, and each changed table key is written once at the end of the batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

import faust

from schemas import clients
from schemas.catalogue import (
    CLIENT_EVENT,
    CLIENT_EVENTS,
    CLIENT_STATE,
    CLIENT_STATUS_TOPIC,
    CLIENT_TIMER_BUCKETS,
    CLIENT_TIMERS,
    CLIENTS_JOURNAL,
    CLOCK,
    TICK,
)
from streams.batches import BatchLimits, BatchTable
from streams.client_status import rules
from streams.client_status.state import ClientState, from_row, to_row
from streams.effects import carry_out
from streams.firms.agent import BatchFirms, FirmDirectory
from streams.lanes import Consumed
from streams.outbox import Outbox
from streams.partition_folds import fold_batches, journaled_tables
from streams.timers.continuation import fire_due
from streams.timers.wheel import TimerWheel

STAGE = "streams.client_status"
ACCEPTED = frozenset({CLIENT_EVENT, TICK})


TABLES = (CLIENT_STATE, CLIENT_TIMERS, CLIENT_TIMER_BUCKETS)


def register_client_status(
    app: faust.App, outbox: Outbox, firms: FirmDirectory, limits: BatchLimits
) -> None:
    """Attach the client status agent, its state and timer tables and its journal."""
    tables, journal = journaled_tables(
        app, outbox.sends, TABLES, CLIENTS_JOURNAL, CLIENT_EVENTS.partitions
    )

    @app.agent(outbox.source(CLIENT_EVENTS, CLOCK), name="client-status")
    async def client_status(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        fold = partial(ClientsBatch, tables, outbox, limits.timers_per_tick)
        async for _ in fold_batches(stream, limits, journal, firms, fold):
            yield None


class ClientsBatch:
    """One partition's share of a batch, folded through the client status rule."""

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
        self.states, timers, buckets = self.tables
        self.wheel = TimerWheel(timers, buckets)

    async def run(self, events: Sequence[Consumed]) -> None:
        """Apply the events in order (the journal writes the changed keys)."""
        for event in events:
            decoded = await self.outbox.accept(event, STAGE, ACCEPTED)
            if decoded is None:
                continue
            if decoded.schema_name == TICK:
                await self.on_tick(event, decoded.record["now"])
            else:
                await self.on_client_event(event, decoded.record)

    async def on_client_event(self, event: Consumed, record: dict[str, Any]) -> None:
        client_event = clients.from_record(record)
        before = _load(self.states.get(client_event.client_id))
        result = rules.apply(before, client_event, self.firms.get(client_event.firm_id))
        await self.settle(
            event,
            before,
            result,
            client_event.firm_id,
            client_event.event_id,
            client_event.occurred_at,
            client_event.client_id,
        )

    async def on_tick(self, event: Consumed, now: datetime) -> None:
        limit = self.timers_per_tick
        async for timer in fire_due(self.wheel, self.outbox, event, now, limit):
            before = _load(self.states.get(timer.subject_id))
            result = rules.on_timer(
                before,
                timer.kind,
                timer.due_at,
                timer.detail,
                timer.trigger_id,
                self.firms.get(timer.firm_id),
            )
            await self.settle(
                event,
                before,
                result,
                timer.firm_id,
                timer.trigger_id,
                timer.due_at,
                timer.subject_id,
            )

    async def settle(
        self,
        event: Consumed,
        before: ClientState | None,
        result: rules.Result,
        firm_id: str,
        cause: UUID,
        at: datetime,
        subject: str,
    ) -> None:
        """Publish the status if it changed, carry out the outputs, keep the new state."""
        after, outputs = result
        changed = after if after is not None and after != before else None
        if changed is not None:
            status = status_record(changed, cause, at)
            await self.outbox.send(CLIENT_STATUS_TOPIC, changed.client_id, status)
        await carry_out(
            outputs,
            outbox=self.outbox,
            wheel=self.wheel,
            partition=event.partition,
            event=event,
            stage=STAGE,
            firm_id=firm_id,
            cause=cause,
            now=at,
            subject=subject,
            subject_is_return=False,
        )
        if changed is not None:
            self.states[changed.client_id] = to_row(changed)


def status_record(state: ClientState, cause: UUID, at: datetime) -> dict[str, Any]:
    """The compacted client-status record for a state."""
    return {
        "client_id": state.client_id,
        "firm_id": state.firm_id,
        "status": state.status.value,
        "identity_verified": state.identity_verified,
        "verification_method": state.verification_method.value
        if state.verification_method
        else None,
        "origin": state.origin.value,
        "has_email": state.has_email,
        "active_link_id": state.active_link_id,
        "active_link_expires_at": state.active_link_expires_at,
        "login_locked_until": state.login_locked_until,
        "updated_at": at,
        "caused_by": str(cause),
    }


def _load(row: dict[str, Any] | None) -> ClientState | None:
    return from_row(row) if row is not None else None
