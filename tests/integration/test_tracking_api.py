"""The tracking query API on real chdb: glossary timelines, pages, tenant isolation, bad input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient

from ctrack.settings import QueryApiSettings
from schemas import catalogue
from services.tracking_api.app import create_app
from tests.integration.test_analytics import store

D1 = date(2026, 3, 2)
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("paused_merges")


class Firm:
    """One firm's API key and records with fresh ids."""

    def __init__(self) -> None:
        self.id = f"F-{uuid.uuid4().hex[:12]}"
        self.key = f"key-{uuid.uuid4().hex}"
        self.auth = {"Authorization": f"Bearer {self.key}"}

    def track(
        self, event_type: str, return_id: str, minute: float, **fields: Any
    ) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "occurred_at": T0 + timedelta(minutes=minute),
            "firm_id": self.id,
            "return_id": return_id,
            "recipient_role": "TAXPAYER",
            "actor": "CLIENT",
            **fields,
        }

    def client_event(self, event_type: str, client_id: str, minute: int, **fields: Any) -> Any:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "occurred_at": T0 + timedelta(minutes=minute),
            "firm_id": self.id,
            "client_id": client_id,
            **fields,
        }

    def status(self, client_id: str, status: str, minute: int) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "firm_id": self.id,
            "status": status,
            "identity_verified": status == "CONNECTED",
            "updated_at": T0 + timedelta(minutes=minute),
        }


@pytest.fixture
def firms() -> tuple[Firm, Firm]:
    return Firm(), Firm()


@pytest.fixture
def api(clickhouse: Client, firms: tuple[Firm, Firm]) -> Iterator[TestClient]:
    a, b = firms
    keys = QueryApiSettings(keys=f"{a.id}:{a.key},{b.id}:{b.key}")
    with TestClient(create_app(clickhouse, keys)) as client:
        yield client


def ids() -> tuple[str, str]:
    """A return id and a client id no other test uses."""
    suffix = uuid.uuid4().hex[:10]
    return f"R-{suffix}", f"C-{suffix}"


def all_pages(api: TestClient, path: str, auth: dict[str, str], limit: int) -> list[Any]:
    """Every item of every page, following next_cursor."""
    items, cursor = [], None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = api.get(path, params=params, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["events"]) <= limit
        items += body["events"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_timeline_in_glossary_wording_every_row_once_across_pages(
    clickhouse: Client, api: TestClient, firms: tuple[Firm, Firm]
) -> None:
    a, _ = firms
    return_id, _ = ids()
    events = [
        a.track("INITIAL_EMAIL_PROCESSED", return_id, 0),
        a.track("INITIAL_EMAIL_DELIVERED", return_id, 1),
        a.track("INITIAL_EMAIL_OPENED", return_id, 5),
        a.track("AUTHENTICATION_FAILED", return_id, 6),
        a.track("AUTHENTICATION_FAILED", return_id, 6),  # same millisecond: event id breaks ties
        a.track("ACCESS_LOCKED", return_id, 6.5),
        a.track("ACCESS_UNLOCKED", return_id, 30, actor="FIRM_USER", firm_user="preparer@a"),
        a.track("TAX_RETURN_ACCESSED", return_id, 31, recipient_role="SPOUSE"),
        a.track("DOCUMENT_DOWNLOADED", return_id, 32, detail="Form 1040"),
    ]
    store(clickhouse, catalogue.TRACKING_EVENT, events[::-1])  # stored out of order
    store(clickhouse, catalogue.TRACKING_EVENT, events[2:4], dedup=False)  # stored twice

    stored = clickhouse.query(
        "SELECT count() FROM tracking_events WHERE return_id = {r:String}",
        parameters={"r": return_id},
    ).result_rows[0][0]
    assert stored == len(events) + 2  # so the timeline below proves duplicates show once

    path = f"/v1/returns/{return_id}/timeline"
    whole = api.get(path, headers=a.auth).json()
    assert whole["return_id"] == return_id and whole["next_cursor"] is None
    assert [e["description"] for e in whole["events"]] == [
        "Taxpayer: Initial Email - Processed",
        "Taxpayer: Initial Email - Delivered",
        "Taxpayer: Initial Email - Open",
        "Authentication Failed",
        "Authentication Failed",
        "Access Locked",
        "Access Unlocked",
        "Spouse: Tax Return Accessed",
        'Document "Form 1040"',
    ]
    unlock = next(e for e in whole["events"] if e["event_type"] == "ACCESS_UNLOCKED")
    assert unlock["actor"] == "FIRM_USER" and unlock["firm_user"] == "preparer@a"
    assert unlock["recipient_role"] == "TAXPAYER"
    assert unlock["occurred_at"].startswith("2026-03-02T09:30:00")
    times = [e["occurred_at"] for e in whole["events"]]
    assert times == sorted(times)

    for limit in (1, 2, 4, 9, 10):
        assert all_pages(api, path, a.auth, limit) == whole["events"]


def test_client_history_with_current_status_paginated(
    clickhouse: Client, api: TestClient, firms: tuple[Firm, Firm]
) -> None:
    a, _ = firms
    _, client_id = ids()
    events = [
        a.client_event("INVITE_SENT", client_id, 0, invite_trigger="MANUAL"),
        a.client_event("LINK_SELECTED", client_id, 1),
        a.client_event("OTP_FAILED", client_id, 2, failure_reason="WRONG_CODE"),
        a.client_event("OTP_VERIFIED", client_id, 3),
        a.client_event(
            "STATUS_CHANGED", client_id, 4, status_from="NOT_ENROLLED", status_to="CONNECTED"
        ),
    ]
    store(clickhouse, catalogue.CLIENT_EVENT, events)
    store(clickhouse, catalogue.CLIENT_EVENT, events[1:2], dedup=False)  # stored twice
    store(clickhouse, catalogue.CLIENT_STATUS, [a.status(client_id, "NOT_ENROLLED", 1)])
    store(clickhouse, catalogue.CLIENT_STATUS, [a.status(client_id, "CONNECTED", 4)])

    path = f"/v1/clients/{client_id}/history"
    body = api.get(path, headers=a.auth).json()
    assert body["status"]["status"] == "CONNECTED"
    assert body["status"]["identity_verified"] is True
    assert [e["event_type"] for e in body["events"]] == [
        "INVITE_SENT",
        "LINK_SELECTED",
        "OTP_FAILED",
        "OTP_VERIFIED",
        "STATUS_CHANGED",
    ]
    assert body["events"][-1]["status_to"] == "CONNECTED"
    assert all_pages(api, path, a.auth, 2) == body["events"]


def test_engagement_per_day(clickhouse: Client, api: TestClient, firms: tuple[Firm, Firm]) -> None:
    a, b = firms
    return_id, _ = ids()
    store(clickhouse, catalogue.TRACKING_EVENT, [a.track("TAX_RETURN_ACCESSED", return_id, 0)])
    store(clickhouse, catalogue.TRACKING_EVENT, [b.track("ACCESS_LOCKED", return_id, 0)])

    response = api.get("/v1/engagement?from=2026-03-01&to=2026-03-03", headers=a.auth)
    assert response.status_code == 200
    days = response.json()["days"]
    assert [d["day"] for d in days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert days[1]["returns_accessed"] == 1
    assert days[1]["lockouts"] == 0  # firm B's lock is not A's
    b_days = api.get("/v1/engagement?from=2026-03-02&to=2026-03-02", headers=b.auth).json()
    assert b_days["days"][0]["lockouts"] == 1 and b_days["days"][0]["returns_accessed"] == 0


def test_a_firm_never_sees_another_firms_rows(
    clickhouse: Client, api: TestClient, firms: tuple[Firm, Firm]
) -> None:
    a, b = firms
    shared_return, shared_client = ids()  # both firms happen to use the same ids
    b_return, b_client = ids()  # only firm B has these
    store(
        clickhouse,
        catalogue.TRACKING_EVENT,
        [
            a.track("INITIAL_EMAIL_PROCESSED", shared_return, 0),
            b.track("ACCESS_LOCKED", shared_return, 1),
            b.track("ACCESS_LOCKED", b_return, 1),
        ],
    )
    store(
        clickhouse,
        catalogue.CLIENT_EVENT,
        [
            a.client_event("INVITE_SENT", shared_client, 0),
            b.client_event("OTP_FAILED", shared_client, 1),
            b.client_event("OTP_FAILED", b_client, 1),
        ],
    )
    store(clickhouse, catalogue.CLIENT_STATUS, [b.status(b_client, "CONNECTED", 1)])
    store(clickhouse, catalogue.CLIENT_STATUS, [b.status(shared_client, "CONNECTED", 1)])

    timeline = api.get(f"/v1/returns/{shared_return}/timeline", headers=a.auth).json()
    assert [e["event_type"] for e in timeline["events"]] == ["INITIAL_EMAIL_PROCESSED"]
    history = api.get(f"/v1/clients/{shared_client}/history", headers=a.auth).json()
    assert [e["event_type"] for e in history["events"]] == ["INVITE_SENT"]
    assert history["status"] is None  # B's status of the same client id is not A's

    for kind, other, missing in (
        ("returns", b_return, ids()[0]),
        ("clients", b_client, ids()[1]),
    ):
        suffix = "timeline" if kind == "returns" else "history"
        of_b = api.get(f"/v1/{kind}/{other}/{suffix}", headers=a.auth)
        nowhere = api.get(f"/v1/{kind}/{missing}/{suffix}", headers=a.auth)
        assert of_b.status_code == nowhere.status_code == 404
        assert of_b.content == nowhere.content
        assert api.get(f"/v1/{kind}/{other}/{suffix}", headers=b.auth).status_code == 200

    # a cursor of B's pages gives A nothing of B's
    b_page = api.get(f"/v1/returns/{b_return}/timeline?limit=1", headers=b.auth).json()
    assert b_page["next_cursor"] is None
    store(clickhouse, catalogue.TRACKING_EVENT, [b.track("ACCESS_UNLOCKED", b_return, 2)])
    cursor = api.get(f"/v1/returns/{b_return}/timeline?limit=1", headers=b.auth).json()
    resumed = api.get(
        f"/v1/returns/{b_return}/timeline",
        params={"cursor": cursor["next_cursor"]},
        headers=a.auth,
    )
    assert resumed.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/v1/returns/R-1/timeline",
        "/v1/clients/C-1/history",
        "/v1/engagement?from=2026-03-01&to=2026-03-02",
    ],
)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key-wrong-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "x" * 10_000},
    ],
)
def test_missing_or_unknown_key_is_401(api: TestClient, path: str, headers: dict[str, str]) -> None:
    response = api.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or unknown API key"}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/engagement?from=2026-13-01&to=2026-03-02",
        "/v1/engagement?from=yesterday&to=2026-03-02",
        "/v1/engagement?from=2026-03-02",
        "/v1/engagement?from=2026-03-03&to=2026-03-02",
        "/v1/engagement?from=2025-01-01&to=2026-03-02",
        "/v1/engagement?from=0001-01-01&to=9999-12-31",
        "/v1/returns/R-1/timeline?limit=0",
        "/v1/returns/R-1/timeline?limit=-5",
        "/v1/returns/R-1/timeline?limit=100000000000000000000",
        "/v1/returns/R-1/timeline?limit=ten",
        "/v1/clients/C-1/history?limit=501",
        "/v1/returns/R-1/timeline?cursor=not-a-cursor",
        "/v1/returns/R-1/timeline?cursor=W10",
        "/v1/returns/R-1/timeline?cursor=WzEsIm5vdC1hLXV1aWQiXQ",
        "/v1/returns/R-1/timeline?cursor=" + "A" * 5000,
        "/v1/returns/" + "R" * 129 + "/timeline",
        "/v1/clients/" + "C" * 10_000 + "/history",
        "/v1/returns/R%27%3B%20DROP%20TABLE%20x/timeline",
        "/v1/clients/C%00/history",
    ],
)
def test_bad_input_is_4xx_never_5xx(api: TestClient, firms: tuple[Firm, Firm], path: str) -> None:
    response = api.get(path, headers=firms[0].auth)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.status_code != 404 or "not found" in response.text
    assert "detail" in response.json()


def test_openapi_documents_every_endpoint(api: TestClient) -> None:
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/v1/returns/{return_id}/timeline",
        "/v1/clients/{client_id}/history",
        "/v1/engagement",
    }


def test_settings_refuse_malformed_or_shared_keys() -> None:
    with pytest.raises(ValueError, match="one firm"):
        QueryApiSettings(keys="A:0123456789abcdef,B:0123456789abcdef").firm_keys()
    with pytest.raises(ValueError, match="firm_id:key"):
        QueryApiSettings(keys="A:short").firm_keys()
    assert QueryApiSettings(keys="").firm_keys() == []
