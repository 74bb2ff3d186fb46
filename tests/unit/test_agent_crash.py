"""A crashed agent ends the worker with its own exit status (after logging the crash)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from streams.agent_crash import EXIT_AGENT_CRASHED, end_worker_on_crash


@dataclass
class _Agent:
    name: str


class _App:
    """The one slot of faust's App the handler replaces."""

    async def _on_agent_error(self, agent: _Agent, error: BaseException) -> None:
        raise AssertionError("faust's handler commits and restarts the agent")


def test_a_crash_ends_the_process_with_its_status() -> None:
    ended: list[int] = []
    app = _App()
    end_worker_on_crash(app, end=ended.append)
    asyncio.run(app._on_agent_error(_Agent("streams.returns"), TypeError("boom")))
    assert ended == [EXIT_AGENT_CRASHED]
