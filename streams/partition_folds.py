"""What the agents share: their tables with the journal that commits them (every agent), and
the loop of the per-return and per-client agents: journaled batches, firm settings read once
per batch, one fold per partition whose changed tables the journal then commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import faust

from schemas.catalogue import TableSpec
from streams.batches import BatchLimits, BatchTable, WriteBack, batch_tables
from streams.firms.agent import SETTINGS_WAIT_S, BatchFirms, FirmDirectory
from streams.journal import Journal, forget_on_rebalance, journal_table, journaled_batches
from streams.lanes import Consumed
from streams.sends import Sends


class PartitionFold(Protocol):
    """One partition's share of a batch, folded through an agent's rules."""

    @property
    def tables(self) -> Sequence[WriteBack]: ...

    async def run(self, events: Sequence[Consumed]) -> None: ...


def journaled_tables(
    app: faust.App, sends: Sends, specs: Sequence[TableSpec], journal: TableSpec, partitions: int
) -> tuple[list[BatchTable], Journal]:
    """An agent's state tables and the journal that commits their changes."""
    tables = batch_tables(app, sends, specs, partitions)
    committed_by = Journal(sends, journal_table(app, journal, partitions), tables)
    forget_on_rebalance(app, committed_by)
    return tables, committed_by


async def fold_batches(
    stream: Any,
    limits: BatchLimits,
    journal: Journal,
    firms: FirmDirectory,
    fold: Callable[[BatchFirms], PartitionFold],
) -> AsyncIterator[None]:
    """Fold each partition's share of every batch with a fresh `fold(settings)`."""
    async for work in journaled_batches(stream, limits, journal):
        await firms.caught_up(SETTINGS_WAIT_S)
        settings = firms.for_batch()
        for part in work:
            with part.context():
                batch = fold(settings)
                await batch.run(part.todo)
                part.tables = batch.tables
        yield None
