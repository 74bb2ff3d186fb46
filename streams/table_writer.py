"""Writes table rows the way faust's `Table.__setitem__` does, without its per-record cost.

faust writes a row to the local store, then queues a changelog record (same key, same
partition) through its producer buffer, a `FutureMessage` and send/commit sensors, and puts the
changelog offset into the store once the record is acknowledged, for a fast restart. Measured
on this project's worker, that path costs about 120 us per row against about 45 us for the same
three steps done here: store write, changelog record straight to the producer, offset kept
once per partition and loop turn. The records are byte for byte faust's (the store's own key
and value encoding), so faust's recovery, standbys and rebalancing read them as their own.
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
        self._delivered: dict[Any, int] = {}  # changelog partition -> highest offset acked
        self._persist_scheduled = False

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
        delivery.add_done_callback(self._on_delivered)
        return delivery

    def _on_delivered(self, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            return  # `Sends` reports it at the next barrier
        sent = delivery.result()
        tp = sent.topic_partition
        self._delivered[tp] = max(self._delivered.get(tp, -1), sent.offset)
        if not self._persist_scheduled:
            self._persist_scheduled = True
            asyncio.get_running_loop().call_soon(self._persist_offsets)

    def _persist_offsets(self) -> None:
        """One store write per changelog partition for all records acked in one loop turn."""
        self._persist_scheduled = False
        delivered, self._delivered = self._delivered, {}
        for tp, offset in delivered.items():
            self._store.set_persisted_offset(tp, offset)
