"""Transactional outbox: records are stored with the decision that emits them, then relayed.

A decision writes its state and its records in one SQLite transaction, so a record exists if
and only if the decision was taken. The relay produces unsent rows in order with the project's
idempotent producer settings and marks each row sent when Kafka acknowledges it: if Kafka is
down, rows wait and go out when it is back. Client events are also remembered so the service
recognises its own events when it reads `client-events` back.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

import structlog
from confluent_kafka import KafkaError, Message, Producer

from producers.event_producer import PRODUCER_DEFAULTS
from schemas import clients, firms
from schemas.catalogue import (
    ALL_TOPICS,
    CLIENT_CONTACTS,
    CLIENT_EVENTS,
    FIRM_SETTINGS_TOPIC,
    NOTIFICATIONS,
    TopicNames,
    TopicSpec,
)
from schemas.clients import ClientEvent
from schemas.codec import AvroCodec
from schemas.firms import FirmSettings
from schemas.pii import assert_no_clear_pii
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
# Sent rows are kept this long (seconds) and, for client events, until read back.
KEEP_SENT_S = 3600.0
# Client events we produce carry their id in this header, so reading them back needs no decoding.
EVENT_ID_HEADER = "ctrack-event-id"
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}")
_SPECS = {spec.name: spec for spec in ALL_TOPICS}


class OutboxWriter:
    """Appends encoded records inside the caller's transaction."""

    def __init__(
        self, store: Store, codec: AvroCodec, names: TopicNames, on_append: Callable[[], None]
    ):
        self._db = store.db
        self._db.executescript(OUTBOX_SCHEMA)
        self._codec = codec
        self._names = names
        self._on_append = on_append
        self._pii_guard = PiiGuard()

    def client_event(self, event: ClientEvent) -> None:
        self._append(CLIENT_EVENTS, event.client_id, clients.to_record(event), event.event_id)

    def notification(self, record: dict[str, Any]) -> None:
        self._append(NOTIFICATIONS, str(record["client_id"]), record)

    def contact(self, record: dict[str, Any]) -> None:
        self._append(CLIENT_CONTACTS, str(record["client_id"]), record)

    def firm_settings(self, settings: FirmSettings) -> None:
        self._append(FIRM_SETTINGS_TOPIC, settings.firm_id, firms.to_record(settings))

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
        self, spec: TopicSpec, key: str, record: dict[str, Any], event_id: UUID | None = None
    ) -> None:
        self._pii_guard.check(record, spec.value_schema)
        value = self._codec.encode(spec.value_schema, record, topic=self._names.of(spec))
        self._db.execute(
            "INSERT INTO outbox (event_id, topic, key, value, created_at) VALUES (?, ?, ?, ?, ?)",
            (str(event_id) if event_id else None, spec.name, key, value, time.time()),
        )
        self._on_append()


class PiiGuard:
    """`assert_no_clear_pii` on every record before it is even stored, as EventProducer does:
    strings already found clean for a field (ids, enum symbols, masks) are not scanned again
    (bounded memory), and canonical UUIDs cannot hold personal data (see producers/)."""

    def __init__(self, capacity: int = 100_000):
        self._capacity = capacity
        self._clean: set[tuple[str, str]] = set()

    def check(self, record: dict[str, Any], schema_name: str) -> None:
        for name, value in record.items():
            if isinstance(value, dict | list | tuple):  # not in our flat records; scan it all
                assert_no_clear_pii(record, schema_name)
                return
            if not isinstance(value, str) or (name, value) in self._clean:
                continue
            if _CANONICAL_UUID.fullmatch(value):
                continue
            assert_no_clear_pii({name: value}, schema_name)  # raises, naming the field
            if len(self._clean) >= self._capacity:
                self._clean.clear()
            self._clean.add((name, value))


class OutboxRelay:
    """Produces unsent outbox rows and marks them sent on Kafka's acknowledgement."""

    def __init__(
        self,
        store: Store,
        names: TopicNames,
        producer: Producer,
        metrics: Metrics,
        batch: int = 1000,
        retry_backoff_s: float = 1.0,
    ):
        self._store = store
        self._db = store.db
        self._names = names
        self._producer = producer
        self._metrics = metrics
        self._batch = batch
        self._retry_backoff_s = retry_backoff_s
        self._work = asyncio.Event()
        self._in_flight: set[int] = set()
        self._reports: deque[tuple[int, KafkaError | None]] = deque()
        self._paused_until = 0.0
        self._pruned_at = 0.0

    def wake(self) -> None:
        """New rows were appended (called on the event loop's thread)."""
        self._work.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, then hand over what is left (bounded wait)."""
        while not stop.is_set():
            self._produce_unsent()
            if self._in_flight:
                await asyncio.to_thread(self._producer.poll, 0.05)
            else:
                await self._idle(stop)
            self._settle()
            self._prune()
        self._produce_unsent()
        await asyncio.to_thread(self._producer.flush, 10.0)
        self._settle()  # what is still unsent stays in the outbox for the next start

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
        rows = self._db.execute(
            "SELECT seq, event_id, topic, key, value FROM outbox WHERE sent_at IS NULL"
            " ORDER BY seq LIMIT ?",
            (self._batch + len(self._in_flight),),
        ).fetchall()
        for seq, event_id, topic, key, value in rows:
            if seq in self._in_flight:
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
        self._producer.poll(0)

    def _on_delivery(self, seq: int, error: KafkaError | None, _message: Message) -> None:
        self._reports.append((seq, error))  # librdkafka's thread: hand over, touch no state

    def _settle(self) -> None:
        delivered: list[tuple[float, int]] = []
        now = time.time()
        while self._reports:
            seq, error = self._reports.popleft()
            self._in_flight.discard(seq)
            if error is None:
                delivered.append((now, seq))
            else:
                self._metrics.relay_failed += 1
                self._paused_until = time.monotonic() + self._retry_backoff_s
                log.warning(
                    "outbox_delivery_failed", code=error.name(), retriable=error.retriable()
                )
        if delivered:
            with self._store.transaction():
                self._db.executemany("UPDATE outbox SET sent_at = ? WHERE seq = ?", delivered)
            self._metrics.relay_delivered += len(delivered)

    def _prune(self) -> None:
        now = time.time()
        if now - self._pruned_at < 60:
            return
        self._pruned_at = now
        self._db.execute(
            "DELETE FROM outbox WHERE sent_at < ? AND (event_id IS NULL OR echoed = 1)",
            (now - KEEP_SENT_S,),
        )


def relay_producer(bootstrap: str) -> Producer:
    """The project's idempotent, murmur2-keyed producer settings (see producers/), with a
    delivery report for every record: each one marks its outbox row sent."""
    return Producer(
        {"bootstrap.servers": bootstrap, **PRODUCER_DEFAULTS, "delivery.report.only.error": False}
    )
