"""Keeps every firm's latest settings in a global table that every worker reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import faust
import structlog

from schemas import firms
from schemas.catalogue import FIRM_SETTINGS, FIRM_SETTINGS_TABLE, FIRM_SETTINGS_TOPIC
from schemas.firms import FirmSettings
from streams.lanes import Consumed
from streams.outbox import Outbox

STAGE = "streams.firm_settings"
# How long an agent waits for settings it knows are on their way before it goes on.
SETTINGS_WAIT_S = 2.0

log = structlog.get_logger(__name__)


class FirmDirectory:
    """Settings by firm id; firms that never published settings get the documented defaults."""

    def __init__(self, table: Any, app: faust.App, topic: str):
        self._table = table
        self._app = app
        self._topic = topic
        self._applied: dict[Any, int] = {}  # firm-settings partition -> last offset applied

    def note_applied(self, event: Consumed) -> None:
        """The settings agent has applied (or dead-lettered) `event`."""
        self._applied[event.tp] = event.offset

    async def caught_up(self, timeout_s: float) -> None:
        """Wait until every firm-settings record this worker's consumer has seen is applied.

        Settings and the events they govern arrive on different topics, so an agent could
        apply an event before the settings published ahead of it; agents call this before each
        batch. Settings on partitions another worker reads reach this one through the global
        table's changelog and are not waited for.
        """
        consumer = self._app.consumer
        deadline = time.monotonic() + timeout_s
        while self._behind(consumer):
            if time.monotonic() > deadline:
                log.warning("firm_settings_behind", waited_s=timeout_s)
                return
            await asyncio.sleep(0.002)

    def _behind(self, consumer: Any) -> bool:
        for tp in consumer.assignment():
            if tp.topic == self._topic:
                highwater = consumer.highwater(tp)
                # what an earlier run committed was applied then (faust keeps no public view)
                committed = consumer._committed_offset.get(tp) or 0
                applied = max(self._applied.get(tp, -1), committed - 1)
                if highwater is not None and highwater > applied + 1:
                    return True
        return False

    def get(self, firm_id: str) -> FirmSettings:
        row = self._table.data.get(firm_id)  # the store: one lookup, where `table.get` does two
        if row is None:
            return FirmSettings(firm_id)
        return firms.from_record({**row, "updated_at": datetime.fromisoformat(row["updated_at"])})

    def for_batch(self) -> BatchFirms:
        """A view that reads each firm once; settings that change land between batches."""
        return BatchFirms(self)


class BatchFirms:
    """Firm settings read through one batch."""

    def __init__(self, directory: FirmDirectory):
        self._directory = directory
        self._seen: dict[str, FirmSettings] = {}

    def get(self, firm_id: str) -> FirmSettings:
        settings = self._seen.get(firm_id)
        if settings is None:
            settings = self._seen[firm_id] = self._directory.get(firm_id)
        return settings


def register_firm_settings(app: faust.App, outbox: Outbox) -> FirmDirectory:
    """Attach the agent that copies the firm-settings topic into a global table."""
    table = app.GlobalTable(
        FIRM_SETTINGS_TABLE.name, default=None, partitions=FIRM_SETTINGS_TOPIC.partitions
    )

    @app.agent(outbox.source(FIRM_SETTINGS_TOPIC), name="firm-settings")
    async def firm_settings(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        async for event in stream.events():
            decoded = await outbox.accept(event.message, STAGE, frozenset({FIRM_SETTINGS}))
            if decoded is not None:
                record = decoded.record
                row = {**record, "updated_at": record["updated_at"].isoformat()}
                table[record["firm_id"]] = row
            directory.note_applied(event.message)
            yield None

    directory = FirmDirectory(table, app, outbox.names.of(FIRM_SETTINGS_TOPIC))
    return directory
