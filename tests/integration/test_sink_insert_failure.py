"""The sink when ClickHouse refuses its inserts for real: nothing committed, nothing lost.

The refusal comes from ClickHouse itself, not from a stand-in: either the events table is
detached (as after a botched migration: UNKNOWN_TABLE), or its part limit is lowered so every
insert fails with TOO_MANY_PARTS (what a server says when merges cannot keep up). The sink
retries, gives up with InsertFailed and commits nothing of the refused batch; once the table
takes writes again, a new sink stores every record, and queries see each exactly once (rows
another table stored before the failure are read again and collapse under FINAL and uniqExact).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from ctrack.settings import KafkaSettings, SinkSettings
from producers.event_producer import EventProducer
from schemas import catalogue
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from services.analytics.queries import firm_engagement
from sinks.clickhouse.sink import ClickHouseSink, InsertFailed
from tests.factories import BASE_TIME, tracking_event
from tests.integration.sink_offsets import committed, end_offsets

DEADLINE_S = 60.0
DAY = BASE_TIME.date()
SINK = SinkSettings(batch_max_seconds=0.2)


@contextmanager
def detached(clickhouse: Client) -> Iterator[None]:
    clickhouse.command("DETACH TABLE tracking_events")
    try:
        yield
    finally:
        clickhouse.command("ATTACH TABLE tracking_events")


@contextmanager
def too_many_parts(clickhouse: Client) -> Iterator[None]:
    # the month already has a part (the first wave), so any insert into it is over the limit
    clickhouse.command("ALTER TABLE tracking_events MODIFY SETTING parts_to_throw_insert = 1")
    try:
        yield
    finally:
        clickhouse.command("ALTER TABLE tracking_events RESET SETTING parts_to_throw_insert")


REFUSALS: dict[str, tuple[Callable[[Client], Any], str]] = {
    "table detached": (detached, "UNKNOWN_TABLE"),
    "too many parts": (too_many_parts, "TOO_MANY_PARTS"),
}


def produce_wave(kafka: KafkaSettings, firm: str, start: int, events: int, invites: int) -> None:
    """`events` Authentication Failed events over 10 returns and `invites` invites, new ids."""
    with EventProducer(kafka, AvroCodec()) as producer:
        for n in range(start, start + events):
            producer.send_tracking(
                tracking_event(
                    TrackingEventType.AUTHENTICATION_FAILED,
                    return_id=f"{firm}-R{n % 10}",
                    firm_id=firm,
                    minute=n % 600,
                )
            )
        for n in range(start, start + invites):
            record = {
                "event_id": str(uuid.uuid4()),
                "event_type": "INVITE_SENT",
                "occurred_at": BASE_TIME,
                "firm_id": firm,
                "client_id": f"{firm}-C{n}",
            }
            producer.send_record(catalogue.CLIENT_EVENT, record["client_id"], record)


def sink(clickhouse: Client, kafka: KafkaSettings) -> ClickHouseSink:
    return ClickHouseSink(
        clickhouse, kafka, SINK, AvroCodec(), insert_attempts=2, retry_backoff_s=0.05
    )


def run_until(sink: ClickHouseSink, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    sink.run(lambda: done() or time.monotonic() > deadline)


def counts(clickhouse: Client, table: str, firm: str) -> tuple[int, int, int]:
    """(rows queries see, distinct event ids, rows stored) of the firm in `table`."""
    where = "WHERE firm_id = {f:String}"
    final, distinct = clickhouse.query(
        f"SELECT count(), uniqExact(event_id) FROM {table} FINAL {where}",  # noqa: S608
        parameters={"f": firm},
    ).result_rows[0]
    stored = clickhouse.query(
        f"SELECT count() FROM {table} {where}",  # noqa: S608
        parameters={"f": firm},
    ).result_rows[0][0]
    return int(final), int(distinct), int(stored)


def refusals(clickhouse: Client, error_code: str) -> int:
    """How often ClickHouse has answered `error_code` since it started (system.errors)."""
    rows = clickhouse.query(
        "SELECT value FROM system.errors WHERE name = {code:String}",
        parameters={"code": error_code},
    ).result_rows
    return int(rows[0][0]) if rows else 0


def offsets(kafka: KafkaSettings) -> dict[str, list[int]]:
    """Committed offsets of the sink group (-1001: none) on the two topics of the test."""
    names = TopicNames(kafka.topic_prefix)
    topics = (names.of(catalogue.TRACKING), names.of(catalogue.CLIENT_EVENTS))
    return {topic: committed(kafka, topic, SINK) for topic in topics}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_refused_inserts_commit_nothing_and_lose_nothing(
    kafka: KafkaSettings, clickhouse: Client, refusal: str
) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    make_unwritable, error_code = REFUSALS[refusal]

    # 1. a first wave is stored and committed
    produce_wave(kafka, firm, 0, events=300, invites=100)
    first = sink(clickhouse, kafka)
    run_until(first, lambda: counts(clickhouse, "tracking_events", firm)[0] == 300)
    first_stored = counts(clickhouse, "client_events", firm)
    assert counts(clickhouse, "tracking_events", firm)[0] == 300 and first_stored[0] == 100
    after_first = offsets(kafka)
    assert {topic: [max(o, 0) for o in c] for topic, c in after_first.items()} == {
        topic: end_offsets(kafka, topic) for topic in after_first
    }

    # 2. the table refuses every insert: the sink retries, then stops without committing
    produce_wave(kafka, firm, 300, events=500, invites=200)
    refused = sink(clickhouse, kafka)
    before = refusals(clickhouse, error_code)
    with make_unwritable(clickhouse), pytest.raises(InsertFailed) as failure:
        # stop once ClickHouse has refused: the sink raises (at once, or when its flush in
        # flight settles on the way out) after retrying
        run_until(refused, lambda: refusals(clickhouse, error_code) > before)
    assert "tracking_events: insert of" in str(failure.value)
    assert error_code in str(failure.value)
    assert "tracking_events" not in refused.stats.rows_written
    assert offsets(kafka) == after_first  # not one offset of the refused batch
    assert counts(clickhouse, "tracking_events", firm) == (300, 300, 300)

    # 3. writable again: a new sink re-reads from the last commit and stores everything
    recovered = sink(clickhouse, kafka)
    run_until(
        recovered,
        lambda: (
            counts(clickhouse, "tracking_events", firm)[0] == 800
            and counts(clickhouse, "client_events", firm)[0] == 300
        ),
    )
    assert counts(clickhouse, "tracking_events", firm) == (800, 800, 800)
    seen, distinct, stored = counts(clickhouse, "client_events", firm)
    assert (seen, distinct) == (300, 300)  # invites stored before the refusal: once in queries
    assert stored >= 300
    (day,) = firm_engagement(clickhouse, firm, DAY, DAY)
    assert (day.authentication_failures, day.invites_sent) == (800, 300)
    assert {topic: [max(o, 0) for o in c] for topic, c in offsets(kafka).items()} == {
        topic: end_offsets(kafka, topic) for topic in after_first
    }
