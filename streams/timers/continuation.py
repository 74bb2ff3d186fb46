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

from datetime import datetime

import faust

from schemas.catalogue import CLOCK
from streams.outbox import Outbox

CONTINUATION_SENDER = "continuation"


async def continue_tick(
    outbox: Outbox, event: faust.EventT[bytes], now: datetime, limit_reached: bool
) -> None:
    """Send the tick again to `event`'s partition if it stopped at its limit (more may be due)."""
    if limit_reached:
        record = {"now": now, "sender": CONTINUATION_SENDER}
        await outbox.send(CLOCK, None, record, partition=event.message.partition)
