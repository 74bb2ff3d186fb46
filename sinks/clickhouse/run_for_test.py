"""A sink process for crash tests: `python -m sinks.clickhouse.run_for_test TABLE=N ...`.

Runs the real sink (settings from the environment, as `ctrack sink`) until every named table
holds N rows (read with FINAL) or `--timeout` passes, printing one JSON line per flush and the
final counts. `--crash-after-flushes K` makes the process SIGKILL itself after its K-th batch
is inserted and before its offsets are committed: the worst moment to die. chdb lets one
process open a data dir, so tests read the counts this process prints rather than the dir.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from typing import Any

from confluent_kafka import TopicPartition

from ctrack.runtime import process_codec
from ctrack.settings import ClickHouseSettings, KafkaSettings, SinkSettings
from sinks.clickhouse.connection import connect
from sinks.clickhouse.migrations import migrate
from sinks.clickhouse.sink import ClickHouseSink
from sinks.clickhouse.tables import TABLE_OF_SCHEMA


class _ReportingSink(ClickHouseSink):
    """Prints progress after each flush; optionally dies between an insert and its commit."""

    crash_after_flushes = 0

    def _commit(self, offsets: list[TopicPartition]) -> None:
        if self.crash_after_flushes and self.stats.flushes + 1 >= self.crash_after_flushes:
            _emit({"crashing": True, "rows_written": self.stats.rows_written})
            os.kill(os.getpid(), signal.SIGKILL)
        super()._commit(offsets)
        _emit({"flushed": self.stats.flushes + 1, "rows_written": self.stats.rows_written})


def counts(client: Any, table: str) -> dict[str, int]:
    """Rows as queries see them (FINAL), rows stored, and distinct ids (first column)."""
    key = next(t.columns[0] for t in TABLE_OF_SCHEMA.values() if t.name == table)
    sql = f"SELECT count(), uniqExact({key}) FROM {table} FINAL"  # noqa: S608 - our tables
    final, distinct = client.query(sql).result_rows[0]
    stored = client.query(f"SELECT count() FROM {table}").result_rows[0][0]  # noqa: S608
    return {"final": int(final), "distinct": int(distinct), "stored": int(stored)}


def main(argv: list[str] | None = None) -> int:
    """Run the sink until the expected counts are reached; exit 0 if they were."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("expect", nargs="*", help="TABLE=ROWS to wait for")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--crash-after-flushes", type=int, default=0)
    args = parser.parse_args(argv)
    expected = {table: int(rows) for table, rows in (item.split("=") for item in args.expect)}
    client = connect(ClickHouseSettings().resolved_dsn)
    migrate(client)
    # a killed member would hold its partitions for the default 45 s session
    fast_failover = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    sink = _ReportingSink(
        client, KafkaSettings(), SinkSettings(), process_codec(), consumer_overrides=fast_failover
    )
    sink.crash_after_flushes = args.crash_after_flushes
    deadline = time.monotonic() + args.timeout
    next_check = 0.0

    def done() -> bool:
        nonlocal next_check
        if time.monotonic() > deadline:
            return True
        if time.monotonic() < next_check:
            return False
        next_check = time.monotonic() + 0.25
        return all(counts(client, t)["final"] >= rows for t, rows in expected.items())

    sink.run(done)
    result = {table: counts(client, table) for table in expected}
    _emit({"counts": result})
    return 0 if all(result[t]["final"] >= rows for t, rows in expected.items()) else 1


def _emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
