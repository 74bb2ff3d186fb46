"""A tick fires at most a bounded number of timers per partition, and continues with ticks
the agent sends itself until nothing is due.

Each batch's changes are kept in one journal record per partition (streams/journal.py), of at
most `JOURNAL_MAX_BYTES`. A tick after a long pause (a worker down for a day, a replay ticked
once at the end) may find a whole season's timers due at once: fired in one batch, its journal
record would outgrow the limit and every restart would fail the same way. So a tick fires at
most `limit` timers, oldest first and one at a time (`TimerWheel.pop_next`), and if it reached
the limit, sends a tick with the same time to the same partition: a later batch goes on from
there. One at a time, a tick's outcome does not depend on the limit (nor on how often the clock
ticks): timers an earlier one moved or cancelled do not fire, timers it scheduled at or before
the tick's time fire in their turn. A continuation sent again after a crash is harmless: ticks
are idempotent (a tick fires only timers still pending, each once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from schemas.catalogue import CLOCK
from streams.effects import record_trigger
from streams.lanes import Consumed
from streams.outbox import Outbox
from streams.timers.wheel import Timer, TimerWheel

CONTINUATION_SENDER = "continuation"


async def fire_due(
    wheel: TimerWheel, outbox: Outbox, tick: Consumed, now: datetime, limit: int
) -> AsyncIterator[Timer]:
    """The timers `tick` fires on its partition: due at `now`, oldest first, one at a time
    (each published as fired before the agent acts on it), at most `limit`; a tick that
    reached the limit is sent again to the same partition (more may be due)."""
    partition, fired = tick.partition, 0
    while fired < limit and (timer := wheel.pop_next(now, partition)):
        fired += 1
        await record_trigger(outbox, timer, now)
        yield timer
    if fired >= limit:
        record = {"now": now, "sender": CONTINUATION_SENDER}
        await outbox.send(CLOCK, None, record, partition=partition)
