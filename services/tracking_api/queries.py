"""The API's reads, always scoped to one firm: a return's timeline, a client's history, engagement.

Pages are keyset pages on (occurred_at, event_id), read with FINAL so an event stored twice
(a retried batch) is returned once and never shifts a page boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar
from uuid import UUID

from clickhouse_connect.driver.client import Client

from schemas.glossary import describe
from schemas.tracking import Actor, RecipientRole, TrackingEvent, TrackingEventType
from services.tracking_api.pagination import Position

_AFTER = """({after_set:UInt8} = 0
       OR (occurred_at, event_id)
          > (fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC'), {after_id:UUID}))"""

TIMELINE_PAGE_SQL = f"""
SELECT event_id, event_type, occurred_at, recipient_role, actor, firm_user, detail
FROM tracking_events FINAL
WHERE firm_id = {{firm_id:String}} AND return_id = {{return_id:String}}
  AND {_AFTER}
ORDER BY occurred_at, event_id
LIMIT {{rows:UInt32}}
"""  # noqa: S608 - only the constant keyset condition is interpolated

RETURN_EXISTS_SQL = """
SELECT count() > 0 FROM tracking_events
WHERE firm_id = {firm_id:String} AND return_id = {return_id:String}
"""

CLIENT_HISTORY_PAGE_SQL = f"""
SELECT event_id, event_type, occurred_at, actor, firm_user, status_from, status_to,
       verification_method, failure_reason, link_expires_at, locked_until
FROM client_events FINAL
WHERE firm_id = {{firm_id:String}} AND client_id = {{client_id:String}}
  AND {_AFTER}
ORDER BY occurred_at, event_id
LIMIT {{rows:UInt32}}
"""  # noqa: S608 - only the constant keyset condition is interpolated

CLIENT_STATUS_SQL = """
SELECT status, identity_verified, verification_method, login_locked_until, updated_at
FROM client_status FINAL
WHERE firm_id = {firm_id:String} AND client_id = {client_id:String}
ORDER BY updated_at DESC
LIMIT 1
"""

CLIENT_EXISTS_SQL = """
SELECT count() > 0 FROM client_events
WHERE firm_id = {firm_id:String} AND client_id = {client_id:String}
"""


@dataclass(frozen=True)
class TimelineItem:
    """One line of a return's Client Tracking view."""

    occurred_at: datetime
    description: str  # the glossary's wording
    event_type: str
    actor: str
    firm_user: str | None
    recipient_role: str


@dataclass(frozen=True)
class ClientHistoryItem:
    """One Dynamic Password event of a client."""

    occurred_at: datetime
    event_type: str
    actor: str
    firm_user: str | None
    status_from: str | None
    status_to: str | None
    verification_method: str | None
    failure_reason: str | None
    link_expires_at: datetime | None
    locked_until: datetime | None


@dataclass(frozen=True)
class ClientCurrentStatus:
    """A client's latest Dynamic Password status."""

    status: str
    identity_verified: bool
    verification_method: str | None
    login_locked_until: datetime | None
    updated_at: datetime


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to `limit` items and the position after the last one, when more follow."""

    items: list[T]
    next: Position | None


def return_timeline_page(
    client: Client, firm_id: str, return_id: str, limit: int, after: Position | None
) -> Page[TimelineItem]:
    """A page of a return's events, oldest first.

    Args:
        client: ClickHouse.
        firm_id: the caller's firm; other firms' rows are never read.
        return_id: the return.
        limit: the most items on the page.
        after: where the previous page ended (None: from the start).
    """
    parameters = {"firm_id": firm_id, "return_id": return_id}
    rows = _page_rows(client, TIMELINE_PAGE_SQL, parameters, limit, after)
    return _page([_timeline_item(*row[1:]) for row in rows], rows, limit)


def return_exists(client: Client, firm_id: str, return_id: str) -> bool:
    """Whether the firm has any event of the return."""
    parameters = {"firm_id": firm_id, "return_id": return_id}
    return bool(client.query(RETURN_EXISTS_SQL, parameters=parameters).result_rows[0][0])


def client_history_page(
    client: Client, firm_id: str, client_id: str, limit: int, after: Position | None
) -> Page[ClientHistoryItem]:
    """A page of a client's Dynamic Password events, oldest first (arguments as for
    `return_timeline_page`)."""
    parameters = {"firm_id": firm_id, "client_id": client_id}
    rows = _page_rows(client, CLIENT_HISTORY_PAGE_SQL, parameters, limit, after)
    return _page([_history_item(*row[1:]) for row in rows], rows, limit)


def client_exists(client: Client, firm_id: str, client_id: str) -> bool:
    """Whether the firm has any event of the client."""
    parameters = {"firm_id": firm_id, "client_id": client_id}
    return bool(client.query(CLIENT_EXISTS_SQL, parameters=parameters).result_rows[0][0])


def client_current_status(
    client: Client, firm_id: str, client_id: str
) -> ClientCurrentStatus | None:
    """The client's latest status in the firm, None when none was recorded."""
    parameters = {"firm_id": firm_id, "client_id": client_id}
    rows = client.query(CLIENT_STATUS_SQL, parameters=parameters).result_rows
    if not rows:
        return None
    status, verified, method, locked_until, updated_at = rows[0]
    return ClientCurrentStatus(status, bool(verified), method or None, locked_until, updated_at)


def _page_rows(
    client: Client, sql: str, parameters: dict[str, Any], limit: int, after: Position | None
) -> Sequence[Sequence[Any]]:
    """Up to limit + 1 rows after `after`: the extra row only says whether more follow."""
    keyset = {
        "after_set": int(after is not None),
        "after_ms": after.occurred_at_ms if after else 0,
        "after_id": after.event_id if after else UUID(int=0),
        "rows": limit + 1,
    }
    return client.query(sql, parameters=parameters | keyset).result_rows


def _page(items: list[T], rows: Sequence[Sequence[Any]], limit: int) -> Page[T]:
    if len(rows) <= limit:
        return Page(items, None)
    last = rows[limit - 1]  # columns 0 and 2: event_id, occurred_at
    return Page(items[:limit], Position(_millis(last[2]), last[0]))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(milliseconds=1)


E = TypeVar("E", bound=StrEnum)


def _known(kind: type[E], value: str, fallback: E) -> E:
    """A stored enum value, or `fallback` for one this code does not know (newer writers)."""
    try:
        return kind(value)
    except ValueError:
        return fallback


def _timeline_item(
    event_type: str,
    occurred_at: datetime,
    role: str,
    actor: str,
    firm_user: str,
    detail: str,
) -> TimelineItem:
    event = TrackingEvent(
        event_id=UUID(int=0),
        event_type=_known(TrackingEventType, event_type, TrackingEventType.UNKNOWN),
        occurred_at=occurred_at,
        firm_id="",
        return_id="",
        recipient_role=_known(RecipientRole, role, RecipientRole.TAXPAYER),
        actor=_known(Actor, actor, Actor.SYSTEM),
        firm_user=firm_user or None,
        detail=detail or None,
    )
    return TimelineItem(occurred_at, describe(event), event_type, actor, firm_user or None, role)


def _history_item(
    event_type: str,
    occurred_at: datetime,
    actor: str,
    firm_user: str,
    status_from: str,
    status_to: str,
    method: str,
    failure_reason: str,
    link_expires_at: datetime | None,
    locked_until: datetime | None,
) -> ClientHistoryItem:
    return ClientHistoryItem(
        occurred_at,
        event_type,
        actor,
        firm_user or None,
        status_from or None,
        status_to or None,
        method or None,
        failure_reason or None,
        link_expires_at,
        locked_until,
    )
