"""The engagement dashboard in headless Chromium, on the real stack.

A simulated season of one firm (plus a hand-made return that locks and is unlocked by a firm
user) is produced to the session broker, stored by the real sink in chdb, and served by the
query API on a free port. The page must show the figures ClickHouse answers (and, for the
return funnel, the figures counted from the produced records themselves), the timeline in
order, and nothing but an error for a wrong key. The screenshot is kept in tests/artifacts/.
"""

from __future__ import annotations

import math
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from clickhouse_connect.driver.client import Client
from playwright.sync_api import Browser, Page, sync_playwright

from ctrack.settings import KafkaSettings, QueryApiSettings, SinkSettings
from ctrack.topic_admin import ensure_topics
from producers.event_producer import EventProducer
from producers.simulator import SimulationPlan, simulate
from producers.simulator.plan import DEFAULT_START
from schemas import catalogue
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from services.analytics.season import SeasonOverview, season_overview
from services.timeline.query import return_timeline
from services.tracking_api.app import create_app
from sinks.clickhouse.sink import ClickHouseSink
from sinks.clickhouse.tables import TABLE_OF_SCHEMA

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PLAN = SimulationPlan(seed=4242, firms=1, clients_per_firm=40, returns=80, duration=timedelta(30))
START, END = DEFAULT_START.date(), (DEFAULT_START + timedelta(days=29)).date()
PREPARER = "U99"  # a firm user id (emails are PII: never in clear on a topic)
DEADLINE_S = 120.0
UI_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Season:
    """What the test produced and where the API serves it."""

    firm_id: str
    key: str
    url: str
    records: list[tuple[str, str, dict[str, Any]]]
    locked_return: str


def locked_return(firm_id: str) -> tuple[str, list[dict[str, Any]]]:
    """A return whose recipient fails three times, is locked, then unlocked by a firm user."""
    return_id = f"{firm_id}-RLOCK"
    t0 = datetime(2026, 2, 10, 9, tzinfo=UTC)
    steps = [
        ("INITIAL_EMAIL_PROCESSED", 0, "SYSTEM", None),
        ("INITIAL_EMAIL_DELIVERED", 1, "SYSTEM", None),
        ("INITIAL_EMAIL_OPENED", 30, "CLIENT", None),
        ("AUTHENTICATION_FAILED", 31, "CLIENT", None),
        ("AUTHENTICATION_FAILED", 32, "CLIENT", None),
        ("AUTHENTICATION_FAILED", 33, "CLIENT", None),
        ("ACCESS_LOCKED", 33.5, "SYSTEM", None),
        ("ACCESS_UNLOCKED", 120, "FIRM_USER", f"{firm_id}-{PREPARER}"),
        ("TAX_RETURN_ACCESSED", 125, "CLIENT", None),
        ("OTHER_DOCUMENTS_ESIGNED", 140, "CLIENT", None),
    ]
    records = [
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "occurred_at": t0 + timedelta(minutes=minute),
            "firm_id": firm_id,
            "return_id": return_id,
            "recipient_role": "TAXPAYER",
            "actor": actor,
            "firm_user": firm_user,
            "failure_reason": "WRONG_SSN" if event_type == "AUTHENTICATION_FAILED" else None,
        }
        for event_type, minute, actor, firm_user in steps
    ]
    return return_id, records


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def store_with_the_sink(clickhouse: Client, kafka: KafkaSettings, expected: Counter[str]) -> None:
    """Run the real sink until it stored every produced record of each table."""
    sink = ClickHouseSink(clickhouse, kafka, SinkSettings(batch_max_seconds=0.2), AvroCodec())
    deadline = time.monotonic() + DEADLINE_S

    def stored_all() -> bool:
        written = sink.stats.rows_written
        return all(written.get(table, 0) >= n for table, n in expected.items())

    sink.run(lambda: stored_all() or time.monotonic() > deadline)
    assert stored_all(), (sink.stats.rows_written, expected)
    assert sink.stats.dead_letters == 0


@pytest.fixture(scope="module")
def season(kafka_bootstrap: str, clickhouse: Client) -> Iterator[Season]:
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=f"d{uuid.uuid4().hex[:9]}"
    )
    ensure_topics(kafka_bootstrap, TopicNames(kafka.topic_prefix))
    records = list(simulate(PLAN))
    firm_id = records[0][2]["firm_id"]
    assert {r.get("firm_id") for _, _, r in records} == {firm_id}  # one firm
    lock_id, lock_records = locked_return(firm_id)
    records += [(catalogue.TRACKING_EVENT, lock_id, record) for record in lock_records]
    with EventProducer(kafka, AvroCodec()) as producer:
        for schema_name, key, record in records:
            producer.send_record(schema_name, key, record)
    expected = Counter(TABLE_OF_SCHEMA[s].name for s, _, _ in records if s in TABLE_OF_SCHEMA)
    store_with_the_sink(clickhouse, kafka, expected)

    key = f"dash-{uuid.uuid4().hex}"
    other = f"other-{uuid.uuid4().hex}"
    settings = QueryApiSettings(keys=f"{firm_id}:{key},F-OTHER:{other}")
    port = free_port()
    config = uvicorn.Config(
        create_app(clickhouse, settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    yield Season(firm_id, key, f"http://127.0.0.1:{port}", records, lock_id)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed: run `make browsers` (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, season: Season) -> Iterator[Page]:
    """A fresh tab (empty sessionStorage); fails the test if any request carries the key."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(UI_TIMEOUT_MS)
    urls: list[str] = []
    tab.on("request", lambda request: urls.append(request.url))
    tab.goto(f"{season.url}/dashboard")
    yield tab
    context.close()
    assert urls and not [url for url in urls if season.key in url]
    assert all(url.startswith(season.url) for url in urls)  # nothing from elsewhere


def show_season(page: Page, key: str) -> None:
    page.fill("#from", str(START))
    page.fill("#to", str(END))
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def number(page: Page, selector: str) -> int:
    return int((page.text_content(selector, strict=True) or "").replace(",", ""))


def shown_percent(page: Page, selector: str) -> float:
    return float((page.text_content(selector, strict=True) or "").rstrip("%"))


def duration(seconds: float) -> str:
    """The page's duration wording (Math.round rounds halves up)."""
    t = math.floor(seconds + 0.5)
    days, hours, minutes = t // 86400, t % 86400 // 3600, t % 3600 // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {t % 60}s" if minutes else f"{t}s"


def funnel_from_records(records: list[tuple[str, str, dict[str, Any]]]) -> dict[str, int]:
    """The return funnel counted from what was produced, without ClickHouse."""
    steps = {
        "delivered": "INITIAL_EMAIL_DELIVERED",
        "opened": "INITIAL_EMAIL_OPENED",
        "accessed": "TAX_RETURN_ACCESSED",
        "esigned": "OTHER_DOCUMENTS_ESIGNED",
    }
    first: dict[tuple[str, str], datetime] = {}
    for schema_name, _, record in records:
        if schema_name == catalogue.TRACKING_EVENT:
            at = (record["return_id"], record["event_type"])
            first[at] = min(first.get(at, record["occurred_at"]), record["occurred_at"])
    begin = datetime.combine(START, datetime.min.time(), UTC)
    sent = {
        return_id: moment
        for (return_id, event_type), moment in first.items()
        if event_type == "INITIAL_EMAIL_PROCESSED"
        and begin <= moment < begin + timedelta(days=(END - START).days + 1)
    }
    funnel = {"sent": len(sent)}
    for step, event_type in steps.items():
        reached = (first.get((r, event_type)) for r in sent)
        pairs = zip(sent.values(), reached, strict=True)
        funnel[step] = sum(1 for sent_at, moment in pairs if moment and moment >= sent_at)
    return funnel


def test_dashboard_shows_the_figures_clickhouse_answers(
    page: Page, season: Season, clickhouse: Client
) -> None:
    truth: SeasonOverview = season_overview(clickhouse, season.firm_id, START, END)
    answer = httpx.get(
        f"{season.url}/v1/season",
        params={"from": str(START), "to": str(END)},
        headers={"Authorization": f"Bearer {season.key}"},
    ).json()
    funnel = asdict(truth.return_funnel)
    assert answer["return_funnel"] == funnel == funnel_from_records(season.records)
    assert answer["totals"] == asdict(truth.totals)
    # a season with something in every chart, so the checks below are not about zeros
    assert funnel["sent"] > 50 and funnel["esigned"] > 0 and truth.totals.lockouts >= 1
    assert truth.reminders.converted > 0 and truth.invites.connected > 0

    show_season(page, season.key)
    page.wait_for_selector(f"#status:has-text('Season {START} to {END}')")
    assert page.text_content("#firm-id") == season.firm_id
    assert page.is_hidden("#error")

    for step, value in funnel.items():
        assert number(page, f"[data-metric='funnel.{step}']") == value
        assert shown_percent(page, f"[data-rate='funnel.{step}']") == pytest.approx(
            100 * value / funnel["sent"], abs=0.05
        )
    widths = {
        step: float(page.get_attribute(f"[data-bar='funnel.{step}']", "width") or "nan")
        for step in funnel
    }
    for step, value in funnel.items():
        assert widths[step] / widths["sent"] == pytest.approx(value / funnel["sent"], abs=0.01)

    totals = asdict(truth.totals)
    for name in ("emails_processed", "authentication_failures", "lockouts"):
        assert number(page, f"[data-metric='totals.{name}']") == totals[name]
    for name in ("voucher_reminders_sent", "invitation_reminders_sent"):
        assert number(page, f"[data-metric='totals.{name}']") == totals[name]
    rates = {
        "delivery": totals["emails_delivered"] / totals["emails_processed"],
        "open": totals["emails_opened"] / totals["emails_delivered"],
        "bounce": totals["emails_bounced"] / totals["emails_processed"],
        "access": funnel["accessed"] / funnel["sent"],
        "esign": funnel["esigned"] / funnel["sent"],
    }
    for name, share in rates.items():
        assert shown_percent(page, f"dd[data-rate='{name}']") == pytest.approx(
            100 * share, abs=0.05
        )

    for timing in truth.time_to_action:
        name = timing.milestone
        assert number(page, f"[data-metric='timing.{name}.reached']") == timing.reached
        for quantile in ("p50", "p90", "p99"):
            seconds = getattr(timing, f"{quantile}_s")
            shown = page.locator(f"[data-metric='timing.{name}.{quantile}']")
            assert float(shown.get_attribute("data-seconds") or "nan") == pytest.approx(seconds)
            assert shown.text_content() == duration(seconds)

    assert number(page, "[data-metric='reminders.sent']") == truth.reminders.reminders
    assert number(page, "[data-metric='reminders.converted']") == truth.reminders.converted
    for step in ("invited", "link_selected", "connected"):
        assert number(page, f"[data-metric='invites.{step}']") == getattr(truth.invites, step)

    days = [asdict(day) for day in truth.days]
    assert len(days) == (END - START).days + 1
    for series in ("emails_processed", "emails_opened", "returns_accessed"):
        line = page.locator(f"#daily-chart polyline[data-series='{series}']")
        assert line.get_attribute("data-values") == ",".join(str(d[series]) for d in days)
        assert len((line.get_attribute("points") or "").split()) == len(days)
    lockout_days = sum(1 for d in days if d["lockouts"])
    assert page.locator("#auth-chart g[data-series='lockouts'] rect").count() == lockout_days

    page.fill("#return-id", season.locked_return)  # the screenshot shows a timeline too
    page.click("#timeline-form button[type=submit]")
    page.wait_for_selector("#timeline:not([hidden])")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"\ndashboard screenshot: {screenshot}")  # noqa: T201 - the artifact's path


def timeline_rows(page: Page) -> list[list[str]]:
    return [
        [cell.strip() for cell in row.locator("td").all_text_contents()]
        for row in page.locator("#timeline tbody tr").all()
    ]


def test_timeline_lists_a_returns_events_in_order(
    page: Page, season: Season, clickhouse: Client
) -> None:
    show_season(page, season.key)
    page.wait_for_selector("#season:not([hidden])")

    page.fill("#return-id", season.locked_return)
    page.click("#timeline-form button[type=submit]")
    page.wait_for_selector("#timeline:not([hidden])")
    rows = timeline_rows(page)
    assert [row[1] for row in rows] == [
        "Taxpayer: Initial Email - Processed",
        "Taxpayer: Initial Email - Delivered",
        "Taxpayer: Initial Email - Open",
        "Authentication Failed",
        "Authentication Failed",
        "Authentication Failed",
        "Access Locked",
        "Access Unlocked",
        "Taxpayer: Tax Return Accessed",
        "Taxpayer: Taxpayer Esigned - Other Signature Documents",
    ]
    assert rows[7][3:] == ["Firm user", f"{season.firm_id}-{PREPARER}"]
    assert rows[0] == ["2026-02-10 09:00:00", rows[0][1], "Taxpayer", "System", ""]
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)

    # the busiest simulated return, against the timeline ClickHouse answers
    busiest, _ = Counter(
        r["return_id"] for s, _, r in season.records if s == catalogue.TRACKING_EVENT
    ).most_common(1)[0]
    page.fill("#return-id", busiest)
    page.click("#timeline-form button[type=submit]")
    page.wait_for_selector(f"#timeline-caption:has-text('Return {busiest}:')")
    shown = [(row[0], row[1]) for row in timeline_rows(page)]
    expected = [
        (f"{e.occurred_at:%Y-%m-%d %H:%M:%S}", e.description)
        for e in return_timeline(clickhouse, busiest, season.firm_id)
    ]
    assert len(shown) == len(expected) > 10
    assert [when for when, _ in shown] == sorted(when for when, _ in shown)
    # events of the same millisecond may tie-break differently (offset vs event id)
    assert sorted(shown) == sorted(expected)

    page.fill("#return-id", "R-NOT-THERE")
    page.click("#timeline-form button[type=submit]")
    page.wait_for_selector("#timeline-error:not([hidden])")
    assert page.text_content("#timeline-error") == "No events of return R-NOT-THERE for this firm."
    assert page.is_hidden("#timeline")


def test_a_wrong_key_shows_an_error_and_no_data(page: Page, season: Season) -> None:
    show_season(page, "wrong-key-0123456789")
    page.wait_for_selector("#error:not([hidden])")
    assert "The API key was not accepted (401)" in (page.text_content("#error") or "")
    assert page.is_hidden("#season")
    assert page.locator("[data-metric]").count() == 0
    assert page.evaluate("sessionStorage.getItem('ctrack.apiKey')") is None

    # the right key shows the season; a wrong one afterwards takes every figure away again
    show_season(page, season.key)
    page.wait_for_selector("#season:not([hidden])")
    assert page.locator("[data-metric]").count() > 20
    assert page.is_hidden("#error")
    show_season(page, "another-wrong-key-0123")
    page.wait_for_selector("#error:not([hidden])")
    assert page.is_hidden("#season") and page.is_hidden("#firm")
    assert page.locator("[data-metric]").count() == 0
