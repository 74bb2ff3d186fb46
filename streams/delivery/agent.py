"""Faust adapter of the delivery roll-up: provider statuses in, firm alerts out.

Events come in batches; each partition's statuses are folded in arrival order and each changed
roll-up is written once at the end of the batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

import faust

from schemas.catalogue import ALERTS, DELIVERY, DELIVERY_EVENT, DELIVERY_JOURNAL, MESSAGE_ROLLUP
from streams.batches import BatchLimits, WriteBack
from streams.delivery import rules
from streams.delivery.rules import MessageRollup
from streams.journal import journaled_batches
from streams.lanes import Consumed
from streams.outbox import Outbox
from streams.partition_folds import journaled_tables

STAGE = "streams.delivery"
ACCEPTED = frozenset({DELIVERY_EVENT})


def register_delivery(app: faust.App, outbox: Outbox, limits: BatchLimits) -> None:
    """Attach the roll-up agent, its per-message table and its journal."""
    tables, journal = journaled_tables(
        app, outbox.sends, (MESSAGE_ROLLUP,), DELIVERY_JOURNAL, DELIVERY.partitions
    )

    @app.agent(outbox.source(DELIVERY), name="delivery-rollup")
    async def delivery_rollup(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for work in journaled_batches(stream, limits, journal):
            for part in work:
                with part.context():
                    rollups = tables[0].write_back()
                    await roll_up(part.todo, rollups, outbox)
                    part.tables = (rollups,)
            yield None


async def roll_up(events: Sequence[Consumed], rollups: WriteBack, outbox: Outbox) -> None:
    """Fold one partition's statuses in order and raise alerts (the journal writes the roll-ups)."""
    for event in events:
        decoded = await outbox.accept(event, STAGE, ACCEPTED)
        if decoded is None:
            continue
        record = decoded.record
        before = from_row(rollups.get(record["message_id"]))
        after, alerts = rules.apply(before, record)
        for alert in alerts:
            await outbox.send(ALERTS, alert["firm_id"], alert)
        if after != before:
            rollups[after.message_id] = to_row(after)


# Every field is a plain value: a shallow row is what dataclasses.asdict gives, much cheaper.
_ROLLUP_FIELDS = tuple(f.name for f in fields(MessageRollup))


def to_row(rollup: MessageRollup) -> dict[str, Any]:
    row = {name: getattr(rollup, name) for name in _ROLLUP_FIELDS}
    for key in ("first_delivered_at", "first_opened_at"):
        row[key] = row[key].isoformat() if row[key] else None
    return row


def from_row(row: dict[str, Any] | None) -> MessageRollup | None:
    if row is None:
        return None
    values = dict(row)
    for key in ("first_delivered_at", "first_opened_at"):
        values[key] = datetime.fromisoformat(values[key]) if values[key] else None
    return MessageRollup(**values)
