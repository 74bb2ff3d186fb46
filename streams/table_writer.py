"""Writes table rows the way faust's `Table.__setitem__` does, without its per-record cost.

faust writes a row to the local store, then queues a changelog record (same key, same
partition) through its producer buffer, a `FutureMessage` and send/commit sensors, and puts the
changelog offset into the store once the record is acknowledged, for a fast restart. Measured
on this project's worker, that path costs about 120 us per row against about 45 us for the same
three steps done here: store write, changelog record straight to the worker's producer
(streams/sends.py), and after each barrier (`Sends.barrier`) the highest acknowledged offset of
each changelog partition kept once. The records are byte for byte faust's (its json codec's
key and value encoding, streams/table_codec.py), so faust's recovery, standbys and rebalancing
read them as their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rocksdict
from faust.types import TP

from streams import table_codec
from streams.sends import Sends

# A row as stored: the store's encoding of its key and of its value (None: deleted).
EncodedRow = tuple[bytes, bytes | None]


class TableWriter:
    """Puts rows into one faust table and its changelog (inside `in_partition_of`)."""

    def __init__(self, sends: Sends, table: Any):
        self.name: str = table.name
        self._sends = sends
        self._store = table.data
        self._encode_value = table_codec.value_encoder(table.data)
        self._topic: str = table.changelog_topic.get_topic_name()
        # changelog partition written -> offset kept in the store (-1: none yet)
        self._persisted: dict[int, int] = {}
        sends.after_barrier(self._persist_offsets)

    def encode(self, key: str, row: Any) -> EncodedRow:
        """`row` (None: delete) in the store's encoding."""
        return table_codec.encode_kept(key), None if row is None else self._encode_value(row)

    async def write(self, rows: Sequence[EncodedRow], partition: int) -> None:
        """Keep encoded rows in the partition's store and on its changelog.

        The rows go into the partition's database as one write batch (one write of RocksDB's
        log, where a put per row costs a write each), straight to the database: faust's
        `Store._set` also notes each key's partition in an index (an LRU behind a lock) that only
        its reads without an event use, and its `_del` of a key not in that index deletes it in
        every partition's database."""
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key, value in rows:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        self._store._db_for_partition(partition).write(batch)
        await self._sends.send_all(self._topic, rows, partition)
        self._persisted.setdefault(partition, -1)

    def _persist_offsets(self) -> None:
        """One store write per changelog partition whose acknowledged offset moved (rows are in
        the store before they are sent; a lagging offset only makes a restart read more of the
        changelog)."""
        for partition, persisted in self._persisted.items():
            acked = self._sends.acked_offset(self._topic, partition)
            if acked is not None and acked > persisted:
                self._store.set_persisted_offset(TP(self._topic, partition), acked)
                self._persisted[partition] = acked
