"""End-to-end lag, from each row's Kafka coordinates and its `ingested_at` in ClickHouse.

A row's produce time is read off its partition's end-offset timeline (sampled twice a second
during the run); `ingested_at` is when the insert made it queryable. Ingest lag: a source
event produced -> queryable. Rule lag: a source event produced -> the event, status or alert
the stream worker derived from it queryable (producer -> broker -> worker -> broker -> sink).
"""
# ruff: noqa: S608 - SQL names only our own table and column constants, never input

from __future__ import annotations

import bisect
import statistics
from typing import Any

from clickhouse_connect.driver.client import Client

from season_support.monitor import Timeline

SAMPLE_ROWS = 100_000  # rows per query at most (sampled by hash, so any scale reads quickly)
# table -> (catalogue topic name, predicate selecting its source rows)
SOURCES = {
    "tracking_events": ("tracking", "caused_by IS NULL"),
    "client_events": ("client-events", "caused_by IS NULL"),
    "return_lifecycle_events": ("return-lifecycle", "1"),
    "delivery_events": ("delivery", "1"),
}
DERIVED = {
    "tracking_events": "caused_by IS NOT NULL",
    "client_events": "caused_by IS NOT NULL",
    "client_status": "1",
    "firm_alerts": "1",
}


class ProduceClock:
    """Offset -> seconds since the run started, per (topic, partition), by bisection."""

    def __init__(self, timelines: dict[tuple[str, int], Timeline], wall_start: float):
        self.wall_start = wall_start
        self._ends = {tp: [end for _t, end in line] for tp, line in timelines.items()}
        self._times = {tp: [t for t, _end in line] for tp, line in timelines.items()}

    def at(self, topic: str, partition: int, offset: int) -> float | None:
        ends = self._ends.get((topic, partition))
        if not ends:
            return None
        i = bisect.bisect_right(ends, offset)
        if i >= len(ends):
            return None
        times = self._times[(topic, partition)]
        if i == 0:
            return times[0]
        before, after = ends[i - 1], ends[i]
        share = (offset + 1 - before) / max(after - before, 1)
        return times[i - 1] + share * (times[i] - times[i - 1])


def first_row(client: Client, sql: str) -> tuple[Any, ...]:
    """The first row of a query that always returns one (counts, aggregates)."""
    row = client.query(sql).first_row
    assert row is not None  # noqa: S101 - an aggregate without GROUP BY returns one row
    return tuple(row)


def _sampling(client: Client, table: str, predicate: str, key: str) -> str:
    (rows,) = first_row(client, f"SELECT count() FROM {table} WHERE {predicate}")
    modulo = max(1, int(rows) // SAMPLE_ROWS)
    return f"{predicate} AND cityHash64({key}) % {modulo} = 0"


def ingest_lags(client: Client, prefix: str, clock: ProduceClock) -> list[tuple[float, float]]:
    """(produced at, seconds until queryable) for a sample of every source table's rows."""
    lags = []
    for table, (topic, predicate) in SOURCES.items():
        where = _sampling(client, table, predicate, "kafka_offset, kafka_partition")
        rows = client.query(
            f"SELECT kafka_partition, kafka_offset, toUnixTimestamp64Milli(min(ingested_at))"
            f" FROM {table} WHERE {where} GROUP BY kafka_partition, kafka_offset"
        ).result_rows
        for partition, offset, ingested_ms in rows:
            produced = clock.at(f"{prefix}.{topic}", int(partition), int(offset))
            if produced is not None:
                stored = ingested_ms / 1000 - clock.wall_start
                lags.append((produced, max(stored - produced, 0.0)))
    return lags


def rule_lags(client: Client, prefix: str, clock: ProduceClock) -> list[tuple[float, float]]:
    """(cause produced at, seconds until the derived row was queryable), sampled."""
    sources = " UNION ALL ".join(
        f"SELECT toString(event_id) AS id, '{topic}' AS topic, kafka_partition AS p,"
        f" min(kafka_offset) AS o FROM {table} WHERE {predicate} GROUP BY id, p"
        for table, (topic, predicate) in SOURCES.items()
    )
    lags = []
    for table, predicate in DERIVED.items():
        where = _sampling(client, table, predicate, "toString(caused_by)")
        rows = client.query(
            f"SELECT s.topic, s.p, s.o, d.t FROM (SELECT toString(caused_by) AS c,"
            f" toUnixTimestamp64Milli(min(ingested_at)) AS t FROM {table} WHERE {where}"
            f" GROUP BY c) AS d INNER JOIN ({sources}) AS s ON d.c = s.id"
        ).result_rows
        for topic, partition, offset, ingested_ms in rows:
            produced = clock.at(f"{prefix}.{topic}", int(partition), int(offset))
            if produced is not None:
                stored = ingested_ms / 1000 - clock.wall_start
                lags.append((produced, max(stored - produced, 0.0)))
    return lags


def percentiles(lags: list[tuple[float, float]]) -> dict[str, Any]:
    values = sorted(lag for _t, lag in lags)
    if not values:
        return {"n": 0, "p50_s": None, "p99_s": None, "max_s": None}
    p99 = statistics.quantiles(values, n=100)[98] if len(values) >= 2 else values[0]
    return {
        "n": len(values),
        "p50_s": round(statistics.median(values), 3),
        "p99_s": round(p99, 3),
        "max_s": round(values[-1], 3),
    }
