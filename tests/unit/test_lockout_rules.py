"""The lockout rule, event by event and as a property over any sequence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from schemas.tracking import Actor, TrackingEvent, TrackingEventType
from streams.lockout.rules import LockoutPolicy, LockoutState, apply
from tests.factories import tracking_event

T = TrackingEventType
FAILED, LINK, ACCESSED, UNLOCKED, LOCKED = (
    T.AUTHENTICATION_FAILED,
    T.ACCESS_LINK_SELECTED,
    T.TAX_RETURN_ACCESSED,
    T.ACCESS_UNLOCKED,
    T.ACCESS_LOCKED,
)


Emitted = list[tuple[TrackingEvent, TrackingEvent]]


def run(
    types: list[TrackingEventType], policy: LockoutPolicy | None = None
) -> tuple[LockoutState, Emitted]:
    """Feed events of the given types in order; returns the end state and (cause, output) pairs."""
    state, emitted = LockoutState(), []
    for minute, event_type in enumerate(types):
        event = tracking_event(event_type, minute=minute)
        state, outputs = apply(state, event, policy or LockoutPolicy())
        emitted.extend((event, output) for output in outputs)
    return state, emitted


def test_third_consecutive_failure_locks_and_emits_access_locked() -> None:
    state, emitted = run([FAILED, FAILED, FAILED])
    assert state == LockoutState(consecutive_failures=3, locked=True)
    [(cause, locked)] = emitted
    assert locked.event_type is LOCKED
    assert locked.caused_by == cause.event_id
    assert locked.actor is Actor.SYSTEM
    assert locked.occurred_at == cause.occurred_at
    assert locked.return_id == cause.return_id and locked.recipient_role is cause.recipient_role
    assert locked.failure_reason is None


def test_lock_id_is_stable_so_a_replay_is_deduplicated() -> None:
    failure = tracking_event(FAILED)
    near_limit = LockoutState(consecutive_failures=2)
    _, [first] = apply(near_limit, failure)
    _, [again] = apply(near_limit, failure)
    assert first.event_id == again.event_id != failure.event_id


def test_two_failures_do_not_lock() -> None:
    assert run([FAILED, FAILED]) == (LockoutState(consecutive_failures=2), [])


def test_a_success_resets_the_count() -> None:
    for success in (LINK, ACCESSED):
        state, emitted = run([FAILED, FAILED, success, FAILED, FAILED])
        assert state == LockoutState(consecutive_failures=2) and emitted == []


def test_while_locked_nothing_but_an_unlock_changes_state() -> None:
    locked = LockoutState(consecutive_failures=3, locked=True)
    for event_type in (FAILED, LINK, ACCESSED, LOCKED, T.INITIAL_EMAIL_OPENED):
        assert apply(locked, tracking_event(event_type)) == (locked, [])
    assert apply(locked, tracking_event(UNLOCKED, actor=Actor.FIRM_USER)) == (LockoutState(), [])


def test_unlock_starts_a_clean_count() -> None:
    state, emitted = run([FAILED, FAILED, FAILED, UNLOCKED, FAILED, FAILED])
    assert state == LockoutState(consecutive_failures=2)
    assert len(emitted) == 1


def test_our_own_access_locked_read_back_after_an_unlock_does_not_relock() -> None:
    state, _ = run([FAILED, FAILED, FAILED, UNLOCKED, LOCKED])
    assert state == LockoutState()


def test_unrelated_events_change_nothing() -> None:
    others = [t for t in T if t not in {FAILED, LINK, ACCESSED, UNLOCKED}]
    start = LockoutState(consecutive_failures=2)
    for event_type in others:
        assert apply(start, tracking_event(event_type)) == (start, [])


def test_limit_comes_from_the_policy() -> None:
    state, emitted = run([FAILED] * 5, LockoutPolicy(max_consecutive_failures=5))
    assert state.locked and len(emitted) == 1


@given(
    st.lists(
        st.sampled_from([FAILED, LINK, ACCESSED, UNLOCKED, LOCKED, T.INITIAL_EMAIL_OPENED]),
        max_size=60,
    )
)
def test_locks_exactly_when_failures_reach_three_in_a_row(types: list[TrackingEventType]) -> None:
    """Reference model: count failures since the last success or unlock; lock at 3."""
    state = LockoutState()
    streak, locked = 0, False
    for minute, event_type in enumerate(types):
        state, outputs = apply(state, tracking_event(event_type, minute=minute))
        expected_lock_now = False
        if event_type is UNLOCKED:
            streak, locked = 0, False
        elif not locked and event_type in (LINK, ACCESSED):
            streak = 0
        elif not locked and event_type is FAILED:
            streak += 1
            expected_lock_now = locked = streak == 3
        assert bool(outputs) == expected_lock_now
        assert state.locked == locked
        assert state.consecutive_failures <= 3
