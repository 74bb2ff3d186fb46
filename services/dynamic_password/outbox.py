"""Transactional outbox: records are stored with the decision that emits them, then relayed.

A decision writes its state and its records in one SQLite transaction, so a record exists if
and only if the decision was taken. The relay produces unsent rows in order with the project's
idempotent producer settings and deletes rows once Kafka acknowledged them: if Kafka is down,
rows wait and go out when it is back. Records with an event id carry it in a header, so
the service recognises its own events when it reads them back, without decoding them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

import structlog
from confluent_kafka import KafkaError, Message, Producer

from producers.event_producer import PRODUCER_DEFAULTS
from producers.pii_guard import PiiGuard, guarded_encode
from schemas import clients, firms, tracking
from schemas.catalogue import (
    ALL_TOPICS,
    CLIENT_CONTACTS,
    CLIENT_EVENTS,
    FIRM_SETTINGS_TOPIC,
    NOTIFICATIONS,
    RETURN_LIFECYCLE,
    TRACKING,
    TopicNames,
    TopicSpec,
)
from schemas.clients import ClientEvent
from schemas.codec import AvroCodec
from schemas.firms import FirmSettings
from schemas.tracking import TrackingEvent
from services.dynamic_password.metrics import Metrics
from services.dynamic_password.store import Store

log = structlog.get_logger(__name__)

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL,
    echoed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_by_event ON outbox (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
"""
# While records are in flight, acknowledgements are collected this often (seconds), on the
# event loop's thread (no thread hop), and acknowledged rows deleted at most this often, in one
# transaction: a crash in between sends those records again (at least once, as after any crash).
RELAY_TICK_S = 0.01
SETTLE_EVERY_S = 0.05
RELAY_LINGER_MS = 5  # a client waits for the SMS its record asks for (the default lingers 100)
# Client events we produce carry their id in this header, so reading them back needs no decoding.
EVENT_ID_HEADER = "ctrack-event-id"
_SPECS = {spec.name: spec for spec in ALL_TOPICS}


class OutboxWriter:
    """Appends encoded records inside the caller's transaction; rows become relayable once
    committed (`committed_up_to`), and `on_commit` is told."""

    def __init__(self, store: Store, codec: AvroCodec, names: TopicNames):
        self._db = store.db
        self._db.executescript(OUTBOX_SCHEMA)
        # Rows marked sent by earlier versions, which kept them for an hour: not needed.
        self._db.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL")
        self._codec = codec
        self._names = names
        self._pii_guard = PiiGuard(codec.schema)
        last = self._db.execute("SELECT max(seq) FROM outbox").fetchone()[0]
        self.committed_up_to = self._appended_up_to = int(last or 0)
        self.on_commit: Callable[[], None] = lambda: None
        store.commits.on_commit(self._committed)

    def client_event(self, event: ClientEvent) -> None:
        self._append(CLIENT_EVENTS, event.client_id, clients.to_record(event), event.event_id)

    def notification(self, record: dict[str, Any]) -> None:
        self._append(NOTIFICATIONS, str(record["client_id"]), record)

    def contact(self, record: dict[str, Any]) -> None:
        self._append(CLIENT_CONTACTS, str(record["client_id"]), record)

    def firm_settings(self, settings: FirmSettings) -> None:
        self._append(FIRM_SETTINGS_TOPIC, settings.firm_id, firms.to_record(settings))

    def tracking(self, event: TrackingEvent) -> None:
        """A touch on a return (e.g. a firm user's ACCESS_UNLOCKED), keyed by return_id."""
        record = tracking.to_record(event)
        self._append(TRACKING, event.return_id, record, event.event_id)

    def return_lifecycle(self, record: dict[str, Any]) -> None:
        """A firm-side fact about a return (ReturnLifecycleEvent), keyed by return_id."""
        self._append(RETURN_LIFECYCLE, str(record["return_id"]), record, record["event_id"])

    def is_own_event(self, event_id: UUID | str) -> bool:
        """Whether a client event read back was emitted here (and marks it read back)."""
        cursor = self._db.execute(
            "UPDATE outbox SET echoed = 1 WHERE event_id = ?", (str(event_id),)
        )
        return cursor.rowcount > 0

    def pending(self) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]
        )

    def _append(
        self, spec: TopicSpec, key: str, record: dict[str, Any], event_id: UUID | str | None = None
    ) -> None:
        topic = self._names.of(spec)
        value = guarded_encode(self._pii_guard, self._codec, spec.value_schema, record, topic)
        cursor = self._db.execute(
            "INSERT INTO outbox (event_id, topic, key, value, created_at) VALUES (?, ?, ?, ?, ?)",
            (str(event_id) if event_id else None, spec.name, key, value, time.time()),
        )
        self._appended_up_to = max(self._appended_up_to, cursor.lastrowid or 0)

    def _committed(self) -> None:
        if self._appended_up_to > self.committed_up_to:
            self.committed_up_to = self._appended_up_to
            self.on_commit()


class OutboxRelay:
    """Produces committed outbox rows and deletes them on Kafka's acknowledgement."""

    def __init__(
        self,
        store: Store,
        outbox: OutboxWriter,
        names: TopicNames,
        producer: Producer,
        metrics: Metrics,
        batch: int = 1000,
        retry_backoff_s: float = 1.0,
    ):
        self._store = store
        self._db = store.db
        self._outbox = outbox
        outbox.on_commit = self.wake
        self._names = names
        self._producer = producer
        self._metrics = metrics
        self._batch = batch
        self._retry_backoff_s = retry_backoff_s
        self._work = asyncio.Event()
        self._in_flight: set[int] = set()
        self._acked: set[int] = set()  # acknowledged by Kafka, row not deleted yet
        self._reports: deque[tuple[int, KafkaError | None]] = deque()
        self._produced_up_to = 0  # rows after this seq have not been produced yet...
        self._rescan = True  # ...unless a failure (or the start) asks to look at all unsent rows
        self._paused_until = 0.0
        self._settled_at = 0.0

    def wake(self) -> None:
        """New rows were committed (called on the event loop's thread)."""
        self._work.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, then hand over what is left (bounded wait)."""
        while not stop.is_set():
            self._produce_unsent()
            self._producer.poll(0)  # delivery reports arrive here, on this thread
            self._collect()
            self._settle(force=False)
            if self._in_flight or self._acked:
                await asyncio.sleep(RELAY_TICK_S)
            else:
                await self._idle(stop)
        self._produce_unsent()
        await asyncio.to_thread(self._producer.flush, 10.0)
        self._collect()
        self._settle(force=True)  # what is still unsent stays in the outbox for the next start
        # Records still queued (broker unreachable) would keep the producer, and its retries of
        # the broker, alive for ever; their rows stay unsent, so they are not failures.
        self._producer.purge()
        self._producer.flush(1.0)  # serves the purged records' reports
        self._reports.clear()
        self._in_flight.clear()
        if hasattr(self._producer, "close"):  # a newer confluent-kafka; else its last reference
            self._producer.close()  # ends it, which dropping it alone did not (measured)

    async def _idle(self, stop: asyncio.Event) -> None:
        self._work.clear()
        waiters = {asyncio.ensure_future(self._work.wait()), asyncio.ensure_future(stop.wait())}
        _, pending = await asyncio.wait(
            waiters, timeout=self._retry_backoff_s, return_when=asyncio.FIRST_COMPLETED
        )
        for waiter in pending:
            waiter.cancel()

    def _produce_unsent(self) -> None:
        if time.monotonic() < self._paused_until:
            return
        after = 0 if self._rescan else self._produced_up_to
        self._rescan = False
        rows = self._db.execute(
            "SELECT seq, event_id, topic, key, value FROM outbox WHERE sent_at IS NULL"
            " AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            (
                after,
                self._outbox.committed_up_to,
                self._batch + len(self._in_flight) + len(self._acked),
            ),
        ).fetchall()
        for seq, event_id, topic, key, value in rows:
            if seq in self._in_flight or seq in self._acked:
                continue
            try:
                self._producer.produce(
                    self._names.of(_SPECS[topic]),
                    value,
                    key.encode(),
                    on_delivery=partial(self._on_delivery, seq),
                    headers=[(EVENT_ID_HEADER, event_id.encode())] if event_id else None,
                )
            except BufferError:  # local queue full: the acknowledgements will make room
                break
            self._in_flight.add(seq)
            self._produced_up_to = max(self._produced_up_to, seq)

    def _on_delivery(self, seq: int, error: KafkaError | None, _message: Message) -> None:
        self._reports.append((seq, error))  # from poll or flush: hand over, touch no state

    def _collect(self) -> None:
        """Move acknowledged rows from in flight to acked; a failure pauses, then rescans."""
        while self._reports:
            seq, error = self._reports.popleft()
            self._in_flight.discard(seq)
            if error is None:
                self._acked.add(seq)
                continue
            self._metrics.relay_failed += 1
            self._paused_until = time.monotonic() + self._retry_backoff_s
            self._rescan = True
            log.warning("outbox_delivery_failed", code=error.name(), retriable=error.retriable())

    def _settle(self, force: bool) -> None:
        """Delete the acknowledged rows, in one transaction (at most every SETTLE_EVERY_S);
        read back, our records are known by their header, not by their row."""
        due = force or time.monotonic() - self._settled_at >= SETTLE_EVERY_S
        if not self._acked or not due:
            return
        with self._store.transaction():
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in self._acked])
        self._metrics.relay_delivered += len(self._acked)
        self._acked.clear()
        self._settled_at = time.monotonic()


def relay_producer(bootstrap: str) -> Producer:
    """The project's idempotent, murmur2-keyed producer settings (see producers/), with a
    delivery report for every record (each one releases its outbox row) and a short linger:
    a client is waiting for the SMS the record asks for."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            **PRODUCER_DEFAULTS,
            "delivery.report.only.error": False,
            "linger.ms": RELAY_LINGER_MS,
        }
    )
