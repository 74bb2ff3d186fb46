"""The simulation clock: pending beats by time, each turned into a record when its time comes.

A story (a return, a client) decides its whole course up front and schedules one beat per
record: `(time, sequence, builder, arguments)`. Beats are small tuples; the record itself is
built only when the beat is due, so memory holds what is pending, never the season. A beat
may also be a continuation that schedules further beats (far-future reminders) and returns
None instead of a record.

Beats wait in one-minute buckets (a calendar queue): scheduling is an append, and only the
bucket being played is a heap. One heap over a season's pending beats made every pop walk a
deep, cache-cold tree, which cost more than building the records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from heapq import heapify, heappop, heappush
from typing import Any
from uuid import NAMESPACE_URL, uuid5

Record = dict[str, Any]
SimulatedRecord = tuple[str, str, Record]  # (schema name, Kafka key, record)
# Called as builder(time_ms, event_id, *args); returns a record or None (continuation).
Builder = Callable[..., SimulatedRecord | None]
Beat = tuple[int, int, Builder, tuple[Any, ...]]

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
BUCKET_MS = MINUTE


def timestamp(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


class Agenda:
    """Beats ordered by time, then by the order they were scheduled (so ties are stable)."""

    __slots__ = (
        "_buckets",
        "_current",
        "_current_bucket",
        "_due",
        "_id_prefix",
        "_now",
        "_seq",
        "end_ms",
    )

    def __init__(self, run_name: str, start_ms: int, end_ms: int):
        """`run_name` seeds the event ids; beats at or after `end_ms` are never scheduled."""
        self._buckets: dict[int, list[Beat]] = {}
        self._due: list[int] = []  # heap of the buckets that hold beats
        self._current: list[Beat] = []  # heap of the bucket being played
        self._current_bucket = -1
        self._seq = 0
        self._now = start_ms
        self.end_ms = end_ms
        # Ids are the run's name-based UUID with the beat's sequence number as the last group:
        # unique within the run, identical on a replay, and far cheaper than a uuid5 each.
        self._id_prefix = str(uuid5(NAMESPACE_URL, f"ctrack-simulator:{run_name}"))[:24]

    def at(self, time_ms: int, builder: Builder, *args: Any) -> int:
        """Schedule a beat, never earlier than the beat being played; returns its sequence
        number, or 0 when it falls past the end and is dropped."""
        if time_ms < self._now:
            time_ms = self._now
        if time_ms >= self.end_ms:
            return 0
        self._seq = seq = self._seq + 1
        bucket = time_ms // BUCKET_MS
        if bucket == self._current_bucket:
            heappush(self._current, (time_ms, seq, builder, args))
        elif (beats := self._buckets.get(bucket)) is not None:
            beats.append((time_ms, seq, builder, args))
        else:
            self._buckets[bucket] = [(time_ms, seq, builder, args)]
            heappush(self._due, bucket)
        return seq

    def event_id(self, seq: int) -> str:
        """The event id of the beat scheduled as `seq`."""
        return f"{self._id_prefix}{seq:012x}"

    def run(self) -> Iterator[SimulatedRecord]:
        """Play every beat in time order, yielding the records they build."""
        prefix, due, buckets = self._id_prefix, self._due, self._buckets
        while due:
            self._current_bucket = bucket = heappop(due)
            self._current = current = buckets.pop(bucket)
            heapify(current)
            while current:
                time_ms, seq, builder, args = heappop(current)
                self._now = time_ms
                record = builder(time_ms, f"{prefix}{seq:012x}", *args)
                if record is not None:
                    yield record
        self._current_bucket = -1
