"""The sink's bounded buffer: per (topic, partition), framed values and rows by table, with the
offset range they span."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sinks.clickhouse.avro_frames import Frames, new_frame_mark
from sinks.clickhouse.rows import Row

TopicPartitionKey = tuple[str, int]


@dataclass
class PartitionBatch:
    """What was read from one partition since its last flush, by table, and the offsets it spans.

    `frames` hold values ClickHouse will decode itself (fast path); `rows` hold records decoded
    here (older writer schemas, registry wire format, dead letters).
    """

    partition: int
    first_offset: int
    mark: int  # the flush's ctrack_frame value
    last_offset: int = -1
    records: int = 0  # rows, frames and skipped records
    rows: dict[str, list[Row]] = field(default_factory=dict)
    frames: dict[str, Frames] = field(default_factory=dict)

    def add_row(self, table: str, row: Row) -> None:
        rows = self.rows.get(table)
        if rows is None:
            rows = self.rows[table] = []
        rows.append(row)

    def frames_of(self, table: str) -> Frames:
        """The frames for `table`, opened empty on first use."""
        frames = self.frames.get(table)
        if frames is None:
            frames = self.frames[table] = Frames.open(self.partition, self.mark)
        return frames

    def offset_range(self, topic: str) -> str:
        """This batch's records in a dedup token: `topic:partition:first-last`."""
        return f"{topic}:{self.partition}:{self.first_offset}-{self.last_offset}"


@dataclass
class Flush:
    """One flush's batches, taken from the buffer: what to insert, then the offsets to commit."""

    batches: dict[TopicPartitionKey, PartitionBatch]
    mark: int

    def dedup_token(self, table: str, path: str) -> str:
        """Names exactly these offset ranges in this table and insert path: a retry of the same
        insert is dropped by ClickHouse (non_replicated_deduplication_window)."""
        ranges = ",".join(batch.offset_range(topic) for (topic, _), batch in self.batches.items())
        return f"{ranges}:{table}:{path}"


class SinkBuffer:
    """At most `capacity` records across partitions; the sink flushes when it is full or old.

    Skipped records (tombstones) count too: they advance the offset to commit.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("the sink buffer needs room for at least one record")
        self.capacity = capacity
        self.size = 0
        self.opened_at = 0.0  # monotonic time of the oldest buffered record
        self.mark = new_frame_mark()
        self._batches: dict[TopicPartitionKey, PartitionBatch] = {}

    @property
    def room(self) -> int:
        """Records that still fit."""
        return self.capacity - self.size

    def batch(self, topic: str, partition: int, offset: int) -> PartitionBatch:
        """The batch of (topic, partition), opened at `offset` if there is none yet."""
        batch = self._batches.get((topic, partition))
        if batch is None:
            batch = PartitionBatch(partition, offset, self.mark)
            self._batches[(topic, partition)] = batch
        return batch

    def grew(self, records: int) -> None:
        """Count `records` just added to batches (each batch's last_offset already moved)."""
        if records and not self.size:
            self.opened_at = time.monotonic()
        self.size += records

    def due(self, max_age_s: float) -> bool:
        """Full, or holding a record older than `max_age_s`."""
        if self.size >= self.capacity:
            return True
        return bool(self.size) and time.monotonic() - self.opened_at >= max_age_s

    def take(self) -> Flush:
        """Everything buffered; the buffer is empty afterwards, with a new frame mark."""
        flush = Flush(self._batches, self.mark)
        self._batches, self.size, self.mark = {}, 0, new_frame_mark()
        return flush

    def drop(self, partitions: Iterable[TopicPartitionKey]) -> int:
        """Forget what was read from `partitions` (lost to another consumer); returns records."""
        dropped = 0
        for key in partitions:
            batch = self._batches.pop(key, None)
            if batch is not None:
                dropped += batch.records
        self.size -= dropped
        return dropped
