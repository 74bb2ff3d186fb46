"""Every record the worker sends goes through faust's producer here, so a batch can wait for
all of them and learn whether any failed.

faust's own send path only logs a record the broker refused after the producer's retries and
commits the input anyway, which loses the record. The worker instead checks at each barrier
and stops: it restarts from its last commit and its journal (streams/journal.py).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
import structlog

log = structlog.get_logger(__name__)


class SendFailedError(RuntimeError):
    """A record the worker sent was refused after the producer's retries."""


class Sends:
    """Records in flight on faust's producer; `barrier` waits for all of them."""

    def __init__(self, app: faust.App):
        self._app = app
        self._failed: list[str] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> asyncio.Future[Any]:
        """Queue one record (no key and no partition: the producer picks one); returns its
        delivery, for callers that need its offset."""
        sent = await self._app.producer.send(topic, key, value, partition, None, None)
        # faust types the send as Awaitable; it is the producer's delivery future
        delivery = cast("asyncio.Future[Any]", sent)
        delivery.add_done_callback(self._note_failure)
        return delivery

    async def barrier(self) -> None:
        """Return once every record sent so far is acknowledged; raise if any was refused."""
        # aiokafka's flush waits out each open batch's linger; closing the batches sends them
        # now (its transactional commit does the same). A barrier per batch is latency.
        client = getattr(self._app.producer, "_producer", None)
        if client is not None:
            await client._message_accumulator.flush_for_commit()
        await self._app.producer.flush()
        if self._failed:
            failed, self._failed = self._failed, []
            raise SendFailedError(f"{len(failed)} record(s) refused, first: {failed[0]}")

    def _note_failure(self, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled():
            self._failed.append("send cancelled")
        elif (error := delivery.exception()) is not None:
            log.error("send_failed", error=repr(error))
            self._failed.append(repr(error))
