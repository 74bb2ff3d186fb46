"""faust's consumer loop (records fetched -> agents' channels) without a race of tasks per record.

faust hands each record to its conductor through `wait_first(callback(record),
suspend_flow.wait())`: four tasks (the callback, the suspend, stopped and crashed events),
`asyncio.wait` and three cancellations per record, and at least one loop turn each. On this
project's worker that was about a tenth of its CPU. The callback almost never waits (faust
puts into the channel's queue without blocking and pauses the partition when it fills), so here
it runs at once; only when it does wait is the rest of it raced as faust does, so a suspended
flow, a stop or a crash still abandons a delivery that cannot go on.

Records of a batch agent's topics skip the conductor altogether: they go into the agent's lane
(streams/lanes.py).

The loop is faust 0.15's `Consumer._drain_messages`, those lines apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING

from streams.lanes import hand_over, lanes_of

# Records handed over before the loop lets other tasks run (faust's own figure).
_YIELD_EVERY = 100


async def drain_messages(consumer: Any, fetcher: Any) -> None:
    """What `Consumer._drain_messages` does: records from `getmany` to the conductor."""
    callback = consumer.callback
    getmany = consumer.getmany
    consumer_should_stop = consumer._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = consumer._read_offset.__getitem__
    set_read_offset = consumer._read_offset.__setitem__
    set_flag = consumer.diag.set_flag
    unset_flag = consumer.diag.unset_flag
    commit_every = consumer._commit_every
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    lanes_for = lanes_of(consumer.app).get
    since_yield = 0
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            records = getmany(timeout=1.0)
            await consumer.sleep(0)  # getmany may return at once, again and again
            if not consumer.should_stop:
                async for tp, message in records:
                    since_yield += 1
                    if since_yield > _YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset = message.offset
                    read_offset = get_read_offset(tp)
                    if read_offset is None or offset >= read_offset:
                        gap = offset - (read_offset or 0)
                        if gap > 1 and read_offset and acks_enabled_for(message.topic):
                            await consumer._add_gap(tp, read_offset + 1, offset)
                        if commit_every is not None and consumer._n_acked >= commit_every:
                            consumer._n_acked = 0
                            await consumer.commit()
                        lanes = lanes_for(message.topic)
                        if lanes is None:
                            await deliver(consumer, callback, message)
                        else:
                            hand_over(message, lanes)  # a batch agent's (streams/lanes.py)
                        set_read_offset(tp, offset)
                unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


async def deliver(
    consumer: Any, callback: Callable[[Any], Coroutine[Any, Any, Any]], message: Any
) -> None:
    """Run `callback(message)` at once; if it has to wait, race the rest of it as faust does."""
    step = callback(message)
    try:
        waiting_on = step.send(None)
    except StopIteration:
        return  # done without waiting: the usual case
    except BaseException:
        step.close()
        raise
    await consumer.wait_first(_finish(step, waiting_on), consumer.suspend_flow.wait())


async def _finish(step: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    return await _Rest(step, waiting_on)


class _Rest:
    """The rest of a coroutine that was started by hand and is waiting on `waiting_on`: the
    task awaiting this waits on it in its place, exactly as for a nested `await`."""

    def __init__(self, step: Coroutine[Any, Any, Any], waiting_on: Any):
        self._step = step
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        step, waiting_on = self._step, self._waiting_on
        while True:
            try:
                sent = yield waiting_on
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:  # cancelled: the coroutine decides what to do
                try:
                    waiting_on = step.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting_on = step.send(sent)
                except StopIteration as stop:
                    return stop.value
