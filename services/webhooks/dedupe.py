"""A bounded memory of event ids already published, so a redelivered batch is not re-published.

It only saves work within one process: ids are name-based, and the sink's ReplacingMergeTree
on event_id removes any duplicate that crosses a restart (or slips past two concurrent requests).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from threading import Lock
from uuid import UUID


class RecentEventIds:
    """The last `capacity` ids published; the oldest are forgotten first. Thread-safe."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: OrderedDict[UUID, None] = OrderedDict()
        self._lock = Lock()

    def __contains__(self, event_id: object) -> bool:
        with self._lock:
            return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def remember(self, event_ids: Iterable[UUID]) -> None:
        """Record ids as published (call only once Kafka acknowledged them)."""
        with self._lock:
            for event_id in event_ids:
                self._ids[event_id] = None
                self._ids.move_to_end(event_id)
            while len(self._ids) > self._capacity:
                self._ids.popitem(last=False)
