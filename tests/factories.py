"""Builders of contract values for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from schemas.tracking import (
    Actor,
    AuthFailureReason,
    RecipientRole,
    TrackingEvent,
    TrackingEventType,
)

BASE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def tracking_event(
    event_type: TrackingEventType,
    *,
    return_id: str = "R-1",
    firm_id: str = "F-1",
    role: RecipientRole = RecipientRole.TAXPAYER,
    minute: int = 0,
    **fields: object,
) -> TrackingEvent:
    """A tracking event with sensible defaults; failures get a reason."""
    if event_type is TrackingEventType.AUTHENTICATION_FAILED:
        fields.setdefault("failure_reason", AuthFailureReason.WRONG_SSN)
    return TrackingEvent(
        event_id=uuid4(),
        event_type=event_type,
        occurred_at=BASE_TIME + timedelta(minutes=minute),
        firm_id=firm_id,
        return_id=return_id,
        recipient_role=role,
        actor=fields.pop("actor", Actor.CLIENT),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )
