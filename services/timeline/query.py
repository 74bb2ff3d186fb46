"""Reads a return's Client Tracking timeline from ClickHouse, in the glossary's wording."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from clickhouse_connect.driver.client import Client

from schemas.glossary import describe
from schemas.tracking import Actor, RecipientRole, TrackingEvent, TrackingEventType


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a return's Client Tracking view."""

    occurred_at: datetime
    description: str
    event_type: TrackingEventType
    recipient_role: RecipientRole
    actor: Actor
    firm_user: str


_TIMELINE_SQL = """
SELECT event_id, event_type, occurred_at, firm_id, return_id, recipient_role, actor,
       firm_user, detail
FROM tracking_events FINAL
WHERE return_id = {return_id:String} AND ({firm_id:String} = '' OR firm_id = {firm_id:String})
ORDER BY occurred_at, kafka_partition, kafka_offset
"""


def return_timeline(client: Client, return_id: str, firm_id: str = "") -> list[TimelineEntry]:
    """Every event of a return, oldest first; `firm_id` restricts it to one firm."""
    result = client.query(_TIMELINE_SQL, parameters={"return_id": return_id, "firm_id": firm_id})
    return [_entry(*row) for row in result.result_rows]


def _entry(
    event_id: UUID,
    event_type: str,
    occurred_at: datetime,
    firm_id: str,
    return_id: str,
    role: str,
    actor: str,
    firm_user: str,
    detail: str,
) -> TimelineEntry:
    event = TrackingEvent(
        event_id=event_id,
        event_type=TrackingEventType(event_type),
        occurred_at=occurred_at,
        firm_id=firm_id,
        return_id=return_id,
        recipient_role=RecipientRole(role),
        actor=Actor(actor),
        firm_user=firm_user or None,
        detail=detail or None,
    )
    return TimelineEntry(
        occurred_at, describe(event), event.event_type, event.recipient_role, event.actor, firm_user
    )
