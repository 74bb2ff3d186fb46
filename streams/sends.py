"""Every record the worker sends goes through faust's producer here, so a batch can wait for
all of them and learn whether any failed.

faust's own send path only logs a record the broker refused after the producer's retries and
commits the input anyway, which loses the record. The worker instead checks at each barrier
and stops: it restarts from its last commit and its journal (streams/journal.py).

Deliveries are kept in a list and checked at the barrier, not given a done-callback each: a
callback costs a loop turn per record when the broker answers, a list append costs nothing.
Records go straight into aiokafka's accumulator (what `AIOKafkaProducer.send` ends with),
skipping faust's send wrapper and aiokafka's per-record metadata checks (two partition sets
built per record); a topic's metadata is waited for once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import faust
import structlog
from faust.types import TP

log = structlog.get_logger(__name__)

# Deliveries kept between barriers before the settled ones are swept out (batches that change
# no table send without a barrier after them).
_SWEEP_AT = 50_000


class SendFailedError(RuntimeError):
    """A record the worker sent was refused after the producer's retries."""


class Sends:
    """Records in flight on faust's producer; `barrier` waits for all of them."""

    def __init__(self, app: faust.App):
        self._app = app
        self._pending: list[asyncio.Future[Any]] = []
        self._failed: list[str] = []
        self._after_barrier: list[Callable[[], None]] = []
        self._topics_known: set[str] = set()  # metadata fetched: partitions known

    def after_barrier(self, hook: Callable[[], None]) -> None:
        """Call `hook` after each barrier, once every record sent before it is acknowledged."""
        self._after_barrier.append(hook)

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> asyncio.Future[Any]:
        """Queue one record (no key and no partition: the producer picks one); returns its
        delivery, for callers that need its offset."""
        # aiokafka's producer, once faust started it
        producer = cast(Any, self._app.producer)._ensure_producer()
        if topic not in self._topics_known:
            await producer.client._wait_on_metadata(topic)
            self._topics_known.add(topic)
        if partition is None:  # the partitioner faust gave the producer (murmur2 of the key)
            partition = producer._partition(topic, None, key, value, key, value)
        delivery: asyncio.Future[Any] = await producer._message_accumulator.add_message(
            TP(topic, partition), key, value, producer._request_timeout_ms / 1000
        )
        self._pending.append(delivery)
        if len(self._pending) >= _SWEEP_AT:
            self._pending = self._sweep(self._pending)
        return delivery

    async def barrier(self) -> None:
        """Return once every record sent so far is acknowledged; raise if any was refused."""
        # aiokafka's flush waits out each open batch's linger; closing the batches sends them
        # now (its transactional commit does the same). A barrier per batch is latency.
        client = getattr(self._app.producer, "_producer", None)
        if client is not None:
            await client._message_accumulator.flush_for_commit()
        await self._app.producer.flush()
        # flush settles every delivery sent before it; later sends stay for the next barrier
        self._pending = self._sweep(self._pending)
        if self._failed:
            failed, self._failed = self._failed, []
            raise SendFailedError(f"{len(failed)} record(s) refused, first: {failed[0]}")
        for hook in self._after_barrier:
            hook()

    def _sweep(self, deliveries: list[asyncio.Future[Any]]) -> list[asyncio.Future[Any]]:
        """The deliveries still in flight; failures among the settled ones are noted."""
        unsettled = []
        for delivery in deliveries:
            if not delivery.done():
                unsettled.append(delivery)
            elif delivery.cancelled():
                self._failed.append("send cancelled")
            elif (error := delivery.exception()) is not None:
                log.error("send_failed", error=repr(error))
                self._failed.append(repr(error))
        return unsettled
