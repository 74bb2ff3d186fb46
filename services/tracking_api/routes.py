"""Thin routes of the tracking query API: authenticate, validate, call a query, shape the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from clickhouse_connect.driver.client import Client
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.analytics.queries import DailyEngagement, firm_engagement
from services.analytics.season import SeasonOverview, season_overview
from services.tracking_api import queries
from services.tracking_api.auth import KeyRing
from services.tracking_api.pagination import (
    MAX_CURSOR_LENGTH,
    InvalidCursor,
    Position,
    decode_cursor,
    encode_cursor,
)
from services.tracking_api.queries import ClientCurrentStatus, ClientHistoryItem, TimelineItem

ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"
MAX_ID_LENGTH = 128
MAX_LIMIT = 500
MAX_RANGE_DAYS = 400
_UNPROCESSABLE = 422  # starlette renamed its constant; the code is what matters

router = APIRouter(prefix="/v1")
_bearer = HTTPBearer(auto_error=False, description="The firm's API key.")


def _clickhouse(request: Request) -> Client:
    client: Client = request.app.state.clickhouse
    return client


def _firm(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The firm of the bearer key; 401 when it is missing or unknown."""
    ring: KeyRing = request.app.state.key_ring
    firm = ring.firm_of(credentials.credentials) if credentials else None
    if firm is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or unknown API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return firm


def _after(
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page."),
    ] = None,
) -> Position | None:
    try:
        return decode_cursor(cursor) if cursor else None
    except InvalidCursor as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None


ClickHouse = Annotated[Client, Depends(_clickhouse)]
FirmId = Annotated[str, Depends(_firm)]
After = Annotated[Position | None, Depends(_after)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="The most items on a page.")]
ReturnId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="Return.")
]
ClientId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN, description="Client.")
]
Start = Annotated[date, Query(alias="from", description="First UTC day (YYYY-MM-DD).")]
End = Annotated[date, Query(alias="to", description="Last UTC day, included (YYYY-MM-DD).")]


@dataclass(frozen=True)
class TimelinePage:
    """A page of a return's Client Tracking view, oldest first."""

    return_id: str
    events: list[TimelineItem]
    next_cursor: str | None


@dataclass(frozen=True)
class ClientHistoryPage:
    """A client's current status and a page of its Dynamic Password events, oldest first."""

    client_id: str
    status: ClientCurrentStatus | None
    events: list[ClientHistoryItem]
    next_cursor: str | None


@dataclass(frozen=True)
class Engagement:
    """The firm's activity per UTC day, every day of the range."""

    start: date
    end: date
    days: list[DailyEngagement]


@dataclass(frozen=True)
class FirmIdentity:
    """The firm an API key belongs to."""

    firm_id: str


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


def _cursor(position: Position | None) -> str | None:
    return encode_cursor(position) if position else None


@router.get("/returns/{return_id}/timeline")
def return_timeline(
    return_id: ReturnId, firm_id: FirmId, ch: ClickHouse, after: After, limit: Limit = 100
) -> TimelinePage:
    """A return's Client Tracking view in the glossary's wording; 404 if the firm has none."""
    page = queries.return_timeline_page(ch, firm_id, return_id, limit, after)
    if not page.items and not queries.return_exists(ch, firm_id, return_id):
        raise _not_found("return")
    return TimelinePage(return_id, page.items, _cursor(page.next))


@router.get("/clients/{client_id}/history")
def client_history(
    client_id: ClientId, firm_id: FirmId, ch: ClickHouse, after: After, limit: Limit = 100
) -> ClientHistoryPage:
    """A client's Dynamic Password events and current status; 404 if the firm has neither."""
    page = queries.client_history_page(ch, firm_id, client_id, limit, after)
    current = queries.client_current_status(ch, firm_id, client_id)
    if not page.items and current is None and not queries.client_exists(ch, firm_id, client_id):
        raise _not_found("client")
    return ClientHistoryPage(client_id, current, page.items, _cursor(page.next))


@router.get("/engagement")
def engagement(firm_id: FirmId, ch: ClickHouse, start: Start, end: End) -> Engagement:
    """The firm's engagement per day from `from` to `to` (both included, at most 400 days)."""
    _check_range(start, end)
    return Engagement(start, end, firm_engagement(ch, firm_id, start, end))


@router.get("/firm")
def firm(firm_id: FirmId) -> FirmIdentity:
    """The firm the presented API key belongs to."""
    return FirmIdentity(firm_id)


@router.get("/season")
def season(firm_id: FirmId, ch: ClickHouse, start: Start, end: End) -> SeasonOverview:
    """The engagement dashboard's figures from `from` to `to` (both included, at most 400 days):
    distinct totals, the return funnel (initial email processed, delivered, opened by a human,
    accessed, e-signed), time to first open / access / e-sign (p50, p90, p99 in seconds),
    signing reminder -> e-sign conversion, the invite -> connected funnel, and every day."""
    _check_range(start, end)
    return season_overview(ch, firm_id, start, end)


def _check_range(start: date, end: date) -> None:
    if start > end:
        raise HTTPException(_UNPROCESSABLE, "`from` is after `to`")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise HTTPException(_UNPROCESSABLE, f"at most {MAX_RANGE_DAYS} days at a time")
