"""The walking skeleton's story: a few returns, one of them locked out after 3 wrong SSNs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

from schemas.tracking import (
    Actor,
    AuthFailureReason,
    RecipientRole,
    TrackingEvent,
    TrackingEventType,
)

T = TrackingEventType
FIRM_ID = "firm-demo"


def demo_events(run_id: str, start: datetime) -> Iterator[TrackingEvent]:
    """Events for three returns of one run; ids are derived from the run so reruns are distinct."""
    yield from _locked_out(f"R-{run_id}-1", start)
    yield from _recovered(f"R-{run_id}-2", start)
    yield from _cc_recipient(f"R-{run_id}-3", start)


def expected_locks() -> int:
    """How many Access Locked events `demo_events` must lead to."""
    return 1


def _locked_out(return_id: str, start: datetime) -> Iterator[TrackingEvent]:
    steps = [T.INITIAL_EMAIL_PROCESSED, T.INITIAL_EMAIL_DELIVERED, T.INITIAL_EMAIL_OPENED]
    steps += [T.AUTHENTICATION_FAILED] * 3
    yield from _story(return_id, start, steps)


def _recovered(return_id: str, start: datetime) -> Iterator[TrackingEvent]:
    steps = [
        T.INITIAL_EMAIL_PROCESSED,
        T.INITIAL_EMAIL_DELIVERED,
        T.INITIAL_EMAIL_OPENED,
        T.AUTHENTICATION_FAILED,
        T.AUTHENTICATION_FAILED,
        T.ACCESS_LINK_SELECTED,
        T.TAX_RETURN_ACCESSED,
        T.AUTHENTICATION_FAILED,
        T.ACCESS_LINK_SELECTED,
        T.OTHER_DOCUMENTS_ESIGNED,
        T.EFILE_FORMS_DOWNLOADED,
    ]
    yield from _story(return_id, start, steps)


def _cc_recipient(return_id: str, start: datetime) -> Iterator[TrackingEvent]:
    yield from _story(return_id, start, [T.INITIAL_EMAIL_PROCESSED, T.INITIAL_EMAIL_DELIVERED])
    yield from _story(
        return_id,
        start + timedelta(hours=1),
        [T.INITIAL_EMAIL_PROCESSED, T.INITIAL_EMAIL_DELIVERED, T.INITIAL_EMAIL_OPENED],
        role=RecipientRole.CC_RECIPIENT,
    )


def _story(
    return_id: str,
    start: datetime,
    steps: list[TrackingEventType],
    role: RecipientRole = RecipientRole.TAXPAYER,
) -> Iterator[TrackingEvent]:
    for minute, event_type in enumerate(steps):
        failed = event_type is T.AUTHENTICATION_FAILED
        yield TrackingEvent(
            event_id=uuid5(NAMESPACE_URL, f"ctrack-demo:{return_id}:{role}:{minute}"),
            event_type=event_type,
            occurred_at=start + timedelta(minutes=minute),
            firm_id=FIRM_ID,
            return_id=return_id,
            recipient_role=role,
            actor=Actor.SYSTEM if "EMAIL" in event_type else Actor.CLIENT,
            failure_reason=AuthFailureReason.WRONG_SSN if failed else None,
        )
