"""Batches of events for the agents: what has arrived, grouped by partition, with table state
seen through the batch (each key read once and written once).

faust's own cost per event (fetch, dispatch, stream, ack) is fixed; what an agent does per
event is not. Taking the events that have arrived as one batch lets an agent read a subject's
state once, fold all its events in order and write the result once (one changelog record), and
share per-batch costs (firm settings, producer requests). faust hands events over one at a time
on the same event loop, so a batch only grows if the agent lets it: an agent that is behind
waits a moment first; a caught-up agent never waits, so batching adds no latency to it.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import faust

# faust has no public setter: tables pick the store and changelog partition of a read or write
# from the stream's current event, and a batch holds events of several partitions.
from faust.streams import _current_event, current_event

from schemas.catalogue import TableSpec
from streams import table_codec
from streams.sends import Sends
from streams.table_writer import EncodedRow, TableWriter

Event = faust.EventT[bytes]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """At most `max_events` per batch; an agent that is behind gathers for `gather_s`; a tick
    fires at most `timers_per_tick` timers per partition (streams/timers/continuation.py)."""

    max_events: int
    gather_s: float
    timers_per_tick: int


# Further behind than this on a partition, an agent gathers: a batch waits a moment for what
# is on its way, so per-batch and per-key costs are shared; a caught-up agent never waits.
BEHIND = 100


async def batches(
    stream: faust.StreamT[bytes], max_events: int, gather_s: float
) -> AsyncIterator[list[Event]]:
    """The stream's events in batches of what has arrived (at most `max_events`); when the
    agent is behind, it first waits `gather_s` for more.

    A feeder task takes events from the stream while the agent processes, so the agent never
    waits on the stream holding events it has not acked (faust waits for those on rebalance).
    Events are acked only when the next batch is asked for, so faust commits their offsets
    only after the batch was processed and everything it sent was flushed (at least once).
    """
    # StreamT does not declare noack(); the stream an agent gets is always a faust.Stream.
    manual = cast(faust.Stream[bytes], stream).noack()
    inbox = _Inbox(max_events)
    feeder = asyncio.ensure_future(inbox.feed(arrivals(manual)))
    inbound = manual.app.monitor.stream_inbound_time
    try:
        while batch := await inbox.take(manual.app.consumer, gather_s):
            _mark_inbound(inbound, batch)
            try:
                yield batch
            finally:
                for done in batch:
                    await manual.ack(done)
        feeder.result()  # the stream ended: raise what ended it, if anything
    finally:
        feeder.cancel()


async def arrivals(stream: Any) -> AsyncIterator[Event]:
    """The events of a stream without acks, as faust's stream iterator hands them over, minus
    its loop turn and sensors per event: events already queued are taken at once.

    faust 0.15's iterator (`faust/_cython/streams.pyx`) does the same steps: skip (and ack)
    events of an old generation or while the flow is suspended, and track each message
    until it is acked, so the consumer commits only what was acked.
    """
    channel = stream.channel
    queue = channel.queue
    app = stream.app
    flow_control = app.flow_control
    acking_topics = app.topics.acking_topics
    track = app.consumer.unacked.add
    on_message_in = stream._on_message_in
    started = await stream.maybe_start()
    stream._finalized = True  # no more processors or merges: faust's iterator sets it too
    try:
        while not stream.should_stop:
            if queue._errors:
                raise queue._errors.popleft()
            if queue.empty():
                try:
                    event = await channel.__anext__()
                except StopAsyncIteration:
                    return  # the channel ended (the worker stops)
            else:
                event = queue.get_nowait()
            message = event.message
            if not flow_control.is_active() or message.generation_id != app.consumer_generation_id:
                await stream.ack(event)
                continue
            if message.topic in acking_topics and not message.tracked:
                message.tracked = True
                track(message)
                on_message_in(message.tp, message.offset, message)
            yield event
    finally:
        stream._channel_stop_iteration(channel)
        if started:
            await stream.stop()
            stream.service_reset()


def _mark_inbound(inbound: dict[Any, float], batch: Sequence[Event]) -> None:
    """Tell faust's monitor the batch's partitions are being processed, as its stream iterator
    does per event: its consumer logs "Stream has not started processing" (an error, every few
    seconds per partition) for a partition that is behind with no mark for 5 minutes."""
    now = time.monotonic()
    for event in batch:
        inbound[event.message.tp] = now


class _Inbox:
    """Events handed over by the feeder, at most `max_events` waiting."""

    def __init__(self, max_events: int):
        self.max_events = max_events
        self.waiting: list[Event] = []
        self.arrived = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.ended = False

    async def feed(self, events: AsyncIterator[Event]) -> None:
        try:
            async for event in events:
                self.waiting.append(event)
                self.arrived.set()
                if len(self.waiting) >= self.max_events:
                    self.room.clear()
                    await self.room.wait()
        finally:
            self.ended = True
            self.arrived.set()

    async def take(self, consumer: faust.types.ConsumerT, gather_s: float) -> list[Event]:
        """What has arrived (waiting for the first event; empty once the stream ended)."""
        await self.arrived.wait()
        if self.waiting and not self.ended and _behind(consumer, self.waiting[0]) > BEHIND:
            await asyncio.sleep(gather_s)  # the feeder takes more meanwhile
        batch = self.waiting[: self.max_events]
        del self.waiting[: self.max_events]
        if not self.waiting and not self.ended:
            self.arrived.clear()
        self.room.set()
        return batch


def _behind(consumer: faust.types.ConsumerT, event: Event) -> int:
    """Records after `event` on its partition that the consumer knows of."""
    message = event.message
    return (consumer.highwater(message.tp) or 0) - message.offset - 1


def by_partition(events: Sequence[Event]) -> list[list[Event]]:
    """The events grouped by partition number, arrival order kept inside each group.

    Topics read together are co-partitioned (same key, same partition number), so every event
    of one subject lands in one group, in the order it arrived.
    """
    groups: dict[int, list[Event]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return list(groups.values())


@contextmanager
def in_partition_of(event: Event) -> Iterator[None]:
    """Table reads and writes inside the block use the partition of `event`."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


_ABSENT = object()


def batch_tables(
    app: faust.App, sends: Sends, specs: Sequence[TableSpec], partitions: int
) -> list[BatchTable]:
    """The agent's state tables (JSON rows), co-partitioned with its input."""
    return [
        BatchTable(sends, app.Table(spec.name, default=None, partitions=partitions))
        for spec in specs
    ]


class BatchTable:
    """A faust table and its writer; each batch of each partition sees it through a `WriteBack`."""

    def __init__(self, sends: Sends, table: Any):
        self.table = table
        self.writer = TableWriter(sends, table)

    def write_back(self) -> WriteBack:
        return WriteBack(self.table, self.writer)


class WriteBack:
    """A table seen through one batch of one partition: reads load a key once, writes stay
    here until `changes` hands them over, each changed key once (one changelog record)."""

    def __init__(self, table: Any, writer: TableWriter):
        # the partition's database read directly: one read per key (`table.get` checks `in`
        # first; the store's `_get` also notes each key found in an LRU index behind a lock),
        # key and row coded directly (streams/table_codec.py), not through faust's registry
        event = current_event()
        if event is None:
            raise RuntimeError("a WriteBack is made inside in_partition_of(event)")
        self._store = table.data
        self._partition: int = event.message.partition
        self.writer = writer
        self._loaded: dict[str, Any] = {}
        self._rows: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        row = self._load(key)
        return default if row is _ABSENT else row

    def __getitem__(self, key: str) -> Any:
        row = self._load(key)
        if row is _ABSENT:
            raise KeyError(key)
        return row

    def peek(self, key: str, default: Any = None) -> Any:
        """The row as this batch sees it, without keeping it in the batch: for scans that read
        many rows and change few (a tick reads a crowded minute's timers, tens of thousands)."""
        row = self._rows[key] if key in self._rows else self._fetch(key)
        return default if row is _ABSENT else row

    def __setitem__(self, key: str, row: Any) -> None:
        self._load(key)
        self._rows[key] = row

    def pop(self, key: str, default: Any = None) -> Any:
        row = self._load(key)
        if row is _ABSENT:
            return default
        self._rows[key] = _ABSENT
        return row

    def changes(self) -> list[EncodedRow]:
        """Every key whose row changed since the last call, encoded (value None: deleted)."""
        changed = [
            self.writer.encode(key, None if row is _ABSENT else row)
            for key, row in self._rows.items()
            if row != self._loaded[key]
        ]
        self._loaded.update(self._rows)
        return changed

    def _load(self, key: str) -> Any:
        if key not in self._rows:
            self._loaded[key] = self._rows[key] = self._fetch(key)
        return self._rows[key]

    def _fetch(self, key: str) -> Any:
        stored = self._store._db_for_partition(self._partition).get(table_codec.encode(key))
        return _ABSENT if stored is None else table_codec.decode(stored)
