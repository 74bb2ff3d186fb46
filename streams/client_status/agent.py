"""Faust adapter of the client status rule: client events and clock ticks in, status out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
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
    CLOCK,
    TICK,
)
from streams.client_status import rules
from streams.client_status.state import ClientState, from_row, to_row
from streams.effects import carry_out, record_trigger
from streams.firms.agent import FirmDirectory
from streams.outbox import Outbox
from streams.timers.wheel import TimerWheel

STAGE = "streams.client_status"


def register_client_status(app: faust.App, outbox: Outbox, firms: FirmDirectory) -> None:
    """Attach the client status agent, its state and timer tables."""
    partitions = CLIENT_EVENTS.partitions
    states = app.Table(CLIENT_STATE.name, default=None, partitions=partitions)
    wheel = TimerWheel(
        app.Table(CLIENT_TIMERS.name, default=None, partitions=partitions),
        app.Table(CLIENT_TIMER_BUCKETS.name, default=None, partitions=partitions),
    )

    async def settle(
        event: faust.EventT[bytes],
        before: ClientState | None,
        result: rules.Result,
        firm_id: str,
        cause: UUID,
        at: datetime,
        subject: str,
    ) -> None:
        """Persist the new state, publish the status if it changed, carry out the outputs."""
        after, outputs = result
        if after is not None and after != before:
            states[after.client_id] = to_row(after)
            await outbox.send(CLIENT_STATUS_TOPIC, after.client_id, status_record(after, cause, at))
        await carry_out(
            outputs,
            outbox=outbox,
            wheel=wheel,
            partition=event.message.partition,
            event=event,
            stage=STAGE,
            firm_id=firm_id,
            cause=cause,
            now=at,
            subject=subject,
            subject_is_return=False,
        )

    async def on_client_event(event: faust.EventT[bytes], record: dict[str, Any]) -> None:
        client_event = clients.from_record(record)
        before = _load(states.get(client_event.client_id))
        result = rules.apply(before, client_event, firms.get(client_event.firm_id))
        await settle(
            event,
            before,
            result,
            client_event.firm_id,
            client_event.event_id,
            client_event.occurred_at,
            client_event.client_id,
        )

    async def on_tick(event: faust.EventT[bytes], now: datetime) -> None:
        for timer in wheel.pop_due(now, event.message.partition):
            await record_trigger(outbox, timer, now)
            before = _load(states.get(timer.subject_id))
            result = rules.on_timer(
                before,
                timer.kind,
                timer.due_at,
                timer.detail,
                timer.trigger_id,
                firms.get(timer.firm_id),
            )
            await settle(
                event,
                before,
                result,
                timer.firm_id,
                timer.trigger_id,
                timer.due_at,
                timer.subject_id,
            )

    @app.agent(outbox.source(CLIENT_EVENTS, CLOCK), name="client-status")
    async def client_status(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            decoded = await outbox.accept(event, STAGE, frozenset({CLIENT_EVENT, TICK}))
            if decoded is None:
                continue
            if decoded.schema_name == TICK:
                await on_tick(event, decoded.record["now"])
            else:
                await on_client_event(event, decoded.record)
            yield None


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
