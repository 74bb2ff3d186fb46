"""The stall watchdog ends a worker that has work and moves nothing, and only then."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from faust.tables.recovery import Recovery
from faust.types import TP

from streams.watchdog import EXIT_STALLED, Reading, end_if_stalled, read_worker, task_stacks

INPUT, CHANGELOG = "ctrack.tracking", "ctrack-streams-lockout_state-changelog"


@dataclass
class _Recovery:
    completed: threading.Event = field(default_factory=threading.Event)
    in_recovery: bool = False
    active_offsets: Counter[Any] = field(default_factory=Counter)
    active_highwaters: Counter[Any] = field(default_factory=Counter)
    # faust's own arithmetic: records left = highwater - offset per active changelog partition
    need_recovery = Recovery.need_recovery
    active_remaining = Recovery.active_remaining


@dataclass
class _Tables:
    _recovery: _Recovery | None = field(default_factory=_Recovery)


@dataclass
class _Consumer:
    highwaters: dict[TP, int] = field(default_factory=dict)
    _committed_offset: dict[TP, int | None] = field(default_factory=dict)
    _read_offset: dict[TP, int | None] = field(default_factory=dict)
    _active_partitions: set[TP] | None = None
    _buffered_partitions: set[TP] = field(default_factory=set)
    flow_active: bool = True

    def assignment(self) -> set[TP]:
        return set(self.highwaters)

    def highwater(self, tp: TP) -> int:
        return self.highwaters[tp]


@dataclass
class _Topics:
    acking_topics: set[str] = field(default_factory=lambda: {INPUT})


@dataclass
class _App:
    tables: _Tables = field(default_factory=_Tables)
    _consumer: _Consumer | None = None
    topics: _Topics = field(default_factory=_Topics)


def _running(highwater: int, committed: int | None, changelog_highwater: int = 0) -> _App:
    """A worker past its recovery, one input and one changelog partition assigned."""
    recovery = _Recovery(active_offsets=Counter({TP(CHANGELOG, 0): 40}))
    recovery.completed.set()
    consumer = _Consumer(
        {TP(INPUT, 0): highwater, TP(CHANGELOG, 0): changelog_highwater},
        {TP(INPUT, 0): committed},
    )
    return _App(_Tables(recovery), consumer)


# -- what the watchdog reads -------------------------------------------------------------


def test_a_worker_not_yet_recovering_or_recovering_is_waiting() -> None:
    assert read_worker(_App(_Tables(None))) == Reading(waiting=True, progress=0)
    recovering = _App()
    assert recovering.tables._recovery is not None
    recovering.tables._recovery.active_offsets[TP(CHANGELOG, 0)] = 7
    assert read_worker(recovering) == Reading(waiting=True, progress=7)


def test_a_recovery_after_a_rebalance_is_waiting_again_while_records_are_left() -> None:
    app = _running(highwater=10, committed=10)
    recovery = app.tables._recovery
    assert recovery is not None
    recovery.in_recovery = True  # faust keeps `completed` set after the first one
    recovery.active_highwaters[TP(CHANGELOG, 0)] = 45  # 5 records after offset 40
    assert read_worker(app) == Reading(waiting=True, progress=40 + 10)
    recovery.active_offsets[TP(CHANGELOG, 0)] = 45
    assert read_worker(app) == Reading(waiting=False, progress=45 + 10)


def test_a_recovery_flag_left_set_with_nothing_left_to_read_is_not_waiting() -> None:
    # seen in CI: a worker ready and caught up, faust's `in_recovery` still set (its standby
    # recovery), ended by the watchdog after stall_s
    app = _running(highwater=10, committed=10)
    assert app.tables._recovery is not None
    app.tables._recovery.in_recovery = True
    app.tables._recovery.active_highwaters[TP(CHANGELOG, 0)] = 40
    assert not read_worker(app).waiting


def test_records_past_the_committed_offset_are_waiting_work() -> None:
    reading = read_worker(_running(highwater=11, committed=10))
    assert reading == Reading(True, 40 + 10)
    assert reading.behind == (f"{INPUT}[0] 10/None/11 fetching",)
    assert read_worker(_running(highwater=5, committed=None)).waiting  # nothing committed yet


def test_a_caught_up_worker_is_not_waiting_whatever_its_changelogs_hold() -> None:
    assert read_worker(_running(highwater=10, committed=10, changelog_highwater=500)) == Reading(
        False, 50
    )
    assert not read_worker(_running(highwater=0, committed=None)).waiting  # an empty partition


# -- what it does with the readings ------------------------------------------------------


def _watch(readings: list[Reading | Exception], stall_s: float) -> list[int]:
    """Feed `readings` (the last one repeated) to a watchdog; the exit codes it asked for."""
    ended: list[int] = []
    left = list(readings)

    def read(_app: Any) -> Reading:
        step = left.pop(0) if len(left) > 1 else left[0]
        if isinstance(step, Exception):
            raise step
        return step

    stop = threading.Event()
    watcher = end_if_stalled(None, stall_s, 0.01, ended.append, read, stop)
    watcher.join(timeout=stall_s + 0.5)
    stop.set()
    watcher.join(timeout=1)
    assert not watcher.is_alive()
    return ended


def test_waiting_with_nothing_moving_ends_the_process() -> None:
    assert _watch([Reading(waiting=True, progress=3)], stall_s=0.05) == [EXIT_STALLED]


def test_a_read_that_races_the_loop_is_skipped_not_fatal() -> None:
    readings: list[Reading | Exception] = [RuntimeError("set changed size"), Reading(True, 3)]
    assert _watch(readings, stall_s=0.05) == [EXIT_STALLED]


def test_progress_or_having_nothing_to_do_is_left_alone() -> None:
    moving: list[Reading | Exception] = [Reading(True, n) for n in range(60)]
    assert _watch([*moving, Reading(False, 60)], stall_s=0.2) == []
    assert _watch([Reading(waiting=False, progress=3)], stall_s=0.05) == []


def test_the_stall_clock_starts_again_after_progress() -> None:
    started = time.monotonic()
    readings: list[Reading | Exception] = [Reading(True, n) for n in range(20)]
    assert _watch([*readings, Reading(True, 20)], stall_s=0.1) == [EXIT_STALLED]
    assert time.monotonic() - started >= 0.1 + 0.19  # 20 moving checks of 0.01 s, then the stall


def test_a_stall_names_where_each_task_waits() -> None:
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def waits_for_records(never: asyncio.Event) -> None:
        started.set()
        await never.wait()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    future = asyncio.run_coroutine_threadsafe(waits_for_records(asyncio.Event()), loop)
    try:
        assert started.wait(5)
        stacks = task_stacks(SimpleNamespace(loop=loop))
        assert any("waits_for_records (test_stall_watchdog.py:" in stack for stack in stacks)
        assert task_stacks(SimpleNamespace()) == [
            "unreadable: AttributeError(\"'types.SimpleNamespace' object has no attribute 'loop'\")"
        ]
    finally:
        future.cancel()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
