"""Return reminders as pure functions: signing every N days until signed, recalled or deleted
(or the initial email hard-bounced); voucher reminders N days before each unpaid due date."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID, uuid5

from schemas.firms import FirmSettings
from schemas.tracking import (
    DERIVED_EVENT_NAMESPACE,
    Actor,
    RecipientRole,
    TrackingEvent,
    TrackingEventType,
)
from streams.outputs import CancelTimer, Notify, ScheduleTimer, TriggerKind

K, T = TriggerKind, TrackingEventType
# Voucher reminders go out at this time (UTC) of the reminder day: morning in the Americas.
VOUCHER_REMINDER_TIME = time(14, 0)
# The only touch `on_tracking` acts on; any other leaves the state as it is and emits nothing,
# so an adapter may skip reading state for it.
TRACKING_ACTED_ON = frozenset({T.INITIAL_EMAIL_BOUNCED})

Output = TrackingEvent | ScheduleTimer | CancelTimer | Notify


@dataclass(frozen=True, slots=True)
class ReturnLifecycle:
    """The facts of ReturnLifecycleEvent this rule needs (see its .avsc)."""

    event_id: UUID
    event_type: str  # DELIVERED | RECALLED | REPROCESSED | SIGNED | PAYMENT_RECORDED | DELETED
    occurred_at: datetime
    firm_id: str
    return_id: str
    client_id: str | None = None
    signature_required: bool = False
    voucher_due_dates: tuple[date, ...] = ()
    voucher_due_date: date | None = None


@dataclass(frozen=True, slots=True)
class ReturnState:
    firm_id: str
    return_id: str
    client_id: str | None = None
    signature_required: bool = False
    signed: bool = False
    closed: bool = False  # recalled or deleted
    email_bounced: bool = False
    unpaid_vouchers: frozenset[date] = field(default_factory=frozenset)
    # False: only the taxpayer's bounce is known so far. Tracking and lifecycle are read side
    # by side, so a bounce can be applied before the DELIVERED that sent the email.
    delivered: bool = True


Result = tuple[ReturnState | None, list[Output]]


def on_lifecycle(state: ReturnState | None, event: ReturnLifecycle, firm: FirmSettings) -> Result:
    """Fold a firm-side return event into the return's reminder state."""
    if event.event_type == "DELIVERED":
        fresh = ReturnState(
            event.firm_id,
            event.return_id,
            event.client_id,
            event.signature_required,
            email_bounced=state is not None and not state.delivered and state.email_bounced,
            unpaid_vouchers=frozenset(event.voucher_due_dates),
        )
        return fresh, _schedule_all(fresh, event.occurred_at, firm)
    if state is None or not state.delivered:
        return state, []
    if event.event_type in ("RECALLED", "DELETED"):
        return replace(state, closed=True), _cancel_all(state)
    if event.event_type == "REPROCESSED":
        reopened = replace(state, closed=False)
        return reopened, _schedule_all(reopened, event.occurred_at, firm)
    if event.event_type == "SIGNED":
        return replace(state, signed=True), [CancelTimer(K.SIGNING_REMINDER, state.return_id)]
    if event.event_type == "PAYMENT_RECORDED" and event.voucher_due_date is not None:
        paid = event.voucher_due_date
        return (
            replace(state, unpaid_vouchers=state.unpaid_vouchers - {paid}),
            [CancelTimer(K.VOUCHER_REMINDER, state.return_id, paid.isoformat())],
        )
    return state, []


def on_tracking(state: ReturnState | None, event: TrackingEvent) -> Result:
    """A bounced initial email to the taxpayer stops signing reminders (nobody receives them)."""
    bounced = (
        event.event_type is T.INITIAL_EMAIL_BOUNCED
        and event.recipient_role is RecipientRole.TAXPAYER
    )
    if not bounced or (state is not None and state.email_bounced):
        return state, []
    if state is None:  # ahead of its DELIVERED: kept until the return is delivered
        return ReturnState(event.firm_id, event.return_id, email_bounced=True, delivered=False), []
    return replace(state, email_bounced=True), [CancelTimer(K.SIGNING_REMINDER, state.return_id)]


def on_timer(
    state: ReturnState | None,
    kind: TriggerKind,
    due_at: datetime,
    detail: str,
    trigger_id: UUID,
    firm: FirmSettings,
) -> Result:
    """A reminder came due: send it if it still applies, and schedule the next one."""
    if state is None or state.closed:
        return state, []
    if kind is K.SIGNING_REMINDER and _wants_signing_reminders(state, firm):
        reminder = _tracking(state, T.SIGNING_REMINDER_SENT, due_at, trigger_id)
        follow_up = ScheduleTimer(
            K.SIGNING_REMINDER,
            state.return_id,
            state.firm_id,
            due_at + timedelta(days=firm.signing_reminder_interval_days),
        )
        notify = Notify("SIGNING_REMINDER", "EMAIL", state.return_id)
        return state, [reminder, notify, follow_up]
    if kind is K.VOUCHER_REMINDER and date.fromisoformat(detail) in state.unpaid_vouchers:
        reminder = _tracking(state, T.VOUCHER_REMINDER_SENT, due_at, trigger_id, detail=detail)
        return state, [reminder, Notify("VOUCHER_REMINDER", "EMAIL", state.return_id)]
    return state, []


def voucher_reminder_at(due: date, firm: FirmSettings) -> datetime:
    return datetime.combine(
        due - timedelta(days=firm.voucher_reminder_days_before), VOUCHER_REMINDER_TIME, UTC
    )


def _schedule_all(state: ReturnState, since: datetime, firm: FirmSettings) -> list[Output]:
    outputs: list[Output] = []
    if _wants_signing_reminders(state, firm):
        due = since + timedelta(days=firm.signing_reminder_interval_days)
        outputs.append(ScheduleTimer(K.SIGNING_REMINDER, state.return_id, state.firm_id, due))
    if firm.voucher_reminder_days_before > 0:
        for due_date in sorted(state.unpaid_vouchers):
            at = voucher_reminder_at(due_date, firm)
            if at > since:
                outputs.append(
                    ScheduleTimer(
                        K.VOUCHER_REMINDER, state.return_id, state.firm_id, at, due_date.isoformat()
                    )
                )
    return outputs


def _cancel_all(state: ReturnState) -> list[Output]:
    cancels: list[Output] = [CancelTimer(K.SIGNING_REMINDER, state.return_id)]
    cancels += [
        CancelTimer(K.VOUCHER_REMINDER, state.return_id, due.isoformat())
        for due in sorted(state.unpaid_vouchers)
    ]
    return cancels


def _wants_signing_reminders(state: ReturnState, firm: FirmSettings) -> bool:
    return (
        state.signature_required
        and not state.signed
        and not state.closed
        and not state.email_bounced
        and firm.signing_reminder_interval_days > 0
    )


def _tracking(
    state: ReturnState,
    event_type: TrackingEventType,
    at: datetime,
    cause: UUID,
    detail: str | None = None,
) -> TrackingEvent:
    return TrackingEvent(
        event_id=uuid5(DERIVED_EVENT_NAMESPACE, f"{event_type}:{cause}"),
        event_type=event_type,
        occurred_at=at,
        firm_id=state.firm_id,
        return_id=state.return_id,
        actor=Actor.SYSTEM,
        client_id=state.client_id,
        detail=detail,
        caused_by=cause,
    )
