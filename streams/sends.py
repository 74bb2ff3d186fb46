"""Every record the worker sends (outputs, dead letters, changelog rows, journal records) goes
through one confluent-kafka producer here, so a batch can wait for all of them and learn whether
any failed.

faust's own send path only logs a record the broker refused after the producer's retries and
commits the input anyway, which loses the record. The worker instead checks at each barrier
and stops: it restarts from its last commit and its journal (streams/journal.py).

librdkafka batches, encodes and sends on its own threads; the event loop only enqueues records
and serves delivery reports, each a small callback that counts its record into the round it was
sent in (no future per record). A barrier closes the current round and waits, polling between
short sleeps, until it and every round closed before it are settled. faust commits input offsets
right after flushing its own producer (also before partitions are revoked, and on stop): that
flush first waits for a barrier here, so no input is committed past a record of ours that is not
acknowledged or was refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import faust
import structlog
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ctrack.settings import KafkaSettings
from producers.event_producer import POLL_EVERY, producer_config
from schemas.catalogue import JOURNAL_MAX_BYTES

log = structlog.get_logger(__name__)

_ANY_PARTITION = -1  # librdkafka's RD_KAFKA_PARTITION_UA: the partitioner picks (by key)
# A barrier first flushes this long: librdkafka ignores linger.ms only while a flush runs, so
# the round's records leave at once instead of after their linger.
_NUDGE_S = 0.001
_POLL_S = 0.001  # then serves delivery reports this often until its rounds are settled
_QUEUE_FULL_WAIT_S = 0.005


class SendFailedError(RuntimeError):
    """A record the worker sent was refused after the producer's retries."""


def worker_producer_config(kafka: KafkaSettings, linger_s: float) -> dict[str, Any]:
    """The project's producer settings, with what the worker needs on top."""
    return producer_config(
        kafka,
        {
            "linger.ms": linger_s * 1000,  # short: a barrier per batch waits for the records
            # a report per record: it settles its round and gives the table writers the offset
            "delivery.report.only.error": False,
            "message.max.bytes": JOURNAL_MAX_BYTES,  # a batch's journal record is one record
        },
    )


class Round:
    """Records sent between two barriers; each delivery report settles one."""

    __slots__ = ("_acked", "_refused", "sent", "settled")

    def __init__(self, acked: dict[tuple[str, int], int], refused: list[str]):
        self.sent = 0
        self.settled = 0
        self._acked = acked
        self._refused = refused

    @property
    def done(self) -> bool:
        return self.settled >= self.sent

    def settle(self, error: KafkaError | None, message: Message) -> None:
        """The delivery report of one record (runs inside poll/flush: kept small)."""
        self.settled += 1
        if error is None:
            # one partition's records are acknowledged in order: the latest is the highest
            where = message.topic(), message.partition()
            self._acked[where] = message.offset()  # type: ignore[index,assignment]  # all set once acked
        else:
            refused = f"{message.topic()}[{message.partition()}]: {error.str()}"
            log.error("send_failed", record=refused, code=error.name())
            self._refused.append(refused)


class Rounds:
    """Which rounds a barrier waits for, which offsets are acknowledged, what was refused."""

    def __init__(self) -> None:
        self.acked: dict[tuple[str, int], int] = {}
        self.refused: list[str] = []  # never cleared: a worker that lost a record must restart
        self.current = Round(self.acked, self.refused)
        self._closed: list[Round] = []  # closed by a barrier, maybe not settled yet

    def close(self) -> list[Round]:
        """The rounds a barrier waits for: every one closed before and the current one, which a
        new round replaces."""
        if self.current.sent:
            self._closed = [r for r in self._closed if not r.done]
            self._closed.append(self.current)
            self.current = Round(self.acked, self.refused)
        return list(self._closed)


class Sends:
    """The worker's records in flight on its own producer; `barrier` waits for them."""

    def __init__(self, app: faust.App, config: dict[str, Any]):
        """`config`: librdkafka settings (see `worker_producer_config`)."""
        self._app = app
        self._config = config
        self._producer: Producer | None = None  # made on the first send
        self._rounds = Rounds()
        self._after_barrier: list[Callable[[], None]] = []
        self._until_poll = POLL_EVERY

    def after_barrier(self, hook: Callable[[], None]) -> None:
        """Call `hook` after each barrier, once every record sent before it is acknowledged."""
        self._after_barrier.append(hook)

    def acked_offset(self, topic: str, partition: int) -> int | None:
        """The offset of the latest record of ours acknowledged on that partition, if any."""
        return self._rounds.acked.get((topic, partition))

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> None:
        """Queue one record (partition None: the partitioner picks, by murmur2 of the key like
        faust and Java clients, or at random without a key)."""
        at = _ANY_PARTITION if partition is None else partition
        await self.send_all(topic, ((key, value),), at)

    async def send_all(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes | None]], partition: int
    ) -> None:
        """Queue records for one partition (-1: by key), in order; waits only while the local
        queue is full, for the broker to catch up (backpressure)."""
        for key, value in records:
            while True:
                if self._queue(topic, key, value, partition):
                    break
                await asyncio.sleep(_QUEUE_FULL_WAIT_S)

    def _queue(self, topic: str, key: bytes | None, value: bytes | None, at: int) -> bool:
        """Put one record on the producer's queue; False if the queue is full."""
        producer = self._producer or self._start()
        round_ = self._rounds.current
        try:
            producer.produce(topic, value, key, at, round_.settle)
        except BufferError:
            producer.poll(0)  # serve delivery reports: they make room
            return False
        except KafkaException as exc:  # refused before queuing (too large, fatal error)
            self._rounds.refused.append(f"{topic}: {exc}")
            raise SendFailedError(f"record for {topic} refused: {exc}") from exc
        round_.sent += 1
        self._until_poll -= 1
        if not self._until_poll:  # serve delivery reports now and then between barriers
            self._until_poll = POLL_EVERY
            producer.poll(0)
        return True

    async def barrier(self) -> None:
        """Return once every record sent so far is acknowledged; raise if any was refused."""
        waiting_for = self._rounds.close()
        producer = self._producer
        if producer is not None and not all(r.done for r in waiting_for):
            producer.flush(_NUDGE_S)
            while not all(r.done for r in waiting_for):
                await asyncio.sleep(_POLL_S)
                producer.poll(0)
        if refused := self._rounds.refused:
            raise SendFailedError(f"{len(refused)} record(s) refused, first: {refused[0]}")
        for hook in self._after_barrier:
            hook()

    def _start(self) -> Producer:
        """The producer, and faust's commits made to wait for its records."""
        self._producer = Producer(self._config)
        faust_producer: Any = self._app.producer
        flush_faust = faust_producer.flush

        async def flush_ours_then_faust() -> None:
            await self.barrier()
            await flush_faust()

        faust_producer.flush = flush_ours_then_faust
        return self._producer
