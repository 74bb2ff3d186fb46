"""After a phase: lag figures and (for the pipeline) the reconciliation, in a process of its own,
since chdb lets one process open one data directory.

Run as `python -m season_support.analyse JOB.json OUT.json`; JOB names the chdb directory,
the topic prefix, the end-offset timelines and, to reconcile, the plan and the poison sent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.catalogue import TopicNames
from season_support.expectation import (
    Expectation,
    IdWriter,
    add_outputs,
    count_rows,
    expect,
    store_id,
)
from season_support.lag import ProduceClock, ingest_lags, percentiles, rule_lags
from season_support.poison import illegal_transitions
from season_support.reconcile import Poison, reconcile, state_report
from season_support.scales import SCALES
from season_support.states import COMPARED, read_changelog
from sinks.clickhouse.connection import connect


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    client = connect(f"chdb://{job['chdb_dir']}")
    timelines = {
        (key.split("\t")[0], int(key.split("\t")[1])): [tuple(point) for point in line]
        for key, line in job["timelines"].items()
    }
    clock = ProduceClock(timelines, job["wall_start"])
    ingest = ingest_lags(client, job["prefix"], clock)
    rule = rule_lags(client, job["prefix"], clock)
    result: dict[str, Any] = {
        "ingest_lag": percentiles(ingest),
        "rule_lag": percentiles(rule),
        "lag_series": _binned(ingest, rule),
    }
    if job.get("reconcile"):
        result["reconciliation"] = _reconcile(client, job["reconcile"], job["prefix"])
    Path(sys.argv[2]).write_text(json.dumps(result, indent=1, default=str))


def _reconcile(client: Any, spec: dict[str, Any], prefix: str) -> dict[str, Any]:
    plan = SCALES[spec["scale"]].plan(spec["seed"])
    expectation = expect(plan, client, source_only=spec["source_only"])
    # illegal transitions are valid records: stored, and refused by the rules; an oversized
    # one is neither stored nor applied (dead-lettered), so it adds nothing to expect
    _add_extra(expectation, client, illegal_transitions(plan, spec.get("illegal", 0)))
    names = TopicNames(prefix)
    worker_tables = {}
    for table in COMPARED:
        worker_tables[table.name] = read_changelog(spec["bootstrap"], names, spec["app_id"], table)
    poison = [Poison(**p) for p in spec.get("poison", [])]
    report = reconcile(client, expectation, worker_tables, poison)
    if spec.get("baseline_states"):
        baseline = json.loads(Path(spec["baseline_states"]).read_text())
        report["baseline_state"] = state_report(expectation, baseline)
    return report


def _add_extra(
    expectation: Expectation, client: Any, records: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Poison that is valid Avro is stored like any record; what the rules say of it counts."""
    writer = IdWriter(client, fresh=False)
    for schema_name, _key, record in records:
        store_id(writer, schema_name, record)
        add_outputs(expectation, writer, expectation.fold.apply(schema_name, record))
    writer.flush()
    count_rows(expectation, client)


def _binned(ingest: list[tuple[float, float]], rule: list[tuple[float, float]]) -> list[Any]:
    """Lag over the run: per 2-second bin of produce time, the median ingest and rule lag."""
    bins: dict[int, tuple[list[float], list[float]]] = {}
    for series, index in ((ingest, 0), (rule, 1)):
        for produced, lag in series:
            bins.setdefault(int(produced // 2), ([], []))[index].append(lag)
    out = []
    for key in sorted(bins):
        ingest_bin, rule_bin = bins[key]
        out.append(
            [key * 2, _median(ingest_bin), _median(rule_bin), len(ingest_bin) + len(rule_bin)]
        )
    return out


def _median(values: list[float]) -> float | None:
    return sorted(values)[len(values) // 2] if values else None


if __name__ == "__main__":
    main()
