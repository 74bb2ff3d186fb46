"""The stream worker's rules folded in memory: the clean expectation and the baseline's core.

`SeasonFold` applies the same pure rules the faust agents call (lockout, client status,
reminders, delivery roll-up, timers) in the same order per key, and returns what the worker
would send: (schema name, key, record) per output, plus dead letters for rejected records.
Events the rules emit are read back at once, as the worker reads its own outputs from the
topics it consumes (they change no state; a rejected one is a dead letter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from schemas import clients, firms, tracking
from schemas.catalogue import (
    CLIENT_EVENT,
    CLIENT_STATUS,
    DELIVERY_EVENT,
    FIRM_ALERT,
    FIRM_SETTINGS,
    NOTIFICATION_REQUESTED,
    RETURN_LIFECYCLE_EVENT,
    TRACKING_EVENT,
    TRIGGER_FIRED,
)
from schemas.firms import FirmSettings
from streams.client_status import rules as status_rules
from streams.client_status.agent import status_record
from streams.client_status.state import ClientState
from streams.delivery import rules as delivery_rules
from streams.delivery.rules import MessageRollup
from streams.effects import notification
from streams.lockout import rules as lockout_rules
from streams.lockout.rules import LockoutPolicy, LockoutState
from streams.outputs import CancelTimer, Notify, Rejected, ScheduleTimer
from streams.reminders import rules as reminder_rules
from streams.reminders.rules import ReturnState
from streams.returns.agent import lifecycle_from_record
from streams.timers.wheel import Timer, TimerWheel

Record = dict[str, Any]
Output = tuple[str, str | None, Record]  # (schema name, key, record), as the worker sends
DEAD_LETTER = "dead-letter"  # schema slot of a rejection: record = {stage, error_type, reason}
CLIENT_STAGE, RETURNS_STAGE = "streams.client_status", "streams.returns"
_PARTITION = 0  # one wheel for every key: timers of a subject keep their order either way


@dataclass
class _Call:
    """What one rule call needs to carry out its outputs like the worker's `carry_out`."""

    stage: str
    firm_id: str
    cause: UUID
    now: datetime
    subject: str
    subject_is_return: bool


class SeasonFold:
    """Worker state in dicts; `apply` a consumed record, `tick` the clock."""

    def __init__(self) -> None:
        self.firms: dict[str, FirmSettings] = {}
        self.locks: dict[str, LockoutState] = {}
        self.clients: dict[str, ClientState] = {}
        self.returns: dict[str, ReturnState] = {}
        self.rollups: dict[str, MessageRollup] = {}
        self.client_wheel = TimerWheel({}, {})
        self.return_wheel = TimerWheel({}, {})
        self.rejections: Counter[tuple[str, str]] = Counter()  # (stage, reason)

    def firm(self, firm_id: str) -> FirmSettings:
        return self.firms.get(firm_id) or FirmSettings(firm_id)

    # -- records ---------------------------------------------------------------------------
    def apply(self, schema_name: str, record: Record) -> list[Output]:
        """Fold one consumed record; returns everything the worker would send for it."""
        out: list[Output] = []
        if schema_name == FIRM_SETTINGS:
            self.firms[record["firm_id"]] = firms.from_record(record)
        elif schema_name == CLIENT_EVENT:
            self._client_event(clients.from_record(record), out)
        elif schema_name == TRACKING_EVENT:
            self._tracking(tracking.from_record(record), out)
        elif schema_name == RETURN_LIFECYCLE_EVENT:
            self._lifecycle(record, out)
        elif schema_name == DELIVERY_EVENT:
            self._delivery(record, out)
        return out

    def _client_event(self, event: clients.ClientEvent, out: list[Output]) -> None:
        before = self.clients.get(event.client_id)
        result = status_rules.apply(before, event, self.firm(event.firm_id))
        call = _Call(
            CLIENT_STAGE, event.firm_id, event.event_id, event.occurred_at, event.client_id, False
        )
        self._settle_client(before, result, call, out)

    def _settle_client(
        self,
        before: ClientState | None,
        result: status_rules.Result,
        call: _Call,
        out: list[Output],
    ) -> None:
        after, outputs = result
        if after is not None and after != before:
            self.clients[after.client_id] = after
            record = status_record(after, call.cause, call.now)
            out.append((CLIENT_STATUS, after.client_id, record))
        self._carry_out(outputs, self.client_wheel, call, out)

    def _tracking(self, touch: tracking.TrackingEvent, out: list[Output]) -> None:
        policy = LockoutPolicy(self.firm(touch.firm_id).max_access_failures)
        lock_before = self.locks.get(touch.subject, LockoutState())
        lock_after, locked = lockout_rules.apply(lock_before, touch, policy)
        if lock_after != lock_before:
            self.locks[touch.subject] = lock_after
        for derived in locked:
            self._emit_tracking(derived, out)
        before = self.returns.get(touch.return_id)
        result = reminder_rules.on_tracking(before, touch)
        call = _Call(
            RETURNS_STAGE, touch.firm_id, touch.event_id, touch.occurred_at, touch.return_id, True
        )
        self._settle_return(touch.return_id, before, result, call, out)

    def _lifecycle(self, record: Record, out: list[Output]) -> None:
        lifecycle = lifecycle_from_record(record)
        before = self.returns.get(lifecycle.return_id)
        result = reminder_rules.on_lifecycle(before, lifecycle, self.firm(lifecycle.firm_id))
        call = _Call(
            RETURNS_STAGE,
            lifecycle.firm_id,
            lifecycle.event_id,
            lifecycle.occurred_at,
            lifecycle.return_id,
            True,
        )
        self._settle_return(lifecycle.return_id, before, result, call, out)

    def _settle_return(
        self,
        return_id: str,
        before: ReturnState | None,
        result: reminder_rules.Result,
        call: _Call,
        out: list[Output],
    ) -> None:
        after, outputs = result
        if after is not None and after != before:
            self.returns[return_id] = after
        self._carry_out(outputs, self.return_wheel, call, out)

    def _delivery(self, record: Record, out: list[Output]) -> None:
        before = self.rollups.get(record["message_id"])
        after, alerts = delivery_rules.apply(before, record)
        self.rollups[after.message_id] = after
        out.extend((FIRM_ALERT, alert["firm_id"], alert) for alert in alerts)

    # -- outputs ---------------------------------------------------------------------------
    def _carry_out(
        self, outputs: Sequence[Any], wheel: TimerWheel, call: _Call, out: list[Output]
    ) -> None:
        """As `streams.effects.carry_out`, with emitted events read back at once."""
        for output in outputs:
            if isinstance(output, clients.ClientEvent):
                out.append((CLIENT_EVENT, output.client_id, clients.to_record(output)))
                self._client_event(output, out)  # the worker reads its own output back
            elif isinstance(output, tracking.TrackingEvent):
                self._emit_tracking(output, out)
            elif isinstance(output, ScheduleTimer):
                timer = Timer(
                    output.kind, output.subject_id, output.firm_id, output.due_at, output.detail
                )
                wheel.schedule(timer, _PARTITION)
            elif isinstance(output, CancelTimer):
                wheel.cancel(output.kind, output.subject_id, _PARTITION, output.detail)
            elif isinstance(output, Notify):
                record = notification(
                    output, call.firm_id, call.cause, call.now, call.subject_is_return
                )
                out.append((NOTIFICATION_REQUESTED, call.subject, record))
            elif isinstance(output, Rejected):
                self._reject(call.stage, output.reason, out)

    def _emit_tracking(self, event: tracking.TrackingEvent, out: list[Output]) -> None:
        out.append((TRACKING_EVENT, event.return_id, tracking.to_record(event)))
        self._tracking(event, out)  # read back: changes nothing (see lockout.apply)

    def _reject(self, stage: str, reason: str, out: list[Output]) -> None:
        self.rejections[(stage, reason)] += 1
        record = {"stage": stage, "error_type": "IllegalTransitionError", "reason": reason}
        out.append((DEAD_LETTER, None, record))

    # -- clock -----------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[Output]:
        """Fire every timer due at `now`, oldest first and one at a time (so timers the fired
        ones scheduled at or before `now` fire too), clients then returns, as the worker's
        agents do (streams/timers/continuation.py)."""
        out: list[Output] = []
        while timer := self.client_wheel.pop_next(now, _PARTITION):
            out.append((TRIGGER_FIRED, timer.subject_id, trigger_record(timer, now)))
            before = self.clients.get(timer.subject_id)
            result = status_rules.on_timer(
                before,
                timer.kind,
                timer.due_at,
                timer.detail,
                timer.trigger_id,
                self.firm(timer.firm_id),
            )
            call = _Call(
                CLIENT_STAGE, timer.firm_id, timer.trigger_id, timer.due_at, timer.subject_id, False
            )
            self._settle_client(before, result, call, out)
        while timer := self.return_wheel.pop_next(now, _PARTITION):
            out.append((TRIGGER_FIRED, timer.subject_id, trigger_record(timer, now)))
            returned = self.returns.get(timer.subject_id)
            reminder = reminder_rules.on_timer(
                returned,
                timer.kind,
                timer.due_at,
                timer.detail,
                timer.trigger_id,
                self.firm(timer.firm_id),
            )
            call = _Call(
                RETURNS_STAGE, timer.firm_id, timer.trigger_id, now, timer.subject_id, True
            )
            self._settle_return(timer.subject_id, returned, reminder, call, out)
        return out


def trigger_record(timer: Timer, fired_at: datetime) -> Record:
    """The TriggerFired record the worker publishes before acting on a timer."""
    return {
        "trigger_id": str(timer.trigger_id),
        "idempotency_key": timer.idempotency_key,
        "kind": timer.kind.value,
        "firm_id": timer.firm_id,
        "subject_id": timer.subject_id,
        "due_at": timer.due_at,
        "fired_at": fired_at,
        "detail": timer.detail or None,
    }
