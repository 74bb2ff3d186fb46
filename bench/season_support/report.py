"""Figures of a finished run: stage rates, peaks, the side-by-side table, JSON and the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from schemas.catalogue import TopicNames
from season_support.monitor import Sample
from season_support.pipeline import SOURCE_TOPICS, Phase

MiB = 2**20


def stage_rate(samples: list[Sample], value: Any) -> dict[str, Any]:
    """Records moved by a stage and its rate, from its first progress to its last."""
    points = [(s.t, int(value(s))) for s in samples]
    if len(points) < 2:
        return {"records": 0, "per_s": None, "seconds": None}
    first, final = points[0][1], points[-1][1]
    moved = [i for i, (_t, v) in enumerate(points) if v > first]
    if not moved:
        return {"records": 0, "per_s": None, "seconds": None}
    start = points[max(moved[0] - 1, 0)][0]
    end = next(t for t, v in points if v == final)
    seconds = max(end - start, 1e-9)
    return {
        "records": final - first,
        "per_s": round((final - first) / seconds),
        "seconds": round(seconds, 1),
    }


def phase_figures(
    phase: Phase, analysis: dict[str, Any], consumer: str, source_records: int
) -> dict[str, Any]:
    """Everything measured in one phase; `consumer` is the group that applies the rules,
    `source_records` how many records the simulator produced."""
    monitor = phase.monitor
    assert monitor is not None  # noqa: S101
    samples = monitor.samples
    names = TopicNames(phase.prefix)
    sources = [names.of(spec) for spec in SOURCE_TOPICS]
    start = next((s.t for s in samples if any(s.ends.get(t, 0) for t in sources)), 0.0)
    # the worker writes into source topics too: the producer's own figure is its records over
    # the time from its first record to its exit
    producing_s = max((phase.producer_done_at or start) - start, 1e-9)
    produced = {"records": source_records, "per_s": round(source_records / producing_s),
                "seconds": round(producing_s, 1)}  # fmt: skip
    stages = {"produce": produced, "rules": stage_rate(samples, lambda s: s.consumed[consumer])}
    if "sink" in (samples[0].consumed if samples else {}):
        stages["store"] = stage_rate(samples, lambda s: s.consumed["sink"])
    end = samples[-1].t if samples else 0.0
    end_to_end = produced["records"] / max(end - start, 1e-9)
    peak_lag = {
        label: max((s.lag.get(label, 0) for s in samples), default=0)
        for label in (samples[0].lag if samples else {})
    }
    peak_rss = {
        name: max((s.rss.get(name, 0) for s in samples), default=0) for name in _names(samples)
    }
    return {
        "stages": stages,
        "end_to_end_per_s": round(end_to_end),
        "wall_s": round(end - start, 1),
        "ingest_lag": analysis["ingest_lag"],
        "rule_lag": analysis["rule_lag"],
        "peak_consumer_lag": peak_lag,
        "peak_rss_mib": {k: round(v / MiB) for k, v in peak_rss.items()},
        "restarts": phase.restarts,
        "events": phase.events,
        "api": _api(phase),
    }


def _names(samples: list[Sample]) -> list[str]:
    seen: dict[str, None] = {}
    for sample in samples:
        seen.update(dict.fromkeys(sample.rss))
    return list(seen)


def _api(phase: Phase) -> dict[str, Any] | None:
    api = phase.monitor.api if phase.monitor else None
    if api is None:
        return None
    values = sorted(api.latencies_ms)
    p = (lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 1)) if values else None
    return {
        "answered": api.ok,
        "failed": api.failed,
        "p50_ms": p(0.5) if p else None,
        "p99_ms": p(0.99) if p else None,
    }


def side_by_side(pipeline: dict[str, Any], baseline: dict[str, Any] | None) -> Table:
    """One table: each figure for the pipeline, the baseline and their ratio."""
    table = Table(title="Season run: pipeline vs baseline (same season, same machine, same run)")
    table.add_column("figure")
    table.add_column("pipeline", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("pipeline / baseline", justify="right")
    for label, getter in _rows(pipeline, baseline):
        ours = getter(pipeline)
        theirs = getter(baseline) if baseline else None
        ratio = f"{ours / theirs:.2f}" if isinstance(ours, int | float) and theirs else ""
        table.add_row(label, _fmt(ours), _fmt(theirs), ratio)
    return table


def _rows(pipeline: dict[str, Any], baseline: dict[str, Any] | None) -> list[tuple[str, Any]]:
    def stage(name: str) -> Any:
        return lambda f: f["stages"].get(name, {}).get("per_s") if name in f["stages"] else None

    rows: list[tuple[str, Any]] = [
        ("produce: events/s (ctrack simulate -> broker)", stage("produce")),
        ("rules: records/s consumed (worker | baseline loop)", stage("rules")),
        (
            "store: records/s (sink -> ClickHouse)",
            lambda f: f["stages"].get("store", f["stages"]["rules"])["per_s"],
        ),
        ("end to end: events/s (first produced -> all stored)", lambda f: f["end_to_end_per_s"]),
        ("wall time s", lambda f: f["wall_s"]),
        ("ingest lag p50 s (produced -> queryable)", lambda f: f["ingest_lag"]["p50_s"]),
        ("ingest lag p99 s", lambda f: f["ingest_lag"]["p99_s"]),
        ("rule lag p50 s (produced -> derived row queryable)", lambda f: f["rule_lag"]["p50_s"]),
        ("rule lag p99 s", lambda f: f["rule_lag"]["p99_s"]),
    ]
    labels = set(pipeline["peak_consumer_lag"]) | set((baseline or {}).get("peak_consumer_lag", {}))
    for label in sorted(labels):
        rows.append(
            (f"peak consumer lag: {label}", lambda f, k=label: f["peak_consumer_lag"].get(k))
        )
    names = set(pipeline["peak_rss_mib"]) | set((baseline or {}).get("peak_rss_mib", {}))
    for name in sorted(names):
        rows.append((f"peak RSS MiB: {name}", lambda f, k=name: f["peak_rss_mib"].get(k)))
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def reconciliation_table(report: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for column in (
        "table",
        "expected",
        "stored",
        "visible",
        "distinct",
        "missing",
        "unexpected",
        "dup. visible",
    ):
        table.add_column(column, justify="right" if column != "table" else "left")
    for row in report["tables"]:
        table.add_row(
            row["table"],
            *(
                f"{row[k]:,}"
                for k in (
                    "expected",
                    "stored",
                    "visible",
                    "distinct",
                    "missing",
                    "unexpected",
                    "duplicates_visible",
                )
            ),
        )
    return table


def checks_table(report: dict[str, Any]) -> Table:
    table = Table(title="Reconciliation checks")
    table.add_column("check")
    table.add_column("result")
    for name, ok in report["checks"].items():
        table.add_row(name.replace("_", " "), "[green]pass[/green]" if ok else "[red]FAIL[/red]")
    return table


def plot(path: Path, phases: dict[str, Phase], analyses: dict[str, dict[str, Any]]) -> None:
    """Throughput per stage and lag over time, one column per phase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(phases), figsize=(6.5 * len(phases), 7), squeeze=False)
    for col, (name, phase) in enumerate(phases.items()):
        samples = phase.monitor.samples if phase.monitor else []
        top, bottom = axes[0][col], axes[1][col]
        names = TopicNames(phase.prefix)
        sources = [names.of(spec) for spec in SOURCE_TOPICS]
        series = {"produced": [sum(s.ends.get(t, 0) for t in sources) for s in samples]}
        for label in samples[0].consumed if samples else {}:
            series[label] = [s.consumed.get(label, 0) for s in samples]
        times = [s.t for s in samples]
        for label, values in series.items():
            rates = [0.0] + [
                (values[i] - values[i - 1]) / max(times[i] - times[i - 1], 1e-9)
                for i in range(1, len(values))
            ]
            top.plot(times, _smooth(rates), label=label)
        top.set_title(f"{name}: throughput (records/s, 5-sample mean)")
        top.legend(fontsize=8)
        for label in samples[0].lag if samples else {}:
            bottom.plot(
                times, [s.lag.get(label, 0) for s in samples], label=f"consumer lag {label}"
            )
        bottom.set_xlabel("seconds since start")
        bottom.set_ylabel("records behind")
        bins = analyses[name].get("lag_series", [])
        if bins:
            twin = bottom.twinx()
            twin.plot([b[0] for b in bins], [b[1] for b in bins], "k--", label="ingest lag s")
            twin.plot([b[0] for b in bins], [b[2] for b in bins], "r:", label="rule lag s")
            twin.set_ylabel("end-to-end lag s (by produce time)")
            twin.legend(fontsize=8, loc="upper right")
        bottom.legend(fontsize=8, loc="upper left")
        bottom.set_title(f"{name}: consumer lag and end-to-end lag")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _smooth(values: list[float], width: int = 5) -> list[float]:
    out = []
    for i in range(len(values)):
        window = values[max(0, i - width + 1) : i + 1]
        out.append(sum(window) / len(window))
    return out
