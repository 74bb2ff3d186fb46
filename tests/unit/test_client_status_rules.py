"""The Dynamic Password state machine, transition by transition and as properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.clients import (
    ClientEvent,
    ClientEventType,
    ClientOrigin,
    ClientStatusValue,
    InviteTrigger,
    VerificationMethod,
)
from schemas.firms import FirmSettings
from schemas.tracking import Actor
from streams.client_status.rules import apply, invite_refusal, on_timer
from streams.client_status.state import ClientState, from_row, to_row
from streams.outputs import CancelTimer, Notify, Rejected, ScheduleTimer, TriggerKind

E, S, K = ClientEventType, ClientStatusValue, TriggerKind
T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
FIRM = FirmSettings("F-1")


def ev(event_type: ClientEventType, minutes: float = 0, **fields: Any) -> ClientEvent:
    return ClientEvent(uuid4(), event_type, T0 + timedelta(minutes=minutes), "F-1", "C-1", **fields)


def added(**changes: Any) -> ClientState:
    return replace(ClientState("F-1", "C-1", has_email=True), **changes)


def invited(firm: FirmSettings = FIRM) -> ClientState:
    state, _ = apply(added(), ev(E.INVITE_SENT, actor=Actor.FIRM_USER, link_id="L1"), firm)
    assert state is not None
    return state


def connected() -> ClientState:
    state, _ = apply(invited(), ev(E.OTP_VERIFIED, 2), FIRM)
    assert state is not None
    return state


def events(outputs: list[Any]) -> list[ClientEventType]:
    return [o.event_type for o in outputs if isinstance(o, ClientEvent)]


def rejected(outputs: list[Any]) -> bool:
    return any(isinstance(o, Rejected) for o in outputs)


def test_adding_a_client_starts_not_invited() -> None:
    state, outputs = apply(None, ev(E.CLIENT_IMPORTED, email_hash="h"), FIRM)
    assert state == ClientState("F-1", "C-1", origin=ClientOrigin.IMPORT, has_email=True)
    assert outputs == []


def test_events_for_unknown_or_duplicate_clients_are_rejected() -> None:
    assert rejected(apply(None, ev(E.INVITE_SENT), FIRM)[1])
    assert rejected(apply(added(), ev(E.CLIENT_ADDED), FIRM)[1])


def test_manual_invite_makes_the_client_not_enrolled_with_one_live_link() -> None:
    state, outputs = apply(added(), ev(E.INVITE_SENT, actor=Actor.FIRM_USER, link_id="L1"), FIRM)
    assert state is not None and state.status is S.NOT_ENROLLED
    assert state.active_link_id == "L1"
    assert state.active_link_expires_at == T0 + timedelta(days=14)
    assert events(outputs) == [E.STATUS_CHANGED]
    assert ScheduleTimer(K.LINK_EXPIRY, "C-1", "F-1", T0 + timedelta(days=14), "L1") in outputs
    assert CancelTimer(K.AUTOMATIC_INVITE, "C-1") in outputs
    assert not any(isinstance(o, Notify) for o in outputs)  # the service emailed it


@pytest.mark.parametrize(
    ("state", "firm", "reason"),
    [
        (added(), FirmSettings("F-1", sso_enabled=True), "single sign-on"),
        (added(origin=ClientOrigin.API), FIRM, "API"),
        (added(has_email=False), FIRM, "no email"),
        (added(status=S.NOT_ENROLLED), FIRM, "Not Invited"),
        (added(status=S.CONNECTED), FIRM, "Not Invited"),
    ],
)
def test_invite_requirements(state: ClientState, firm: FirmSettings, reason: str) -> None:
    refusal = invite_refusal(state, firm)
    assert refusal is not None and reason in refusal
    after, outputs = apply(state, ev(E.INVITE_SENT, link_id="L9"), firm)
    assert after == state
    assert [o.reason for o in outputs if isinstance(o, Rejected)] == [refusal]


def test_our_own_invite_read_back_changes_nothing() -> None:
    state = invited()
    assert apply(state, ev(E.INVITE_SENT, link_id="L1"), FIRM) == (state, [])


def test_email_change_while_not_enrolled_reinvites_and_supersedes_the_old_link() -> None:
    state, outputs = apply(invited(), ev(E.EMAIL_CHANGED, 5, email_hash="h2"), FIRM)
    assert state is not None
    new_link = state.active_link_id
    assert new_link not in (None, "L1")
    assert events(outputs) == [E.INVITE_SENT, E.LINK_SUPERSEDED]
    invite, superseded = (o for o in outputs if isinstance(o, ClientEvent))
    assert invite.invite_trigger is InviteTrigger.EMAIL_CHANGED and invite.link_id == new_link
    assert superseded.link_id == "L1" and superseded.superseded_by == new_link
    assert Notify("DYNAMIC_PASSWORD_INVITE", "EMAIL", "C-1", new_link) in outputs
    assert CancelTimer(K.LINK_EXPIRY, "C-1", "L1") in outputs
    assert apply(state, invite, FIRM) == (state, [])  # read back


def test_our_own_reinvite_read_back_after_a_newer_one_changes_nothing() -> None:
    first, outputs = apply(invited(), ev(E.EMAIL_CHANGED, 5, email_hash="h2"), FIRM)
    assert first is not None
    first_invite = next(
        o for o in outputs if isinstance(o, ClientEvent) and o.event_type is E.INVITE_SENT
    )
    second, _ = apply(first, ev(E.EMAIL_CHANGED, 6, email_hash="h3"), FIRM)
    assert second is not None and second.active_link_id != first_invite.link_id
    assert apply(second, first_invite, FIRM) == (second, [])  # late, not a refusal


def test_an_invite_for_a_stale_link_from_elsewhere_is_still_refused() -> None:
    state, _ = apply(invited(), ev(E.EMAIL_CHANGED, 5, email_hash="h2"), FIRM)
    assert state is not None
    _, outputs = apply(state, ev(E.INVITE_SENT, 7, link_id="L-other"), FIRM)
    assert rejected(outputs)


def test_email_change_in_other_statuses_only_records_the_address() -> None:
    state, outputs = apply(added(has_email=False), ev(E.EMAIL_CHANGED, email_hash="h"), FIRM)
    assert state == added() and outputs == []
    state, outputs = apply(connected(), ev(E.EMAIL_CHANGED, 9, email_hash="h"), FIRM)
    assert state == connected() and outputs == []


def test_reminder_and_new_login_link_supersede_the_previous_link() -> None:
    state, outputs = apply(invited(), ev(E.INVITATION_REMINDER_SENT, 1, link_id="L2"), FIRM)
    assert state is not None and state.active_link_id == "L2"
    assert events(outputs) == [E.LINK_SUPERSEDED]
    state, outputs = apply(connected(), ev(E.NEW_LOGIN_LINK_SENT, 3, link_id="L3"), FIRM)
    assert state is not None and state.active_link_id == "L3" and state.status is S.CONNECTED


def test_reminders_only_while_not_enrolled() -> None:
    assert rejected(apply(added(), ev(E.INVITATION_REMINDER_SENT, link_id="L2"), FIRM)[1])
    assert rejected(apply(connected(), ev(E.INVITATION_REMINDER_SENT, link_id="L2"), FIRM)[1])


@pytest.mark.parametrize(
    ("link", "minutes", "reason"),
    [("L0", 1, "superseded or unknown"), ("L1", 14 * 24 * 60 + 1, "expired")],
)
def test_stale_links_are_rejected(link: str, minutes: float, reason: str) -> None:
    outputs = apply(invited(), ev(E.LINK_SELECTED, minutes, link_id=link), FIRM)[1]
    assert [o.reason for o in outputs if isinstance(o, Rejected)][0].find(reason) >= 0


def test_the_current_link_is_accepted() -> None:
    state = invited()
    assert apply(state, ev(E.LINK_SELECTED, 1, link_id="L1"), FIRM) == (state, [])


def test_otp_verification_connects_and_verifies_identity() -> None:
    state, outputs = apply(invited(), ev(E.OTP_VERIFIED, 2), FIRM)
    assert state is not None and state.status is S.CONNECTED and state.identity_verified
    assert state.verification_method is VerificationMethod.OTP_SMS
    assert events(outputs) == [E.IDENTITY_VERIFIED, E.STATUS_CHANGED]
    status_change = next(o for o in outputs if isinstance(o, ClientEvent) and o.status_to)
    assert (status_change.status_from, status_change.status_to) == (S.NOT_ENROLLED, S.CONNECTED)


def test_ssn_verification_needs_the_firm_setting() -> None:
    assert rejected(apply(invited(), ev(E.SSN_CHECK_PASSED, 2), FIRM)[1])
    allows = FirmSettings("F-1", ssn_verification_allowed=True)
    state, _ = apply(invited(allows), ev(E.SSN_CHECK_PASSED, 2), allows)
    assert state is not None and state.verification_method is VerificationMethod.SSN_LAST4


def test_firm_confirmation_connects() -> None:
    confirm = ev(
        E.IDENTITY_VERIFIED,
        2,
        actor=Actor.FIRM_USER,
        firm_user="U-1",
        verification_method=VerificationMethod.FIRM_CONFIRMATION,
    )
    state, outputs = apply(invited(), confirm, FIRM)
    assert state is not None and state.status is S.CONNECTED and state.identity_verified
    assert events(outputs) == [E.STATUS_CHANGED]
    assert rejected(apply(added(), confirm, FIRM)[1])  # nothing to confirm before an invite


def test_third_wrong_code_locks_the_login_for_two_hours_then_a_timer_unlocks() -> None:
    state: ClientState | None = invited()
    outputs: list[Any] = []
    for minute in (1, 2, 3):
        state, outputs = apply(state, ev(E.OTP_FAILED, minute, failure_reason="WRONG_CODE"), FIRM)
    assert state is not None and state.login_locked_until == T0 + timedelta(minutes=123)
    assert events(outputs) == [E.LOGIN_LOCKED]
    assert ScheduleTimer(K.LOGIN_UNLOCK, "C-1", "F-1", state.login_locked_until) in outputs
    for blocked in (E.OTP_FAILED, E.OTP_VERIFIED, E.OTP_SENT, E.SSN_CHECK_FAILED):
        assert rejected(apply(state, ev(blocked, 10), FIRM)[1])
    unlocked, outputs = on_timer(state, K.LOGIN_UNLOCK, state.login_locked_until, "", uuid4(), FIRM)
    assert unlocked is not None and unlocked.login_locked_until is None
    assert unlocked.login_failures == 0 and events(outputs) == [E.LOGIN_UNLOCKED]


def test_wrong_ssn_digits_count_toward_the_same_lock() -> None:
    allows = FirmSettings("F-1", ssn_verification_allowed=True)
    state: ClientState | None = invited(allows)
    for minute, kind in enumerate((E.OTP_FAILED, E.SSN_CHECK_FAILED, E.OTP_FAILED)):
        state, outputs = apply(state, ev(kind, minute + 1), allows)
    assert state is not None and state.login_locked_until is not None


def test_a_success_resets_the_failure_count() -> None:
    state, _ = apply(connected(), ev(E.OTP_FAILED, 3), FIRM)
    state, _ = apply(state, ev(E.OTP_FAILED, 4), FIRM)
    state, _ = apply(state, ev(E.OTP_VERIFIED, 5), FIRM)
    assert state is not None and state.login_failures == 0


def test_messages_only_to_connected_verified_clients() -> None:
    assert rejected(apply(invited(), ev(E.MESSAGE_SENT), FIRM)[1])
    assert apply(connected(), ev(E.MESSAGE_SENT, 9), FIRM) == (connected(), [])
    assert not invited().activity_shared and connected().activity_shared


def test_password_only_once_connected() -> None:
    assert rejected(apply(invited(), ev(E.PASSWORD_SET), FIRM)[1])
    assert not rejected(apply(connected(), ev(E.PASSWORD_SET, 9), FIRM)[1])


@pytest.mark.parametrize("leave", [E.CONNECTED_ELSEWHERE, E.DISCONNECTED])
def test_leaving_drops_the_link_and_timers(leave: ClientEventType) -> None:
    state, outputs = apply(invited(), ev(leave, 3), FIRM)
    assert state is not None and state.status.value == leave.value and state.active_link_id is None
    assert CancelTimer(K.LINK_EXPIRY, "C-1", "L1") in outputs
    assert events(outputs) == [E.STATUS_CHANGED]


def test_first_pending_request_schedules_an_automatic_invite_when_enabled() -> None:
    auto = FirmSettings("F-1", automatic_invites_enabled=True, automatic_invite_grace_days=3)
    state, outputs = apply(added(), ev(E.GET_REQUEST_SENT), auto)
    assert outputs == [ScheduleTimer(K.AUTOMATIC_INVITE, "C-1", "F-1", T0 + timedelta(days=3))]
    again, outputs = apply(state, ev(E.GET_REQUEST_SENT, 60), auto)
    assert outputs == [] and again == state  # grace counts from the first pending request
    assert apply(added(), ev(E.GET_REQUEST_SENT), FIRM)[1] == []  # off by default


def test_automatic_invite_fires_only_if_still_eligible() -> None:
    auto = FirmSettings("F-1", automatic_invites_enabled=True)
    due = T0 + timedelta(days=3)
    state, outputs = on_timer(added(), K.AUTOMATIC_INVITE, due, "", uuid4(), auto)
    assert state is not None and state.status is S.NOT_ENROLLED
    assert events(outputs) == [E.INVITE_SENT, E.STATUS_CHANGED]
    invite = next(o for o in outputs if isinstance(o, ClientEvent))
    assert invite.invite_trigger is InviteTrigger.AUTOMATIC
    assert any(isinstance(o, Notify) for o in outputs)
    assert on_timer(invited(), K.AUTOMATIC_INVITE, due, "", uuid4(), auto)[1] == []
    sso = FirmSettings("F-1", automatic_invites_enabled=True, sso_enabled=True)
    assert on_timer(added(), K.AUTOMATIC_INVITE, due, "", uuid4(), sso)[1] == []


def test_link_expiry_timer_expires_only_the_current_link() -> None:
    state = invited()
    expired, outputs = on_timer(state, K.LINK_EXPIRY, T0 + timedelta(days=14), "L1", uuid4(), FIRM)
    assert expired is not None and expired.active_link_id is None
    assert expired.status is S.NOT_ENROLLED  # only the link expires
    assert events(outputs) == [E.LINK_EXPIRED]
    assert on_timer(state, K.LINK_EXPIRY, T0, "L0", uuid4(), FIRM) == (state, [])


def test_timer_ids_are_stable_so_a_refire_repeats_the_same_events() -> None:
    auto = FirmSettings("F-1", automatic_invites_enabled=True)
    trigger = uuid4()
    first = on_timer(added(), K.AUTOMATIC_INVITE, T0, "", trigger, auto)
    second = on_timer(added(), K.AUTOMATIC_INVITE, T0, "", trigger, auto)
    assert first == second


def test_rows_round_trip() -> None:
    state = connected()
    assert from_row(to_row(state)) == state


# -- properties ----------------------------------------------------------------------------
STEPS = st.sampled_from(
    [
        E.INVITE_SENT,
        E.INVITATION_REMINDER_SENT,
        E.NEW_LOGIN_LINK_SENT,
        E.LINK_SELECTED,
        E.OTP_SENT,
        E.OTP_FAILED,
        E.OTP_VERIFIED,
        E.SSN_CHECK_FAILED,
        E.SSN_CHECK_PASSED,
        E.IDENTITY_VERIFIED,
        E.EMAIL_CHANGED,
        E.MESSAGE_SENT,
        E.LOGIN_UNLOCKED,
        E.DISCONNECTED,
    ]
)


@settings(max_examples=300)
@given(
    steps=st.lists(st.tuples(STEPS, st.integers(0, 3)), max_size=40),
    ssn=st.booleans(),
    sso=st.booleans(),
)
def test_invariants_over_any_sequence(
    steps: list[tuple[ClientEventType, int]], ssn: bool, sso: bool
) -> None:
    firm = FirmSettings("F-1", ssn_verification_allowed=ssn, sso_enabled=sso)
    state: ClientState | None = added()
    failures_since_unlock = 0
    for minute, (step, link_choice) in enumerate(steps):
        assert state is not None
        link = [None, "L1", state.active_link_id, f"L{minute}"][link_choice]
        before = state
        state, outputs = apply(state, ev(step, minute, link_id=link), firm)
        assert state is not None
        # Connected only through verification; never verified while Not Invited.
        if state.status is S.CONNECTED:
            assert state.identity_verified
        if state.status is S.NOT_INVITED:
            assert not state.identity_verified and state.active_link_id is None
        # Never more wrong attempts accepted than the limit before a lock.
        if step in (E.OTP_FAILED, E.SSN_CHECK_FAILED) and not rejected(outputs):
            failures_since_unlock += 1
            assert failures_since_unlock <= firm.max_otp_failures
        if state.login_failures == 0:
            failures_since_unlock = 0
        # SSO firms never get a client past Not Invited by invite.
        if sso:
            assert state.status in (S.NOT_INVITED, S.DISCONNECTED)
        # Rejected events change nothing.
        if rejected(outputs):
            assert state == before
