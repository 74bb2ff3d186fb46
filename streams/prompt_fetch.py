"""faust's Kafka transport with a short fetch wait for the worker's consumer.

aiokafka does not fetch a partition again while records of it are still buffered, so the next
fetch asks only for the other partitions, which are often idle (clock, firm settings), and the
broker holds that request for the whole fetch wait before the busy partitions can be fetched
again. faust hard-codes the wait at 1.5 s. On the stream benchmark, `Access Locked` under a
5,000 events/s load then arrived 1.5-1.7 s after the third failure (p99); with a 10 ms wait,
about 0.15-0.2 s. A shorter wait only costs empty fetch round trips on an idle cluster.
"""

from __future__ import annotations

from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as driver

from streams.consumer_drain import drain_messages


def use_fetch_wait(app: faust.App, wait_ms: int) -> None:
    """Make the worker's consumer fetch with `wait_ms` (before the worker starts), and hand
    records to the agents without faust's per-record task race (streams/consumer_drain.py)."""

    class PromptConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = wait_ms  # aiokafka gives it to its fetcher at start
            return consumer

    class PromptConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> PromptConsumerThread:
            return PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def _drain_messages(self, fetcher: Any) -> None:
            await drain_messages(self, fetcher)  # no task race per record

    class PromptTransport(driver.Transport):
        # a class body does not see the function's names it assigns itself: distinct names
        Consumer: ClassVar[type[driver.Consumer]] = PromptConsumer

    app.transport = PromptTransport(app.conf.broker_consumer, app)
