"""The sink's bounded buffer: rows per (topic, partition) and table, with their offset range."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sinks.clickhouse.rows import Row

TopicPartitionKey = tuple[str, int]


@dataclass
class PartitionBatch:
    """Rows read from one partition since its last flush, by table, and the offsets they span."""

    first_offset: int
    last_offset: int = -1
    records: int = 0  # rows plus skipped records
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def dedup_token(self, topic: str, partition: int, table: str) -> str:
        """Names exactly this offset range of this partition in this table: a retry of the same
        insert is dropped by ClickHouse (non_replicated_deduplication_window)."""
        return f"{topic}:{partition}:{self.first_offset}-{self.last_offset}:{table}"


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
        self._batches: dict[TopicPartitionKey, PartitionBatch] = {}

    @property
    def room(self) -> int:
        """Records that still fit."""
        return self.capacity - self.size

    def add(self, topic: str, partition: int, offset: int, table: str | None, row: Row) -> None:
        """Buffer `row` for `table` (None: nothing to store, only the offset advances)."""
        batch = self._batches.get((topic, partition))
        if batch is None:
            batch = self._batches[(topic, partition)] = PartitionBatch(first_offset=offset)
        if table is not None:
            rows = batch.rows.get(table)
            if rows is None:
                rows = batch.rows[table] = []
            rows.append(row)
        batch.last_offset = offset
        batch.records += 1
        if not self.size:
            self.opened_at = time.monotonic()
        self.size += 1

    def due(self, max_age_s: float) -> bool:
        """Full, or holding a record older than `max_age_s`."""
        if self.size >= self.capacity:
            return True
        return bool(self.size) and time.monotonic() - self.opened_at >= max_age_s

    def take(self) -> dict[TopicPartitionKey, PartitionBatch]:
        """Everything buffered; the buffer is empty afterwards."""
        batches, self._batches, self.size = self._batches, {}, 0
        return batches

    def drop(self, partitions: Iterable[TopicPartitionKey]) -> int:
        """Forget what was read from `partitions` (lost to another consumer); returns records."""
        dropped = 0
        for key in partitions:
            batch = self._batches.pop(key, None)
            if batch is not None:
                dropped += batch.records
        self.size -= dropped
        return dropped
