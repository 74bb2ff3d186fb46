"""The worker's clock: ticks on every partition of the clock topic, so timers fire in place."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

import faust

from schemas.catalogue import CLOCK
from streams.outbox import Outbox


def register_clock(app: faust.App, outbox: Outbox, interval_s: float) -> None:
    """Send a tick with the wall-clock time to each clock partition every `interval_s`."""
    sender = f"{socket.gethostname()}:{os.getpid()}"

    @app.timer(interval=interval_s, name="clock")  # type: ignore[untyped-decorator]  # faust is untyped
    async def tick() -> None:
        record = {"now": datetime.now(UTC), "sender": sender}
        for partition in range(CLOCK.partitions):
            await outbox.send(CLOCK, None, record, partition=partition)
