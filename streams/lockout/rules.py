"""The lockout rule as a pure function over tracking events."""

from __future__ import annotations

from dataclasses import dataclass, replace

from schemas.tracking import Actor, TrackingEvent, TrackingEventType

T = TrackingEventType

# Touches that prove the recipient authenticated: they reset the failure count.
SUCCESSES = frozenset({T.ACCESS_LINK_SELECTED, T.TAX_RETURN_ACCESSED})
# The touches `apply` acts on; any other touch leaves every state as it is and emits nothing,
# so an adapter may skip reading state for it.
ACTED_ON = frozenset({T.ACCESS_UNLOCKED, T.AUTHENTICATION_FAILED, *SUCCESSES})


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Firm-configurable parameters of the rule."""

    max_consecutive_failures: int = 3


@dataclass(frozen=True, slots=True)
class LockoutState:
    """Per recipient of a return."""

    consecutive_failures: int = 0
    locked: bool = False


DEFAULT_POLICY = LockoutPolicy()


def apply(
    state: LockoutState, event: TrackingEvent, policy: LockoutPolicy = DEFAULT_POLICY
) -> tuple[LockoutState, list[TrackingEvent]]:
    """Fold one tracking event into the recipient's lockout state.

    Returns the new state and the events to emit (`Access Locked` at the failure that reaches
    the limit). The lock is decided here only: an ACCESS_LOCKED read back from the topic (our
    own output) changes nothing, even if a later unlock overtook it. While locked, failures and
    successes change nothing: only a firm user's unlock (ACCESS_UNLOCKED) opens the return
    again, with a clean count.
    """
    if event.event_type is T.ACCESS_UNLOCKED:
        return LockoutState(), []
    if state.locked:
        return state, []
    if event.event_type in SUCCESSES:
        return replace(state, consecutive_failures=0), []
    if event.event_type is not T.AUTHENTICATION_FAILED:
        return state, []
    failures = state.consecutive_failures + 1
    if failures < policy.max_consecutive_failures:
        return replace(state, consecutive_failures=failures), []
    return LockoutState(consecutive_failures=failures, locked=True), [_access_locked(event)]


def _access_locked(failure: TrackingEvent) -> TrackingEvent:
    return replace(
        failure,
        event_id=failure.derived_id("access-locked"),
        event_type=T.ACCESS_LOCKED,
        actor=Actor.SYSTEM,
        failure_reason=None,
        caused_by=failure.event_id,
    )
