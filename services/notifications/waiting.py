"""Notifications waiting for their client's contact, each until its own deadline, pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from schemas.dead_letter import Rejected
from services.notifications.requests import Notification


@dataclass(frozen=True, slots=True)
class Waiting:
    """A notification read at `source` that had no usable contact; given up at `deadline`."""

    notification: Notification
    source: Rejected
    deadline: float
    reason: str

    @property
    def position(self) -> tuple[int, int]:
        return self.source.source_partition, self.source.source_offset


class WaitingRoom:
    """Waiting notifications in the order they were read."""

    def __init__(self) -> None:
        self._waiting: dict[tuple[int, int], Waiting] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __iter__(self) -> Iterator[Waiting]:
        return iter(sorted(self._waiting.values(), key=lambda waiting: waiting.position))

    def add(self, waiting: Waiting) -> None:
        self._waiting[waiting.position] = waiting

    def remove(self, waiting: Waiting) -> None:
        self._waiting.pop(waiting.position, None)

    def forget(self, partitions: Iterable[int]) -> int:
        """Drop those of partitions handed to another consumer (it reads them again)."""
        gone = set(partitions)
        dropped = [position for position in self._waiting if position[0] in gone]
        for position in dropped:
            del self._waiting[position]
        return len(dropped)


def expired(waiting: Waiting, now: float) -> bool:
    return now >= waiting.deadline
