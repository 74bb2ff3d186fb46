"""Ends a worker that has work it does not do, so its supervisor starts it again.

Two stalls were seen on the broker:
- a broker that dies while faust recovers the tables from their changelogs can leave the
  recovery waiting for ever once the broker is back (the broker fault run: no record read for
  minutes, no log line);
- two workers started in the same second both went silent after their first rebalance, with
  records waiting on their partitions (a season run, finding 5 in docs/BENCHMARKS.md).

So a worker is stuck when, for `stall_s`, it is waiting (not yet recovering, recovering with
active changelog records still to read, or behind: an input partition assigned to it holds
records past its committed offset) and nothing moves (changelog records recovered, input
offsets committed). `stall_s` must exceed the consumer's session timeout: when a worker dies,
the others wait that long for the group to let it go, moving nothing.

A restarted worker recovers from scratch and, thanks to the journal (streams/journal.py),
ending it at any point is as safe as a SIGKILL. The check runs on its own thread, so it works
even if the event loop is stuck; it only reads what faust keeps, and a read that races the
loop counts as "no decision this time".
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# The exit status of a worker ended by the watchdog (EX_TEMPFAIL: try again).
EXIT_STALLED = 75
_CHECK_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class Reading:
    """What the watchdog sees of the worker at one check."""

    waiting: bool  # it has work: recovery not done, or an input partition behind
    progress: int  # grows whenever anything moves
    behind: tuple[str, ...] = field(default=(), compare=False)  # for the log: see _behind


def read_worker(app: Any) -> Reading:
    """The worker's recovery and input progress (from faust's own bookkeeping)."""
    # faust makes its recovery service and consumer on the loop's thread when the worker
    # starts; their properties would make them here, so only their slots are read
    recovery = app.tables._recovery
    consumer = app._consumer
    # faust can leave `in_recovery` set long after the worker is ready (seen with standby
    # partitions after a rebalance): only active changelog records still to read count
    recovering = (
        recovery is None
        or not recovery.completed.is_set()
        or (recovery.in_recovery and recovery.need_recovery())
    )
    progress = 0
    if recovery is not None:  # standby offsets are left out: they move with other workers
        progress += sum(offset for offset in dict(recovery.active_offsets).values() if offset > 0)
    committed: dict[Any, int | None] = dict(consumer._committed_offset) if consumer else {}
    progress += sum(offset for offset in committed.values() if offset and offset > 0)
    behind = _behind(app, consumer, committed)
    return Reading(recovering or bool(behind), progress, behind)


def _behind(app: Any, consumer: Any, committed: dict[Any, int | None]) -> tuple[str, ...]:
    """The assigned input partitions holding records past the committed offset, each as
    "topic[partition] committed/read/highwater fetching|paused[,flow-stopped]" (read: the last
    offset the consumer handed to the agents; paused: faust fetches nothing from it)."""
    if consumer is None:
        return ()
    inputs = app.topics.acking_topics  # the agents' sources (changelogs are not acked)
    found = []
    for tp in consumer.assignment():
        highwater, done = consumer.highwater(tp) or 0, committed.get(tp) or 0
        if tp.topic in inputs and highwater > done:
            read = consumer._read_offset.get(tp)
            active = consumer._active_partitions
            fetching = active is None or tp in active or tp in consumer._buffered_partitions
            found.append(
                f"{tp.topic}[{tp.partition}] {done}/{read}/{highwater} "
                + ("fetching" if fetching else "paused")
                # faust drops what it fetches while its flow is stopped (rebalance to recovery)
                + ("" if consumer.flow_active else ",flow-stopped")
            )
    return tuple(sorted(found))


def task_stacks(app: Any) -> list[str]:
    """Where each of the worker's asyncio tasks waits (its chain of awaits, outermost first),
    for the stall's log line. Read from this thread while the loop runs: a task that moves
    meanwhile may show a torn chain."""
    try:
        return sorted(
            f"{task.get_name()}: {' -> '.join(_awaits(task.get_coro()))}"
            for task in asyncio.all_tasks(app.loop)
        )
    except Exception as exc:  # noqa: BLE001  # the worker is ended whatever this finds
        return [f"unreadable: {exc!r}"]


def _awaits(awaitable: Any, limit: int = 16) -> list[str]:
    """`function (file:line)` of each coroutine or generator in an await chain."""
    chain: list[str] = []
    while awaitable is not None and len(chain) < limit:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        frame = frame or getattr(awaitable, "ag_frame", None)
        if frame is None:
            chain.append(type(awaitable).__name__)  # a future, or a C-level awaitable
            break
        chain.append(
            f"{frame.f_code.co_name} ({Path(frame.f_code.co_filename).name}:{frame.f_lineno})"
        )
        awaitable = (
            getattr(awaitable, "cr_await", None)
            or getattr(awaitable, "gi_yieldfrom", None)
            or getattr(awaitable, "ag_await", None)
        )
    return chain


def end_if_stalled(
    app: Any,
    stall_s: float,
    check_every_s: float | None = None,  # default: every 5 s, at least 4 times per stall_s
    end: Callable[[int], object] = os._exit,  # a stuck loop would never run a clean stop
    read: Callable[[Any], Reading] = read_worker,
    stop: threading.Event | None = None,
) -> threading.Thread:
    """Watch `app` for as long as it runs (or until `stop` is set); end the process once it
    has waited `stall_s` with nothing moving."""
    stopped = stop or threading.Event()
    every_s = check_every_s or min(_CHECK_EVERY_S, stall_s / 4)

    def watch() -> None:
        last_progress, last_change, was_waiting = -1, time.monotonic(), None
        while not stopped.wait(every_s):
            try:
                reading = read(app)
            except Exception as exc:  # noqa: BLE001  # faust changed a structure mid-read
                log.debug("stall_check_skipped", error=repr(exc))
                continue
            if reading.waiting != was_waiting:  # at most one line per check
                was_waiting = reading.waiting
                log.info("worker_waiting" if was_waiting else "worker_idle", **asdict(reading))
            now = time.monotonic()
            if not reading.waiting or reading.progress != last_progress:
                last_progress, last_change = reading.progress, now
            elif now - last_change > stall_s:
                log.error("worker_stalled", stalled_s=stall_s, **asdict(reading))
                log.error("worker_stalled_tasks", tasks=task_stacks(app))
                end(EXIT_STALLED)
                return

    watcher = threading.Thread(target=watch, name="stall-watchdog", daemon=True)
    watcher.start()
    return watcher
