"""Benchmark: a tax season through the whole pipeline, side by side with a plain baseline.

Run: .venv/bin/python bench/season.py --scale small   (or `make bench-season SCALE=small`)

1. broker: KAFKA_BOOTSTRAP_SERVERS if set, else `ctrack stack` with this environment's
   CTRACK_KAFKA_PORT / CTRACK_KAFKA_CONTROLLER_PORT / CTRACK_DATA_DIR (started and stopped here);
2. pipeline: `ctrack simulate --source-only` -> broker -> `ctrack worker` x N (external clock)
   -> sink and tracking query API in one process (chdb) -> one clock tick at the end of the
   simulated window (due timers fire) -> drained; the API is queried throughout;
3. baseline: the same season again on topics of its own, consumed by one confluent-kafka
   loop applying the same pure rules and inserting into its own chdb;
4. lag from each row's produce time to its `ingested_at`; reconciliation of what the pipeline
   stored against the same events folded in memory.

Writes bench/results/season-<scale>-<time>/ (results.json, season.png, logs) and exits 1 if
the reconciliation fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from season_support.pipeline import SeasonRun
from season_support.report import (
    checks_table,
    phase_figures,
    plot,
    reconciliation_table,
    side_by_side,
)
from season_support.scales import SCALES

RESULTS = Path(__file__).resolve().parent / "results"
console = Console(width=None if sys.stdout.isatty() else 150)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=1, help="stream worker processes")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="produce events/s (0 = as fast as possible)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="pipeline only")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--prefix", default=None, help="topic prefix (default: season<time>)")
    parser.add_argument(
        "--timers-per-tick", type=int, default=None,
        help="the workers' limit of timers fired per tick and partition (default: theirs)",
    )  # fmt: skip
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    scale = SCALES[args.scale]
    out = args.out or RESULTS / f"season-{scale.name}-{datetime.now():%Y%m%d-%H%M%S}"
    run = SeasonRun(
        scale, out, seed=args.seed, workers=args.workers, rate=args.rate,
        baseline=not args.no_baseline, prefix=args.prefix, timers_per_tick=args.timers_per_tick,
    )  # fmt: skip
    console.print(f"season {scale.name}: {scale.returns:,} returns, {run.plan.clients:,} clients, "
                  f"{scale.firms} firms; results in {out}")  # fmt: skip
    try:
        run.prepare()
        results = execute(run)
    finally:
        run.broker.down()
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    show(results)
    console.print(f"results: {out / 'results.json'}, plot: {out / 'season.png'}")
    return 0 if results["reconciliation"]["passed"] else 1


def execute(run: SeasonRun) -> dict[str, Any]:
    pipeline = run.pipeline()
    phases = {"pipeline": pipeline}
    if run.with_baseline:
        phases["baseline"] = run.baseline()
    spec = run.reconcile_spec()
    if run.with_baseline:
        spec["baseline_states"] = str(run.out / "baseline" / "states.json")
    analyses = {
        "pipeline": run.analyse(pipeline, spec),
        **({"baseline": run.analyse(phases["baseline"], None)} if run.with_baseline else {}),
    }
    produced = sum(analyses["pipeline"]["reconciliation"]["produced"].values())
    figures = {"pipeline": phase_figures(pipeline, analyses["pipeline"], "worker", produced)}
    if run.with_baseline:
        base = phase_figures(phases["baseline"], analyses["baseline"], "baseline", produced)
        figures["baseline"] = base
        figures["baseline"]["state"] = json.loads(
            (run.out / "baseline" / "summary.json").read_text()
        )
    plot(run.out / "season.png", phases, analyses)
    return {
        "scale": run.scale.name,
        "plan": {
            "firms": run.plan.firms,
            "clients": run.plan.clients,
            "returns": run.plan.returns,
            "seed": run.seed,
            "source_only": run.source_only,
        },  # fmt: skip
        "workers": run.workers,
        "rate": run.rate,
        "figures": figures,
        "series": {name: phase.monitor.series() for name, phase in phases.items() if phase.monitor},
        "reconciliation": analyses["pipeline"]["reconciliation"],
    }


def show(results: dict[str, Any]) -> None:
    figures = results["figures"]
    console.print(side_by_side(figures["pipeline"], figures.get("baseline")))
    api = figures["pipeline"]["api"]
    if api:
        console.print(
            f"query API during the run: {api['answered']:,} answered, {api['failed']} failed,"
            f" p50 {api['p50_ms']} ms, p99 {api['p99_ms']} ms"
        )
    report = results["reconciliation"]
    console.print(reconciliation_table(report, "Reconciliation: stored vs clean expectation"))
    console.print(checks_table(report))
    console.print_json(
        data={
            k: report[k]
            for k in ("client_status", "worker_state", "baseline_state", "once", "dead_letters")
            if k in report
        }
    )


if __name__ == "__main__":
    sys.exit(main())
