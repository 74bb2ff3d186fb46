"""Writes table rows the way faust's `Table.__setitem__` does, without its per-record cost.

faust writes a row to the local store, then queues a changelog record (same key, same
partition) through its producer buffer, a `FutureMessage` and send/commit sensors, and puts the
changelog offset into the store once the record is acknowledged, for a fast restart. Measured
on this project's worker, that path costs about 120 us per row against about 45 us for the same
three steps done here: store write, changelog record straight to the producer, offset kept
once per changelog partition after each barrier (`Sends.barrier`). The records are byte for
byte faust's (the store's own key and value encoding), so faust's recovery, standbys and
rebalancing read them as their own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from streams.sends import Sends

# A row as stored: the store's encoding of its key and of its value (None: deleted).
EncodedRow = tuple[bytes, bytes | None]


class TableWriter:
    """Puts rows into one faust table and its changelog (inside `in_partition_of`)."""

    def __init__(self, sends: Sends, table: Any):
        self.name: str = table.name
        self._sends = sends
        self._store = table.data
        self._topic: str = table.changelog_topic.get_topic_name()
        # changelog partition -> its latest record: one partition's records are acknowledged
        # in order, so the latest one acknowledged holds the highest offset
        self._latest: dict[int, asyncio.Future[Any]] = {}
        sends.after_barrier(self._persist_offsets)

    def encode(self, key: str, row: Any) -> EncodedRow:
        """`row` (None: delete) in the store's encoding."""
        return self._store._encode_key(key), None if row is None else self._store._encode_value(row)

    async def write(self, row: EncodedRow, partition: int) -> asyncio.Future[Any]:
        """Keep an encoded row in the store and on the changelog; returns its delivery."""
        key, value = row
        if value is None:
            self._store._del(key)
        else:
            self._store._set(key, value)
        delivery = await self._sends.send(self._topic, key, value, partition)
        self._latest[partition] = delivery
        return delivery

    def _persist_offsets(self) -> None:
        """One store write per changelog partition for the records acknowledged so far (a
        lagging offset only makes a restart read more of the changelog)."""
        latest, self._latest = self._latest, {}
        for partition, delivery in latest.items():
            if not delivery.done():
                self._latest.setdefault(partition, delivery)
            elif not delivery.cancelled() and delivery.exception() is None:
                sent = delivery.result()
                self._store.set_persisted_offset(sent.topic_partition, sent.offset)
