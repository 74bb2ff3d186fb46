"""`ctrack stack` as a user runs it: start, start again, status, stop, and a missing Java."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctrack.settings import StackSettings
from ctrack.stack.local_kafka import LocalKafka

# A port of its own, derived from the session broker's so parallel runs on other ports differ.
PRIVATE_PORT = int(os.environ.get("CTRACK_TEST_KAFKA_PORT", "19092")) + 100


def ctrack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctrack.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture
def private_stack_env(tmp_path: Path) -> dict[str, str]:
    """A broker of its own: own data dir and ports, jars shared with the other brokers."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CTRACK_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    return env | {
        "CTRACK_DATA_DIR": str(tmp_path / "data"),
        "CTRACK_KAFKA_PORT": str(PRIVATE_PORT),
        "CTRACK_KAFKA_CONTROLLER_PORT": str(PRIVATE_PORT + 1),
        "CTRACK_KAFKA_JARS_DIR": str(StackSettings().jars_dir),
    }


def test_up_twice_status_and_down_leave_no_process(private_stack_env: dict[str, str]) -> None:
    first = ctrack("stack", "up", env=private_stack_env)
    assert first.returncode == 0, first.stderr
    pid_file = Path(private_stack_env["CTRACK_DATA_DIR"]) / "kafka" / "broker.pid"
    pid = int(pid_file.read_text())

    second = ctrack("stack", "up", env=private_stack_env)
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stderr
    assert int(pid_file.read_text()) == pid

    status = ctrack("stack", "status", env=private_stack_env)
    assert status.returncode == 0 and "answers" in status.stdout and f"pid {pid}" in status.stdout

    down = ctrack("stack", "down", env=private_stack_env)
    assert down.returncode == 0 and "kafka stopped" in down.stdout
    assert not running(pid)
    assert not pid_file.exists()
    after = ctrack("stack", "status", env=private_stack_env)
    assert after.returncode == 1 and "does not answer" in after.stdout


def test_missing_java_is_one_actionable_line(
    private_stack_env: dict[str, str], tmp_path: Path
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = ctrack("stack", "up", env=private_stack_env | {"PATH": str(empty_bin)})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "java" in lines[0] and "install" in lines[0]


def test_external_cluster_starts_nothing(
    private_stack_env: dict[str, str], kafka_bootstrap: str
) -> None:
    result = ctrack(
        "stack", "up", env=private_stack_env | {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    )
    assert result.returncode == 0
    assert "nothing started" in result.stderr
    assert (
        LocalKafka(StackSettings(data_dir=Path(private_stack_env["CTRACK_DATA_DIR"]))).status().pid
        is None
    )


def test_a_port_taken_by_another_broker_is_reported(
    private_stack_env: dict[str, str], kafka_bootstrap: str
) -> None:
    host, _, port = kafka_bootstrap.rpartition(":")
    if host not in {"127.0.0.1", "localhost"}:
        pytest.skip("needs the session broker on this machine")
    result = ctrack("stack", "up", env=private_stack_env | {"CTRACK_KAFKA_PORT": port})
    assert result.returncode == 1
    assert "already answers" in result.stderr
    assert not (Path(private_stack_env["CTRACK_DATA_DIR"]) / "kafka" / "broker.pid").exists()
