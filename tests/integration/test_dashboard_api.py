"""The dashboard's JSON (/v1/season, /v1/firm) and page on real chdb: exact figures, isolation,
bad input, headers."""

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

D0, D1, D2 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)

pytestmark = pytest.mark.usefixtures("paused_merges")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


class Firm:
    """One firm's key and records with fresh ids."""

    def __init__(self) -> None:
        self.id = f"F-{uuid.uuid4().hex[:12]}"
        self.key = f"key-{uuid.uuid4().hex}"
        self.auth = {"Authorization": f"Bearer {self.key}"}

    def track(self, event_type: str, return_id: str, when: datetime) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "occurred_at": when,
            "firm_id": self.id,
            "return_id": f"{self.id}-{return_id}",
            "recipient_role": "TAXPAYER",
            "actor": "CLIENT",
        }

    def email(self, message: str, status: str, when: datetime, machine: bool = False) -> Any:
        return {
            "event_id": str(uuid.uuid4()),
            "provider": "SENDGRID",
            "provider_event_id": str(uuid.uuid4()),
            "channel": "EMAIL",
            "status": status,
            "occurred_at": when,
            "received_at": when,
            "message_id": f"{self.id}-{message}",
            "message_kind": "INITIAL_EMAIL",
            "firm_id": self.id,
            "machine_open": machine,
        }

    def client(self, event_type: str, client: str, when: datetime, **fields: Any) -> Any:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "occurred_at": when,
            "firm_id": self.id,
            "client_id": f"{self.id}-{client}",
            **fields,
        }


@pytest.fixture(scope="module")
def firms(clickhouse: Client) -> tuple[Firm, Firm]:
    """Firm A: two days of a small season (one return sent the day before); firm B: one email."""
    a, b = Firm(), Firm()
    emails = [
        a.email("M1", "PROCESSED", at(D1, 9)),
        a.email("M1", "DELIVERED", at(D1, 9, 1)),
        a.email("M1", "OPEN", at(D1, 9, 2), machine=True),
        a.email("M1", "OPEN", at(D1, 10)),
        a.email("M1", "OPEN", at(D2, 10)),  # opened again the next day: one message opened
        a.email("M2", "PROCESSED", at(D1, 9)),
        a.email("M2", "BOUNCE", at(D1, 9, 1)),
        a.email("M3", "PROCESSED", at(D2, 9)),
        a.email("M3", "DELIVERED", at(D2, 9, 1)),
        b.email("M1", "PROCESSED", at(D1, 9)),
    ]
    store(clickhouse, catalogue.DELIVERY_EVENT, emails)
    store(clickhouse, catalogue.DELIVERY_EVENT, emails[-2:], dedup=False)  # stored twice

    tracking = [
        a.track("INITIAL_EMAIL_PROCESSED", "R0", at(D0, 9)),  # sent before the range
        a.track("OTHER_DOCUMENTS_ESIGNED", "R0", at(D1, 8)),
        a.track("INITIAL_EMAIL_PROCESSED", "R1", at(D1, 9)),
        a.track("INITIAL_EMAIL_DELIVERED", "R1", at(D1, 9, 1)),
        a.track("INITIAL_EMAIL_OPENED", "R1", at(D1, 9, 10)),
        a.track("TAX_RETURN_ACCESSED", "R1", at(D1, 9, 30)),
        a.track("SIGNING_REMINDER_SENT", "R1", at(D1, 9, 45)),
        a.track("OTHER_DOCUMENTS_ESIGNED", "R1", at(D1, 10)),
        a.track("TAX_RETURN_ACCESSED", "R1", at(D2, 11)),  # accessed again: one return
        a.track("INITIAL_EMAIL_PROCESSED", "R2", at(D1, 10)),
        a.track("INITIAL_EMAIL_DELIVERED", "R2", at(D1, 10, 1)),
        a.track("SIGNING_REMINDER_SENT", "R2", at(D1, 13)),
        a.track("TAX_RETURN_ACCESSED", "R2", at(D2, 10)),  # accessed without a tracked open
        a.track("INITIAL_EMAIL_PROCESSED", "R3", at(D1, 12)),
        a.track("AUTHENTICATION_FAILED", "R3", at(D1, 12, 40)),
        a.track("AUTHENTICATION_FAILED", "R3", at(D1, 12, 41)),
        a.track("AUTHENTICATION_FAILED", "R3", at(D1, 12, 42)),
        a.track("ACCESS_LOCKED", "R3", at(D1, 12, 42)),
        b.track("INITIAL_EMAIL_PROCESSED", "R1", at(D1, 9)),
    ]
    store(clickhouse, catalogue.TRACKING_EVENT, tracking)
    store(clickhouse, catalogue.TRACKING_EVENT, tracking[-2:], dedup=False)  # the lock twice

    clients = [
        a.client("INVITE_SENT", "C1", at(D1, 9), invite_trigger="MANUAL"),
        a.client("LINK_SELECTED", "C1", at(D1, 10)),
        a.client("STATUS_CHANGED", "C1", at(D1, 10, 5), status_to="CONNECTED"),
        a.client("INVITE_SENT", "C2", at(D1, 9)),
        a.client("INVITATION_REMINDER_SENT", "C2", at(D2, 9)),
    ]
    store(clickhouse, catalogue.CLIENT_EVENT, clients)
    return a, b


@pytest.fixture
def api(clickhouse: Client, firms: tuple[Firm, Firm]) -> Iterator[TestClient]:
    a, b = firms
    keys = QueryApiSettings(keys=f"{a.id}:{a.key},{b.id}:{b.key}")
    with TestClient(create_app(clickhouse, keys)) as client:
        yield client


def season(api: TestClient, firm: Firm, start: date = D1, end: date = D2) -> Any:
    response = api.get("/v1/season", params={"from": str(start), "to": str(end)}, headers=firm.auth)
    assert response.status_code == 200, response.text
    return response.json()


def test_season_figures_are_exact_and_count_each_subject_once(
    api: TestClient, firms: tuple[Firm, Firm]
) -> None:
    a, _ = firms
    body = season(api, a)

    assert (body["firm_id"], body["start"], body["end"]) == (a.id, str(D1), str(D2))
    assert body["totals"] == {
        "emails_processed": 3,
        "emails_delivered": 2,
        "emails_opened": 1,  # M1 by a human on both days: one message
        "emails_bounced": 1,
        "returns_accessed": 2,  # R1 on both days, R2
        "authentication_failures": 3,
        "lockouts": 1,  # stored twice
        "signing_reminders_sent": 2,
        "voucher_reminders_sent": 0,
        "invitation_reminders_sent": 1,
        "invites_sent": 2,
        "clients_connected": 1,
    }
    opened_per_day = [day["emails_opened"] for day in body["days"]]
    assert [day["day"] for day in body["days"]] == [str(D1), str(D2)]
    assert opened_per_day == [1, 1]  # a sum of the days would say 2

    # R0 was sent before the range: its e-sign is not in the funnel
    assert body["return_funnel"] == {
        "sent": 3,
        "delivered": 2,
        "opened": 1,
        "accessed": 2,
        "esigned": 1,
    }
    timings = {t["milestone"]: t for t in body["time_to_action"]}
    assert list(timings) == ["first_open", "access", "esign"]
    assert timings["first_open"] == {
        "milestone": "first_open",
        "returns_sent": 3,
        "reached": 1,
        "p50_s": 600.0,
        "p90_s": 600.0,
        "p99_s": 600.0,
    }
    access = timings["access"]  # R1 after 30 minutes, R2 after one day
    assert access["reached"] == 2
    assert (access["p50_s"], access["p90_s"], access["p99_s"]) == pytest.approx(
        (44100, 77940, 85554)
    )
    assert timings["esign"]["reached"] == 1 and timings["esign"]["p50_s"] == 3600.0
    assert body["reminders"] == {"window_days": 7, "reminders": 2, "converted": 1}
    assert body["invites"] == {
        "window_days": 30,
        "invited": 2,
        "link_selected": 1,
        "connected": 1,
    }


def test_each_key_sees_its_own_firm_only(api: TestClient, firms: tuple[Firm, Firm]) -> None:
    a, b = firms
    assert api.get("/v1/firm", headers=a.auth).json() == {"firm_id": a.id}
    assert api.get("/v1/firm", headers=b.auth).json() == {"firm_id": b.id}

    theirs = season(api, b)
    assert theirs["firm_id"] == b.id
    assert theirs["return_funnel"] == {
        "sent": 1,
        "delivered": 0,
        "opened": 0,
        "accessed": 0,
        "esigned": 0,
    }
    assert theirs["totals"]["emails_processed"] == 1  # stored twice, counted once
    assert sum(theirs["totals"].values()) == 1
    assert theirs["reminders"]["reminders"] == theirs["invites"]["invited"] == 0


def test_empty_range_is_all_zeros(api: TestClient, firms: tuple[Firm, Firm]) -> None:
    a, _ = firms
    quiet = date(2025, 6, 1)
    body = season(api, a, quiet, quiet + timedelta(days=2))
    assert set(body["totals"].values()) == {0}
    assert set(body["return_funnel"].values()) == {0}
    assert all(t["p50_s"] is None for t in body["time_to_action"])
    assert len(body["days"]) == 3


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"from": str(D2), "to": str(D1)}, "`from` is after `to`"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "at most 400 days"),
        ({"from": "2026-02-30", "to": str(D2)}, "date"),
        ({"from": "yesterday", "to": str(D2)}, "date"),
        ({"to": str(D2)}, "Field required"),
    ],
)
def test_bad_ranges_are_refused_with_a_message(
    api: TestClient, firms: tuple[Firm, Firm], params: dict[str, str], fragment: str
) -> None:
    a, _ = firms
    response = api.get("/v1/season", params=params, headers=a.auth)
    assert response.status_code == 422
    assert fragment in response.text


@pytest.mark.parametrize("path", ["/v1/season?from=2026-03-02&to=2026-03-03", "/v1/firm"])
@pytest.mark.parametrize("header", [None, "Bearer not-a-key-of-anyone", "Basic abc"])
def test_dashboard_data_needs_a_known_key(api: TestClient, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = api.get(path, headers=headers)
    assert response.status_code == 401
    assert "totals" not in response.text


def test_openapi_documents_the_data_but_not_the_page(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    season_doc = paths["/v1/season"]["get"]
    assert {p["name"] for p in season_doc["parameters"]} == {"from", "to"}
    assert "422" in season_doc["responses"]
    assert "/v1/firm" in paths
    assert "/dashboard" not in paths


def test_page_and_assets_are_served_locally_under_a_strict_policy(api: TestClient) -> None:
    page = api.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert '<script src="/dashboard/app.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere
    script = api.get("/dashboard/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "sessionStorage" in script.text and "Authorization" in script.text
    assert "innerHTML" not in script.text  # API text goes in through textContent only
    assert api.get("/dashboard/app.css").headers["content-type"].startswith("text/css")
    home = api.get("/", follow_redirects=False)
    assert home.status_code in (302, 307) and home.headers["location"] == "/dashboard"
