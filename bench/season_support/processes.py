"""The run's processes: each a real OS process started with its own environment and log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Proc:
    """One started process: name, command, environment, log file and peak memory seen."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    peak_rss: int = 0
    restarts: int = 0
    held: bool = False  # down on purpose (a fault run): the supervisor leaves it down
    pids: list[int] = field(default_factory=list)

    def start(self) -> Proc:
        with self.log.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.pids.append(self.popen.pid)
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def sample_rss(self) -> int:
        """Resident memory now (0 when not running); remembers the peak."""
        if not self.alive() or self.pid is None:
            return 0
        try:
            rss = int(psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        if self.alive() and self.popen is not None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self, timeout_s: float = 60) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout_s`); returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        return self.popen.returncode

    def restart(self) -> Proc:
        self.restarts += 1
        return self.start()

    def wait(self, timeout_s: float) -> int:
        assert self.popen is not None  # noqa: S101
        return self.popen.wait(timeout=timeout_s)


def ctrack(name: str, args: list[str], env: dict[str, str], logs: Path) -> Proc:
    """`ctrack <args>` in this interpreter (no wrapper process between us and it)."""
    argv = [sys.executable, "-m", "ctrack.cli.main", *args]
    return Proc(name, argv, env, logs / f"{name}.log")


def support(
    name: str, module: str, env: dict[str, str], logs: Path, args: tuple[str, ...] = ()
) -> Proc:
    """A `season_support` module run as its own process."""
    path = env.get("PYTHONPATH", "")
    env = env | {"PYTHONPATH": f"{BENCH_DIR}{os.pathsep}{path}" if path else str(BENCH_DIR)}
    argv = [sys.executable, "-m", f"season_support.{module}", *args]
    return Proc(name, argv, env, logs / f"{name}.log")


def base_env(overrides: dict[str, str]) -> dict[str, str]:
    """This environment without ctrack's own settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRACK_", "CLICKHOUSE_"))}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env | overrides


def wait_until(check: object, timeout_s: float, every_s: float = 0.5) -> bool:
    """Poll `check()` until true or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]  # any zero-argument callable
            return True
        time.sleep(every_s)
    return False
