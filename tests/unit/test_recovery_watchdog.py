"""The recovery watchdog ends a worker whose start-up recovery stopped moving, and only then."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streams.watchdog import EXIT_RECOVERY_STALLED, end_if_recovery_stalls


@dataclass
class _Recovery:
    completed: threading.Event = field(default_factory=threading.Event)
    active_offsets: Counter[Any] = field(default_factory=Counter)


@dataclass
class _Tables:
    _recovery: _Recovery | None = field(default_factory=_Recovery)


@dataclass
class _App:
    tables: _Tables = field(default_factory=_Tables)


def test_a_recovery_that_reads_nothing_ends_the_process() -> None:
    app, ended = _App(), []
    watcher = end_if_recovery_stalls(app, stall_s=0.05, check_every_s=0.01, end=ended.append)
    watcher.join(timeout=5)
    assert ended == [EXIT_RECOVERY_STALLED]


def test_a_worker_that_never_starts_recovering_is_ended_too() -> None:
    app, ended = _App(_Tables(None)), []
    end_if_recovery_stalls(app, stall_s=0.05, check_every_s=0.01, end=ended.append).join(5)
    assert ended == [EXIT_RECOVERY_STALLED]


def test_a_recovery_that_moves_or_completes_is_left_alone() -> None:
    app, ended = _App(), []
    recovery = app.tables._recovery
    assert recovery is not None
    watcher = end_if_recovery_stalls(app, stall_s=0.2, check_every_s=0.01, end=ended.append)
    for offset in range(30):  # progress more often than the stall limit, for 0.3 s in all
        recovery.active_offsets["tp"] = offset
        time.sleep(0.01)
    recovery.completed.set()
    watcher.join(timeout=5)
    assert not watcher.is_alive() and ended == []
