"""`ctrack demo` as a user runs it: it prints a timeline with Access Locked."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path


def test_demo_prints_a_timeline_with_access_locked(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRACK_", "CLICKHOUSE_"))}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "CTRACK_TOPIC_PREFIX": f"demo{uuid.uuid4().hex[:8]}",
        "CTRACK_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ctrack.cli.main", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Access Locked" in result.stdout
    assert "Authentication Failed" in result.stdout
    assert "Taxpayer: Initial Email - Processed" in result.stdout
    assert "events stored in ClickHouse" in result.stderr
