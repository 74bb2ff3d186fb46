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

from schemas.catalogue import ALERTS, DELIVERY, DELIVERY_EVENT, MESSAGE_ROLLUP
from streams.batches import BatchTable, WriteBack, batches, by_partition, in_partition_of
from streams.delivery import rules
from streams.delivery.rules import MessageRollup
from streams.outbox import Outbox

STAGE = "streams.delivery"
ACCEPTED = frozenset({DELIVERY_EVENT})


def register_delivery(app: faust.App, outbox: Outbox, max_batch: int) -> None:
    """Attach the roll-up agent and its per-message table."""
    rollups = BatchTable(
        app, app.Table(MESSAGE_ROLLUP.name, default=None, partitions=DELIVERY.partitions)
    )

    @app.agent(outbox.source(DELIVERY), name="delivery-rollup")
    async def delivery_rollup(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for events in batches(stream, max_batch, float(__import__('os').environ.get('GATHER', '0'))):
            for group in by_partition(events):
                with in_partition_of(group[0]):
                    await roll_up(group, rollups.write_back(), outbox)
            yield None


async def roll_up(
    events: Sequence[faust.EventT[bytes]], rollups: WriteBack, outbox: Outbox
) -> None:
    """Fold one partition's statuses in order, raise alerts, then write each roll-up once."""
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
    await rollups.flush(events[0].message.partition)


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
