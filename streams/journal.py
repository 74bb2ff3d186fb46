"""All-or-nothing table changes per batch and partition, so a killed worker never restarts with
state ahead of its outputs or with half of a batch's changes.

faust writes each table row to its changelog on its own and commits input offsets later, so a
worker killed in between restarts with some rows of a batch changed and others not, and then
processes the batch's inputs again on that state: a rule that sees its own effect decides
nothing, and the outputs that were not yet acknowledged are lost.

Here a batch's outputs go to their topics as they are decided and its table changes are held
back (`WriteBack`). At the end of the batch, in this order:
1. every output is acknowledged (a barrier);
2. per partition, one journal record holds every changed row and the last input offset per
   topic, and is acknowledged;
3. the rows are written to their tables;
4. the inputs are acked; faust commits them later.
On first use of a partition (after a start or a rebalance), the journal is written again and
its rows too, and inputs up to its offsets are skipped: their outputs were acknowledged before
the journal was written. Later inputs are processed again on the state they were first
processed on, so they decide the same outputs (same derived ids; ClickHouse keeps one row).
"""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import faust
import structlog

from schemas.catalogue import TableSpec
from streams.batches import (
    BatchLimits,
    BatchTable,
    WriteBack,
    batches,
    by_partition,
    in_partition_of,
)
from streams.lanes import Consumed
from streams.sends import Sends
from streams.table_writer import EncodedRow, TableWriter

log = structlog.get_logger(__name__)

# Input topic -> offset of the last input applied, for one partition number.
Through = dict[str, int]
ChangedRow = tuple[str, EncodedRow]  # table name, encoded row

_MAGIC = b"CJ1"
_HEADER = struct.Struct(">3sI")
_ROW = struct.Struct(">HIi")  # table index, key length, value length (-1: deleted)


def encode_frame(through: Mapping[str, int], rows: Sequence[ChangedRow]) -> bytes:
    """One journal record: the offsets as JSON, then each row as length-prefixed bytes."""
    tables = sorted({name for name, _ in rows})
    index = {name: n for n, name in enumerate(tables)}
    header = json.dumps({"through": dict(through), "tables": tables}).encode()
    parts = [_HEADER.pack(_MAGIC, len(header)), header]
    for name, (key, value) in rows:
        parts.append(_ROW.pack(index[name], len(key), -1 if value is None else len(value)))
        parts.append(key)
        if value is not None:
            parts.append(value)
    return b"".join(parts)


def decode_frame(frame: bytes) -> tuple[Through, list[ChangedRow]]:
    """The offsets and rows of a journal record (ValueError if it is not one)."""
    magic, header_length = _HEADER.unpack_from(frame)
    if magic != _MAGIC:
        raise ValueError("not a journal record")
    at = _HEADER.size + header_length
    header = json.loads(frame[_HEADER.size : at])
    tables: list[str] = header["tables"]
    rows: list[ChangedRow] = []
    while at < len(frame):
        table, key_length, value_length = _ROW.unpack_from(frame, at)
        at += _ROW.size
        key = frame[at : at + key_length]
        at += key_length
        value = None if value_length < 0 else frame[at : at + value_length]
        at += max(value_length, 0)
        rows.append((tables[table], (key, value)))
    if at != len(frame):
        raise ValueError("journal record cut short")
    return dict(header["through"]), rows


@dataclass(slots=True)
class PartitionWork:
    """One partition's share of a batch: its inputs, those not applied yet (`todo`), and the
    tables the agent changed applying them (set by the agent)."""

    events: Sequence[Consumed]
    todo: Sequence[Consumed]
    tables: Sequence[WriteBack] = ()

    @property
    def partition(self) -> int:
        return self.events[0].partition

    def context(self) -> AbstractContextManager[None]:
        """Table reads and writes inside use this partition."""
        return in_partition_of(self.events[0])


async def journaled_batches(
    stream: faust.StreamT[bytes], limits: BatchLimits, journal: Journal
) -> AsyncIterator[list[PartitionWork]]:
    """The stream in batches, split by partition; each batch's changes are committed through
    the journal when the agent asks for the next one (and acked after that)."""
    async for events in batches(stream, limits.max_events, limits.gather_s):
        work = []
        for group in by_partition(events):
            with in_partition_of(group[0]):
                work.append(PartitionWork(group, await journal.unapplied(group)))
        yield work
        await journal.commit(work)


class Journal:
    """The journal of one agent: one record per partition, in a table of its own."""

    def __init__(self, sends: Sends, journal_table: Any, tables: Sequence[BatchTable]):
        self._sends = sends
        self._writer = TableWriter(sends, journal_table)
        self._store = journal_table.data
        self._tables = {table.writer.name: table.writer for table in tables}
        self._through: dict[int, Through] = {}

    def forget(self) -> None:
        """After a rebalance, each partition's journal is read again on first use."""
        self._through.clear()

    async def unapplied(self, events: Sequence[Consumed]) -> list[Consumed]:
        """The events (of one partition, inside `in_partition_of`) not applied yet."""
        partition = events[0].partition
        through = self._through.get(partition)
        if through is None:
            through = self._through[partition] = await self._replay(partition)
        return [e for e in events if e.offset > through.get(e.topic, -1)]

    async def commit(self, parts: Sequence[PartitionWork]) -> None:
        """Make the batch's changes durable, in the order the module describes."""
        staged: list[tuple[PartitionWork, list[ChangedRow], bytes]] = []
        for part in parts:
            through = self._through[part.partition]
            for event in part.events:
                through[event.topic] = max(through.get(event.topic, -1), event.offset)
            rows = [(table.writer.name, row) for table in part.tables for row in table.changes()]
            if rows:
                staged.append((part, rows, encode_frame(through, rows)))
        if not staged:
            return  # nothing to keep: inputs processed again decide the same outputs
        await self._sends.barrier()  # 1. the outputs the changes follow from
        for part, _, frame in staged:
            with in_partition_of(part.events[0]):
                await self._write_journal(part.partition, frame)
        await self._sends.barrier()  # 2. the journal
        for part, rows, _ in staged:
            with in_partition_of(part.events[0]):
                await self._write_rows(part.partition, rows)  # 3.

    async def _replay(self, partition: int) -> Through:
        frame = self._store.get(_journal_key(partition))
        if frame is None:
            return {}
        through, rows = decode_frame(frame)
        # the store may hold a journal record the changelog never acknowledged: write it again
        await self._write_journal(partition, frame)
        await self._sends.barrier()
        await self._write_rows(partition, rows)
        log.info("journal_replayed", partition=partition, rows=len(rows), through=through)
        return through

    async def _write_journal(self, partition: int, frame: bytes) -> None:
        await self._writer.write([self._writer.encode(_journal_key(partition), frame)], partition)

    async def _write_rows(self, partition: int, rows: Sequence[ChangedRow]) -> None:
        by_table: dict[str, list[EncodedRow]] = {}
        for name, row in rows:
            by_table.setdefault(name, []).append(row)
        for name, table_rows in by_table.items():
            await self._tables[name].write(table_rows, partition)


def journal_table(app: faust.App, spec: TableSpec, partitions: int) -> Any:
    """The agent's journal table: one raw record per partition (see `encode_frame`)."""
    # a bytes value type makes faust store and send the value as it is (the raw codec)
    return app.Table(spec.name, default=None, partitions=partitions, value_type=bytes)


def forget_on_rebalance(app: faust.App, journal: Journal) -> None:
    """Partitions may come back changed by another worker: read their journal again."""

    async def forget(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        journal.forget()

    app.on_partitions_revoked.connect(forget)


def _journal_key(partition: int) -> str:
    return str(partition)
