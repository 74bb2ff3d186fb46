"""Faust adapter of the delivery roll-up: provider statuses in, firm alerts out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

import faust

from schemas.catalogue import ALERTS, DELIVERY, DELIVERY_EVENT, MESSAGE_ROLLUP
from streams.delivery import rules
from streams.delivery.rules import MessageRollup
from streams.outbox import Outbox

STAGE = "streams.delivery"


def register_delivery(app: faust.App, outbox: Outbox) -> None:
    """Attach the roll-up agent and its per-message table."""
    rollups = app.Table(MESSAGE_ROLLUP.name, default=None, partitions=DELIVERY.partitions)

    @app.agent(outbox.source(DELIVERY), name="delivery-rollup")
    async def delivery_rollup(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            decoded = await outbox.accept(event, STAGE, frozenset({DELIVERY_EVENT}))
            if decoded is None:
                continue
            record = decoded.record
            before = from_row(rollups.get(record["message_id"]))
            after, alerts = rules.apply(before, record)
            if after != before:
                rollups[after.message_id] = to_row(after)
            for alert in alerts:
                await outbox.send(ALERTS, alert["firm_id"], alert)
            yield None


def to_row(rollup: MessageRollup) -> dict[str, Any]:
    row = asdict(rollup)
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
