"""Ends a worker whose start-up recovery has stalled, so its supervisor starts it again.

faust recovers the tables from their changelogs before any agent runs. A broker that dies while
that is under way can leave the recovery waiting for ever once the broker is back (seen in the
broker fault run: no record read for minutes, no log line). A restarted worker recovers from
scratch and, thanks to the journal (streams/journal.py), ending it at any point is as safe as a
SIGKILL. The check runs on its own thread, so it works even if the event loop is stuck.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# The exit status of a worker ended by the watchdog (EX_TEMPFAIL: try again).
EXIT_RECOVERY_STALLED = 75
_CHECK_EVERY_S = 5.0


def end_if_recovery_stalls(
    app: Any,
    stall_s: float,
    check_every_s: float = _CHECK_EVERY_S,
    end: Callable[[int], object] = os._exit,  # a stuck loop would never run a clean stop
) -> threading.Thread:
    """Watch `app`'s table recovery until it completes; end the process if nothing moved
    for `stall_s`."""

    def watch() -> None:
        last_progress, last_change = -1, time.monotonic()
        while True:
            time.sleep(check_every_s)
            # faust makes its recovery service on the loop's thread when the worker starts;
            # the `recovery` property would make it here, so only its slot is read
            recovery = app.tables._recovery
            if recovery is not None and recovery.completed.is_set():
                return
            # changelog records applied so far (a counter faust keeps per partition)
            progress = sum(dict(recovery.active_offsets).values()) if recovery else 0
            if progress != last_progress:
                last_progress, last_change = progress, time.monotonic()
            elif time.monotonic() - last_change > stall_s:
                log.error("recovery_stalled", stalled_s=stall_s, changelog_offsets=progress)
                end(EXIT_RECOVERY_STALLED)
                return

    watcher = threading.Thread(target=watch, name="recovery-watchdog", daemon=True)
    watcher.start()
    return watcher
