"""Which offsets of the notifications topic may be committed, pure.

A record is open from when it is read until it is settled (sent, skipped, dead-lettered).
Nothing at or after an open record is committed, so a notification still waiting for its
contact is read again after a restart; records after it that were already sent are then
skipped by the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable


class OffsetTracker:
    """Open offsets and commit points per partition of one topic."""

    def __init__(self) -> None:
        self._open: dict[int, set[int]] = {}
        self._next: dict[int, int] = {}
        self._committed: dict[int, int] = {}

    def read(self, partition: int, offset: int) -> None:
        self._open.setdefault(partition, set()).add(offset)
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def settle(self, partition: int, offset: int) -> None:
        self._open.get(partition, set()).discard(offset)

    def commit_points(self) -> dict[int, int]:
        """Per partition, the offset to commit now (only where it moved since the last commit)."""
        points = {}
        for partition, after_last in self._next.items():
            still_open = self._open.get(partition)
            point = min(still_open) if still_open else after_last
            if point != self._committed.get(partition):
                points[partition] = point
        return points

    def committed(self, points: dict[int, int]) -> None:
        self._committed.update(points)

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions handed to another consumer: it starts from their last commit."""
        for partition in partitions:
            self._open.pop(partition, None)
            self._next.pop(partition, None)
            self._committed.pop(partition, None)

    def open_count(self) -> int:
        return sum(len(offsets) for offsets in self._open.values())
