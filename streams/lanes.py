"""Records of the batch agents' topics, handed from faust's consumer loop straight to the agent.

faust hands each record to an agent through its conductor and the agent's stream: a lock, the
flow-control and producer checks, an Event built, a channel queue, the stream iterator's
tracking and sensors, and on the way back an ack through the Event, the Message and the
stream. On this project's worker that hand-over took about a fifth of the main thread (py-spy,
stream benchmark). Here the consumer loop (streams/consumer_drain.py) puts each record of a
batch agent's topics into that agent's lane, a list; the agent takes what has arrived as its
batch and acks each record to the consumer once the batch is done.

What faust's path does that matters is done here too: records are tracked when they arrive, so
the consumer commits only acked offsets and a rebalance waits for them; records of an old
consumer generation, or taken while flow is suspended, are acked unprocessed, as faust's stream
iterator does; a full lane pauses fetching its partitions (faust's full channel queue does the
same) and resumes them once drained; the monitor's message sensors run per record.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import faust
from faust.types import TP, AppT

# A consumed record as faust's consumer hands it over (`value`: the record's bytes).
Consumed = faust.types.Message

# Further behind than this on a partition, an agent gathers: a batch waits a moment for what
# is on its way, so per-batch and per-key costs are shared; a caught-up agent never waits.
BEHIND = 100

_LANES: weakref.WeakKeyDictionary[Any, dict[str, tuple[Lane, ...]]] = weakref.WeakKeyDictionary()


def lanes_of(app: AppT) -> dict[str, tuple[Lane, ...]]:
    """The app's lanes by topic name (the consumer loop routes records through it): a topic
    several agents read (the clock) has a lane for each."""
    return _LANES.setdefault(app, {})


def hand_over(record: Consumed, lanes: tuple[Lane, ...]) -> None:
    """Put a record into each lane of its topic; it is acked once every one is done with it."""
    if len(lanes) == 1:
        lanes[0].put(record)
        return
    record.refcount = len(lanes)  # faust's count of streams yet to ack it
    for lane in lanes:
        lane.put(record)


class Lane:
    """Records of some topics waiting for one agent, oldest first."""

    def __init__(self, app: AppT, max_waiting: int):
        self._app = app
        self._consumer = app.consumer
        self._max_waiting = max_waiting
        self._waiting: list[Consumed] = []
        self._arrived = asyncio.Event()
        self._paused: set[TP] = set()
        self._acking_topics = app.topics.acking_topics
        self._sensors = app.sensors

    def open(self, topics: tuple[str, ...]) -> None:
        """Take the records of `topics` from now on."""
        lanes = lanes_of(self._app)
        for topic in topics:
            lanes[topic] = (*lanes.get(topic, ()), self)

    def close(self, topics: tuple[str, ...]) -> None:
        lanes = lanes_of(self._app)
        for topic in topics:
            others = tuple(lane for lane in lanes.get(topic, ()) if lane is not self)
            if others:
                lanes[topic] = others
            else:
                lanes.pop(topic, None)

    def put(self, record: Consumed) -> None:
        """A record from the consumer loop (never waits: a full lane pauses its partition)."""
        if record.topic in self._acking_topics and not record.tracked:
            record.tracked = True
            self._consumer.unacked.add(record)
            self._sensors.on_message_in(record.tp, record.offset, record)
        self._waiting.append(record)
        self._arrived.set()
        if len(self._waiting) >= self._max_waiting and record.tp not in self._paused:
            tp = TP(record.topic, record.partition)  # faust's type (record.tp is aiokafka's)
            self._paused.add(tp)
            self._consumer.on_buffer_full(tp)

    async def take(self, max_records: int, gather_s: float) -> list[Consumed]:
        """At most `max_records` of what has arrived (waiting for the first); when behind on the
        first record's partition, wait `gather_s` for more first."""
        while True:
            await self._arrived.wait()
            if _behind(self._consumer, self._waiting[0]) > BEHIND:
                await asyncio.sleep(gather_s)  # the consumer loop puts more meanwhile
            batch = self._waiting[:max_records]
            del self._waiting[:max_records]
            if not self._waiting:
                self._arrived.clear()
            if self._paused and len(self._waiting) < self._max_waiting // 2:
                for tp in self._paused:
                    self._consumer.on_buffer_drop(tp)
                self._paused.clear()
            current = self._current(batch)
            if current:
                return current

    def ack(self, batch: list[Consumed]) -> None:
        """The batch is done: its offsets may be committed (a record other lanes hold too, once
        they are done with it)."""
        consumer = self._consumer
        on_message_out = self._sensors.on_message_out
        for record in batch:
            if record.ack(consumer) if record.refcount else consumer.ack(record):
                on_message_out(record.tp, record.offset, record)

    def _current(self, batch: list[Consumed]) -> list[Consumed]:
        """The records to process; those of an old generation, or all while flow is suspended,
        are acked unprocessed (the consumer seeks back to its commits after a rebalance)."""
        app = self._app
        generation = app.consumer_generation_id
        flowing = app.flow_control.is_active()
        if flowing and all(r.generation_id == generation for r in batch):
            return batch
        current: list[Consumed] = []
        stale: list[Consumed] = []
        for record in batch:
            (current if flowing and record.generation_id == generation else stale).append(record)
        self.ack(stale)
        return current


def _behind(consumer: Any, record: Consumed) -> int:
    """Records after `record` on its partition that the consumer knows of."""
    return (consumer.highwater(record.tp) or 0) - record.offset - 1
