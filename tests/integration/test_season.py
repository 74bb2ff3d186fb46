"""The season benchmark at its smallest scale, run as `bench/season.py` runs it: the whole
pipeline (simulator, broker, stream worker, sink + query API on chdb) reconciles exactly with
the same season folded through the rules in memory. Checks counts and duplicates, not speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ctrack.settings import REPO_ROOT

pytestmark = pytest.mark.integration
# Far below the default, so the run's one clock tick fires its timers through many
# continuation ticks (streams/timers/continuation.py) and the reconciliation covers them.
TIMERS_PER_TICK = 5


@pytest.mark.timeout(600)
def test_a_tiny_season_reconciles_exactly(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "season"
    env = {
        "PATH": "/usr/bin:/bin",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "HOME": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "season.py"), "--scale", "tiny",
         "--no-baseline", "--out", str(out), "--timers-per-tick", str(TIMERS_PER_TICK)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=560, check=False,
    )  # fmt: skip
    assert (out / "results.json").exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())["reconciliation"]

    tables = {row["table"]: row for row in report["tables"]}
    for name, row in tables.items():
        assert row["missing"] == 0, f"{name}: stored rows lost"
        assert row["unexpected"] == 0, f"{name}: rows nobody produced"
        assert row["duplicates_visible"] == 0, f"{name}: a query sees a record twice"
        assert row["visible"] == row["expected"], name
    assert tables["tracking_events"]["expected"] > 3000  # the season really ran
    assert report["checks"]["client_statuses_identical"]
    assert report["checks"]["worker_state_identical"]
    assert report["checks"]["triggers_at_most_once"]
    # the run's clock tick fired timers, more than one tick's limit on some partition
    assert report["once"]["trigger_keys"] > 6 * TIMERS_PER_TICK
    assert report["passed"]
    assert run.returncode == 0
