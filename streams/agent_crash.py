"""A crashed agent ends the worker, so its supervisor starts it again.

faust's default supervisor restarts a crashed agent in place, and the new agent goes on with the
events after the batch it failed on. That batch is neither applied nor acknowledged, so the
committed offset never moves past it again (the worker stays up with a lag that never reaches
0), and the events after it are folded onto state that misses it (seen: "client was never
added" dead letters). Ending the worker at any point is as safe as a SIGKILL (the journal,
streams/journal.py; the fault runs), and a restarted worker replays from its last commit.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# The exit status of a worker ended by a crashed agent (EX_SOFTWARE: an internal error).
EXIT_AGENT_CRASHED = 70


def end_worker_on_crash(app: Any, end: Callable[[int], object] = os._exit) -> None:
    """Make every agent of `app` declared from now on end the process when it crashes, after
    logging the crash. faust's own handler (`App._on_agent_error`, given to each agent as its
    `on_error`) commits the offsets acknowledged so far and lets the supervisor restart the
    agent; a clean stop would commit them too, with the crashed agent's state behind."""

    async def on_error(agent: Any, error: BaseException) -> None:
        trace = "".join(traceback.format_exception(error))
        log.critical("agent_crashed", agent=agent.name, error=repr(error), traceback=trace)
        sys.stdout.flush()  # os._exit skips the buffers
        sys.stderr.flush()
        end(EXIT_AGENT_CRASHED)

    app._on_agent_error = on_error
