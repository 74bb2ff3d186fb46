"""Batches of records for the agents: what has arrived, grouped by partition, with table state
seen through the batch (each key read once and written once).

What an agent does per record is not a fixed cost. Taking the records that have arrived as one
batch lets an agent read a subject's state once, fold all its records in order and write the
result once (one changelog record), and share per-batch costs (firm settings, producer
requests). The consumer loop fills the agent's lane on the same event loop, so a batch only
grows if the agent lets it: an agent that is behind waits a moment first; a caught-up agent
never waits, so batching adds no latency to it.
"""

from __future__ import annotations

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
from streams.lanes import Consumed, Lane
from streams.sends import Sends
from streams.table_writer import EncodedRow, TableWriter


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """At most `max_events` per batch; an agent that is behind gathers for `gather_s`; a tick
    fires at most `timers_per_tick` timers per partition (streams/timers/continuation.py)."""

    max_events: int
    gather_s: float
    timers_per_tick: int


async def batches(
    stream: faust.StreamT[bytes], max_events: int, gather_s: float
) -> AsyncIterator[list[Consumed]]:
    """The records of the stream's topics in batches of what has arrived (at most
    `max_events`); when the agent is behind, it first waits `gather_s` for more.

    The consumer loop puts the records into the agent's lane (streams/lanes.py) while the agent
    processes, so the agent never waits on the consumer holding records it has not acked
    (faust waits for those on rebalance). Records are acked only when the next batch is asked
    for, so faust commits their offsets only after the batch was processed and everything it
    sent was flushed (at least once).
    """
    # StreamT does not declare these; the stream an agent gets is always a faust.Stream.
    agent_stream = cast(faust.Stream[bytes], stream)
    channel: Any = agent_stream.channel
    topics = tuple(channel.topics)
    app = agent_stream.app
    lane = Lane(app, app.conf.stream_buffer_maxsize)
    lane.open(topics)
    started = await agent_stream.maybe_start()
    agent_stream._finalized = True  # no processors or merges: faust's iterator sets it too
    inbound = app.monitor.stream_inbound_time
    try:
        while not agent_stream.should_stop:
            _take_queued(channel.queue, lane)
            batch = await lane.take(max_events, gather_s)
            _mark_inbound(inbound, batch)
            try:
                yield batch
            finally:
                lane.ack(batch)
    finally:
        lane.close(topics)
        agent_stream._channel_stop_iteration(channel)
        if started:
            await agent_stream.stop()
            agent_stream.service_reset()


def _take_queued(queue: Any, lane: Lane) -> None:
    """Records faust's conductor queued for the stream before its lane opened."""
    while not queue.empty():
        lane.put(queue.get_nowait().message)


def _mark_inbound(inbound: dict[Any, float], batch: Sequence[Consumed]) -> None:
    """Tell faust's monitor the batch's partitions are being processed, as its stream iterator
    does per event: its consumer logs "Stream has not started processing" (an error, every few
    seconds per partition) for a partition that is behind with no mark for 5 minutes."""
    now = time.monotonic()
    for record in batch:
        inbound[record.tp] = now


def by_partition(records: Sequence[Consumed]) -> list[list[Consumed]]:
    """The records grouped by partition number, arrival order kept inside each group.

    Topics read together are co-partitioned (same key, same partition number), so every record
    of one subject lands in one group, in the order it arrived.
    """
    groups: dict[int, list[Consumed]] = {}
    for record in records:
        groups.setdefault(record.partition, []).append(record)
    return list(groups.values())


class _InPartition:
    """What faust's tables read from the current event: its message's partition."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, record: Consumed):
        self.message = record


@contextmanager
def in_partition_of(record: Consumed) -> Iterator[None]:
    """Table reads and writes inside the block use the partition of `record`."""
    current = _InPartition(record)
    token = _current_event.set(weakref.ref(current))  # type: ignore[arg-type]  # a stand-in
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
