"""Benchmark: Client Tracking timeline and firm season dashboard latency on a simulated season.

Run: .venv/bin/python bench/queries.py [--returns N] [--firms F]   (or `make bench-queries`)
100M tracking events (about 25 per return): --returns 4000000

Generates the season inside chdb (see `queries_data.py`; our migrations, so the real tables and
materialized views; no Kafka), in a temporary directory under /tmp that is deleted at the end,
then measures, from one process as the query API runs them:
- the return timeline: `return_timeline_page` (the exact SQL and code of the API's
  `/v1/returns/{id}/timeline`, first page of 100) for many random returns: p50/p95/p99;
- the firm season dashboard: `season_overview` (every query of the dashboard's request) for
  many random firms over the whole season, and for the largest firm;
- baselines, the same calls with ClickHouse told not to use the primary key or skip indexes
  (`use_primary_key = 0, use_skip_indexes = 0`: what the table layout saves), on fewer samples.
Goals (issue 5): timeline p99 < 20 ms, dashboard p95 < 500 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clickhouse_connect
import queries_data as data
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from services.analytics.season import season_overview
from services.tracking_api.queries import return_timeline_page
from sinks.clickhouse.connection import connect
from sinks.clickhouse.migrations import migrate

TIMELINE_GOAL_MS = 20.0  # p99
DASHBOARD_GOAL_MS = 500.0  # p95
FULL_SCAN = {"use_primary_key": 0, "use_skip_indexes": 0}
TABLES = ("tracking_events", "delivery_events", "client_events", "firm_daily_activity")


def load(client: Any, console: Console, returns: int, firms: int, chunk: int) -> float:
    """Generate the season, `chunk` returns per INSERT; returns the seconds it took."""
    started = time.perf_counter()
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*Progress.get_default_columns()[:1], *columns, console=console) as progress:
        task = progress.add_task("returns generated", total=returns)
        for first in range(0, returns, chunk):
            count = min(chunk, returns - first)
            for statement in (data.tracking_insert, data.delivery_insert, data.client_insert):
                client.command(statement(first, count, firms))
            progress.advance(task, count)
            if not console.is_terminal:  # a log file gets a line per chunk instead of a bar
                elapsed = time.perf_counter() - started
                console.print(f"{first + count:,} of {returns:,} returns, {elapsed:,.0f} s")
    return time.perf_counter() - started


def timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p99 of 500 samples is the 495th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered)) - 1))]


def sample_returns(client: Any, rng: random.Random, returns: int, firms: int, n: int) -> list[Any]:
    numbers = [rng.randrange(returns) for _ in range(n)]
    return list(client.query(data.sample_returns_sql(numbers, firms)).result_rows)


def timelines(client: Any, pairs: list[Any]) -> list[float]:
    """Milliseconds of the API's first timeline page of each (firm, return)."""
    latencies = []
    for firm, ret in pairs:
        latencies.append(
            timed_ms(lambda f=firm, r=ret: return_timeline_page(client, f, r, 100, None))
        )
    return latencies


def dashboards(client: Any, firms: list[str]) -> list[float]:
    """Milliseconds of the dashboard's whole season for each firm."""
    start, end = data.SEASON_START, data.SEASON_END
    return [timed_ms(lambda f=firm: season_overview(client, f, start, end)) for firm in firms]


def describe_data(client: Any) -> dict[str, Any]:
    counts = {t: int(client.query(f"SELECT count() FROM {t}").result_rows[0][0]) for t in TABLES}  # noqa: S608
    parts, size = client.query(
        "SELECT count(), sum(bytes_on_disk) FROM system.parts"
        " WHERE active AND database = currentDatabase()"
    ).result_rows[0]
    tracking_parts = client.query(
        "SELECT count() FROM system.parts WHERE active AND table = 'tracking_events'"
        " AND database = currentDatabase()"
    ).result_rows[0][0]
    return counts | {"parts": int(parts), "tracking_parts": int(tracking_parts), "bytes": int(size)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--returns", type=int, default=40_000, help="returns (~25 events each)")
    parser.add_argument("--firms", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=200_000, help="returns per INSERT")
    parser.add_argument("--timeline-samples", type=int, default=500)
    parser.add_argument("--dashboard-firms", type=int, default=60)
    parser.add_argument("--baseline-samples", type=int, default=5)
    parser.add_argument(
        "--optimize",
        action="store_true",
        help="merge every table fully first (OPTIMIZE ... FINAL): months long closed, as merges"
        " leave them; by default, measure the parts as the load left them",
    )
    parser.add_argument("--data-dir", type=Path, help="chdb directory (default: a new one in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    console, rng = Console(width=140), random.Random(2026)
    directory = args.data_dir or Path(tempfile.mkdtemp(prefix="ctrack-bench-queries-", dir="/tmp"))
    try:
        run(args, console, rng, directory)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
            console.print(f"removed {directory}")


def run(args: argparse.Namespace, console: Console, rng: random.Random, directory: Path) -> None:
    dsn = f"chdb://{directory}"
    client = connect(dsn)
    migrate(client)
    if not client.query("SELECT count() FROM tracking_events").result_rows[0][0]:
        load_s = load(client, console, args.returns, args.firms, args.chunk)
        console.print(f"generated in {load_s:,.0f} s")
    if args.optimize:
        started = time.perf_counter()
        for table in TABLES:
            client.command(f"OPTIMIZE TABLE {table} FINAL")
        console.print(f"merged in {time.perf_counter() - started:,.0f} s")
    facts = describe_data(client)
    console.print(
        ", ".join(f"{table}: {facts[table]:,}" for table in TABLES)
        + f"; {facts['parts']} active parts ({facts['tracking_parts']} of tracking_events),"
        f" {facts['bytes'] / 2**30:.2f} GiB on disk"
    )
    pairs = sample_returns(client, rng, args.returns, args.firms, args.timeline_samples)
    firms = [f"F-{rng.randrange(args.firms):05d}" for _ in range(args.dashboard_firms)]
    console.print(f"load average before measuring: {os.getloadavg()[0]:.2f} (1 min)")
    timelines(client, pairs[:10])  # warm-up: first queries load marks and compile
    dashboards(client, firms[:2])
    timeline_ms = timelines(client, pairs)
    dashboard_ms = dashboards(client, firms)
    largest_ms = dashboards(client, ["F-00000"] * 5)
    scan = clickhouse_connect.get_client(dsn=dsn, settings=FULL_SCAN)  # same engine, own session
    base_timeline_ms = timelines(scan, pairs[: args.baseline_samples])
    base_dashboard_ms = dashboards(scan, firms[: args.baseline_samples])
    load1, load5, _ = os.getloadavg()
    report(
        console,
        [
            (
                "return timeline (API first page)",
                timeline_ms,
                TIMELINE_GOAL_MS,
                0.99,
                base_timeline_ms,
            ),
            ("firm season dashboard", dashboard_ms, DASHBOARD_GOAL_MS, 0.95, base_dashboard_ms),
            ("dashboard of the largest firm (F-00000)", largest_ms, DASHBOARD_GOAL_MS, 0.95, []),
        ],
    )
    console.print(f"load average at the end: {load1:.2f} (1 min), {load5:.2f} (5 min)")


def report(
    console: Console, rows: list[tuple[str, list[float], float, float, list[float]]]
) -> None:
    table = Table(title="Query latency (ms) on the simulated season, chdb in-process")
    headers = (
        "query",
        "samples",
        "p50",
        "p95",
        "p99",
        "max",
        "goal",
        "met",
        "full-scan p50",
        "p50 ratio",
    )
    for header in headers:
        table.add_column(header, justify="left" if header == "query" else "right")
    for name, values, goal, share, baseline in rows:
        at_goal = percentile(values, share)
        base = statistics.median(baseline) if baseline else None
        table.add_row(
            name,
            str(len(values)),
            *(f"{percentile(values, q):.1f}" for q in (0.5, 0.95, 0.99)),
            f"{max(values):.1f}",
            f"p{round(share * 100)} < {goal:.0f}",
            "yes" if at_goal < goal else "NO",
            f"{base:,.0f} (n={len(baseline)})" if base else "-",
            f"{base / statistics.median(values):,.0f}x" if base else "-",
        )
    console.print(table)


if __name__ == "__main__":
    main()
