"""Signing and voucher reminders: when they are scheduled, sent, repeated and stopped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from schemas.firms import FirmSettings
from schemas.tracking import RecipientRole, TrackingEventType
from streams.outputs import CancelTimer, Notify, ScheduleTimer, TriggerKind
from streams.reminders.rules import (
    ReturnLifecycle,
    ReturnState,
    on_lifecycle,
    on_timer,
    on_tracking,
    voucher_reminder_at,
)
from tests.factories import tracking_event

K, T = TriggerKind, TrackingEventType
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FIRM = FirmSettings("F-1", signing_reminder_interval_days=5, voucher_reminder_days_before=7)
APRIL, JUNE = date(2026, 4, 15), date(2026, 6, 15)


def lifecycle(event_type: str, days: float = 0, **fields: Any) -> ReturnLifecycle:
    return ReturnLifecycle(
        uuid4(), event_type, T0 + timedelta(days=days), "F-1", "R-1", "C-1", **fields
    )


def delivered() -> tuple[ReturnState, list[Any]]:
    state, outputs = on_lifecycle(
        None, lifecycle("DELIVERED", signature_required=True, voucher_due_dates=(APRIL, JUNE)), FIRM
    )
    assert state is not None
    return state, outputs


def test_delivery_schedules_signing_and_voucher_reminders() -> None:
    _, outputs = delivered()
    assert outputs == [
        ScheduleTimer(K.SIGNING_REMINDER, "R-1", "F-1", T0 + timedelta(days=5)),
        ScheduleTimer(
            K.VOUCHER_REMINDER, "R-1", "F-1", voucher_reminder_at(APRIL, FIRM), "2026-04-15"
        ),
        ScheduleTimer(
            K.VOUCHER_REMINDER, "R-1", "F-1", voucher_reminder_at(JUNE, FIRM), "2026-06-15"
        ),
    ]
    assert voucher_reminder_at(APRIL, FIRM).date() == date(2026, 4, 8)


def test_signing_reminder_is_sent_and_repeats_every_n_days() -> None:
    state, _ = delivered()
    due = T0 + timedelta(days=5)
    trigger = uuid4()
    after, outputs = on_timer(state, K.SIGNING_REMINDER, due, "", trigger, FIRM)
    reminder = outputs[0]
    assert reminder.event_type is T.SIGNING_REMINDER_SENT and reminder.caused_by == trigger
    assert Notify("SIGNING_REMINDER", "EMAIL", "R-1") in outputs
    assert ScheduleTimer(K.SIGNING_REMINDER, "R-1", "F-1", due + timedelta(days=5)) in outputs
    assert (
        on_timer(state, K.SIGNING_REMINDER, due, "", trigger, FIRM)[1][0].event_id
        == reminder.event_id
    )


@pytest.mark.parametrize("stop", ["SIGNED", "RECALLED", "DELETED"])
def test_signing_reminders_stop_when_signed_recalled_or_deleted(stop: str) -> None:
    state, _ = delivered()
    state, outputs = on_lifecycle(state, lifecycle(stop, 1), FIRM)
    assert CancelTimer(K.SIGNING_REMINDER, "R-1") in outputs
    assert on_timer(state, K.SIGNING_REMINDER, T0 + timedelta(days=5), "", uuid4(), FIRM)[1] == []


def test_a_hard_bounce_of_the_initial_email_stops_signing_reminders() -> None:
    state, _ = delivered()
    state, outputs = on_tracking(state, tracking_event(T.INITIAL_EMAIL_BOUNCED, return_id="R-1"))
    assert outputs == [CancelTimer(K.SIGNING_REMINDER, "R-1")]
    assert on_timer(state, K.SIGNING_REMINDER, T0 + timedelta(days=5), "", uuid4(), FIRM)[1] == []
    cc_bounce = tracking_event(
        T.INITIAL_EMAIL_BOUNCED, return_id="R-1", role=RecipientRole.CC_RECIPIENT
    )
    assert on_tracking(delivered()[0], cc_bounce)[1] == []


def test_a_bounce_applied_before_its_delivery_still_stops_signing_reminders() -> None:
    # tracking and return-lifecycle are read side by side: the bounce may come first
    bounce = tracking_event(T.INITIAL_EMAIL_BOUNCED, return_id="R-1")
    early, outputs = on_tracking(None, bounce)
    assert early is not None and early.email_bounced and not early.delivered and outputs == []
    assert on_lifecycle(early, lifecycle("SIGNED", 1), FIRM) == (early, [])  # not delivered yet
    state, outputs = on_lifecycle(
        early, lifecycle("DELIVERED", signature_required=True, voucher_due_dates=(APRIL,)), FIRM
    )
    assert state.email_bounced and state.delivered
    assert [o.kind for o in outputs if isinstance(o, ScheduleTimer)] == [K.VOUCHER_REMINDER]
    cc_bounce = tracking_event(
        T.INITIAL_EMAIL_BOUNCED, return_id="R-2", role=RecipientRole.CC_RECIPIENT
    )
    assert on_tracking(None, cc_bounce) == (None, [])


def test_a_later_delivery_starts_with_a_fresh_email() -> None:
    state, _ = delivered()
    bounced, _ = on_tracking(state, tracking_event(T.INITIAL_EMAIL_BOUNCED, return_id="R-1"))
    again, outputs = on_lifecycle(bounced, lifecycle("DELIVERED", 9, signature_required=True), FIRM)
    assert again is not None and not again.email_bounced
    assert any(isinstance(o, ScheduleTimer) and o.kind is K.SIGNING_REMINDER for o in outputs)


def test_payment_suppresses_that_vouchers_reminder_only() -> None:
    state, _ = delivered()
    state, outputs = on_lifecycle(
        state, lifecycle("PAYMENT_RECORDED", 3, voucher_due_date=APRIL), FIRM
    )
    assert outputs == [CancelTimer(K.VOUCHER_REMINDER, "R-1", "2026-04-15")]
    assert (
        on_timer(
            state, K.VOUCHER_REMINDER, voucher_reminder_at(APRIL, FIRM), "2026-04-15", uuid4(), FIRM
        )[1]
        == []
    )
    _, outputs = on_timer(
        state, K.VOUCHER_REMINDER, voucher_reminder_at(JUNE, FIRM), "2026-06-15", uuid4(), FIRM
    )
    assert outputs[0].event_type is T.VOUCHER_REMINDER_SENT and outputs[0].detail == "2026-06-15"


def test_reprocessing_a_recalled_return_restarts_reminders() -> None:
    state, _ = delivered()
    state, _ = on_lifecycle(state, lifecycle("RECALLED", 1), FIRM)
    state, outputs = on_lifecycle(state, lifecycle("REPROCESSED", 2), FIRM)
    assert ScheduleTimer(K.SIGNING_REMINDER, "R-1", "F-1", T0 + timedelta(days=7)) in outputs


def test_zero_interval_turns_reminders_off() -> None:
    off = FirmSettings("F-1", signing_reminder_interval_days=0, voucher_reminder_days_before=0)
    _, outputs = on_lifecycle(
        None, lifecycle("DELIVERED", signature_required=True, voucher_due_dates=(APRIL,)), off
    )
    assert outputs == []


def test_past_due_vouchers_are_not_scheduled() -> None:
    late = lifecycle("DELIVERED", days=40, voucher_due_dates=(APRIL,))
    assert on_lifecycle(None, late, FIRM)[1] == []


def test_events_for_unknown_returns_are_ignored() -> None:
    assert on_lifecycle(None, lifecycle("SIGNED"), FIRM) == (None, [])
