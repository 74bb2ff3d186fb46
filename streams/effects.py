"""Carries out what a rule decided: events to their topics, timers to the wheel, notifications
to the outbox, rejections to the dead-letter topic."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from schemas import clients, tracking
from schemas.catalogue import CLIENT_EVENTS, NOTIFICATIONS, TRACKING, TRIGGERS
from schemas.tracking import DERIVED_EVENT_NAMESPACE
from streams.errors import IllegalTransitionError
from streams.lanes import Consumed
from streams.outbox import Outbox
from streams.outputs import CancelTimer, Notify, Rejected, ScheduleTimer
from streams.timers.wheel import Timer, TimerWheel


async def carry_out(
    outputs: Sequence[Any],
    *,
    outbox: Outbox,
    wheel: TimerWheel,
    partition: int,
    event: Consumed,
    stage: str,
    firm_id: str,
    cause: UUID,
    now: datetime,
    subject: str,
    subject_is_return: bool,
) -> None:
    """Apply every output of one rule call, in order."""
    for output in outputs:
        if isinstance(output, clients.ClientEvent):
            await outbox.send(CLIENT_EVENTS, output.client_id, clients.to_record(output))
        elif isinstance(output, tracking.TrackingEvent):
            await outbox.send(TRACKING, output.return_id, tracking.to_record(output))
        elif isinstance(output, ScheduleTimer):
            wheel.schedule(
                Timer(output.kind, output.subject_id, output.firm_id, output.due_at, output.detail),
                partition,
            )
        elif isinstance(output, CancelTimer):
            wheel.cancel(output.kind, output.subject_id, partition, output.detail)
        elif isinstance(output, Notify):
            record = notification(output, firm_id, cause, now, subject_is_return)
            await outbox.send(NOTIFICATIONS, subject, record)
        elif isinstance(output, Rejected):
            await outbox.reject(event, stage, IllegalTransitionError(output.reason))


def notification(
    notify: Notify, firm_id: str, cause: UUID, now: datetime, subject_is_return: bool
) -> dict[str, Any]:
    """The outbox record; its id derives from the cause, so a replay asks for the same send."""
    return {
        "notification_id": str(
            uuid5(DERIVED_EVENT_NAMESPACE, f"notify:{notify.message_kind}:{cause}")
        ),
        "requested_at": now,
        "channel": notify.channel,
        "message_kind": notify.message_kind,
        "firm_id": firm_id,
        "client_id": None if subject_is_return else notify.subject_id,
        "return_id": notify.subject_id if subject_is_return else None,
        "recipient_role": None,
        "link_id": notify.link_id,
        "secret_ref": None,
        "caused_by": str(cause),
    }


async def record_trigger(outbox: Outbox, timer: Timer, fired_at: datetime) -> None:
    """Publish that a timer fired (with its idempotency key) before acting on it."""
    await outbox.send(
        TRIGGERS,
        timer.subject_id,
        {
            "trigger_id": str(timer.trigger_id),
            "idempotency_key": timer.idempotency_key,
            "kind": timer.kind.value,
            "firm_id": timer.firm_id,
            "subject_id": timer.subject_id,
            "due_at": timer.due_at,
            "fired_at": fired_at,
            "detail": timer.detail or None,
        },
    )
