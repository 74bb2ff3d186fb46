"""Keeps every firm's latest settings in a global table that every worker reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import faust

from schemas import firms
from schemas.catalogue import FIRM_SETTINGS, FIRM_SETTINGS_TABLE, FIRM_SETTINGS_TOPIC
from schemas.firms import FirmSettings
from streams.outbox import Outbox

STAGE = "streams.firm_settings"


class FirmDirectory:
    """Settings by firm id; firms that never published settings get the documented defaults."""

    def __init__(self, table: Any):
        self._table = table

    def get(self, firm_id: str) -> FirmSettings:
        row = self._table.get(firm_id)
        if row is None:
            return FirmSettings(firm_id)
        return firms.from_record({**row, "updated_at": datetime.fromisoformat(row["updated_at"])})


def register_firm_settings(app: faust.App, outbox: Outbox) -> FirmDirectory:
    """Attach the agent that copies the firm-settings topic into a global table."""
    table = app.GlobalTable(
        FIRM_SETTINGS_TABLE.name, default=None, partitions=FIRM_SETTINGS_TOPIC.partitions
    )

    @app.agent(outbox.source(FIRM_SETTINGS_TOPIC), name="firm-settings")
    async def firm_settings(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            decoded = await outbox.accept(event, STAGE, frozenset({FIRM_SETTINGS}))
            if decoded is None:
                continue
            record = decoded.record
            table[record["firm_id"]] = {**record, "updated_at": record["updated_at"].isoformat()}
            yield None

    return FirmDirectory(table)
