"""What the service learns from the topics: other producers' client events, firm settings,
and delivered returns' access locks.

The stream worker sends invites, reminders, link expiries and unlocks on its own timers; the
service folds those events into its state with the same rule, skipping the events it emitted
itself (remembered in the outbox). Firm settings come from the compacted firm-settings topic.
Tracking touches go through the worker's lockout rule and return-lifecycle facts name each
return's firm (`return_locks.py`), so a firm user can unlock a locked return here.
Offsets are stored in the service's database in the same transaction as what they changed,
so each record is applied exactly once, across restarts. The partitions are assigned, not
subscribed: one process reads them all (replicas would each take a shard of client ids).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, replace
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from schemas import clients, firms, tracking
from schemas.catalogue import (
    CLIENT_EVENT,
    CLIENT_EVENTS,
    FIRM_SETTINGS,
    FIRM_SETTINGS_TOPIC,
    RETURN_LIFECYCLE,
    RETURN_LIFECYCLE_EVENT,
    TRACKING,
    TRACKING_EVENT,
    TopicNames,
)
from schemas.clients import ClientEvent, ClientEventType
from schemas.codec import AvroCodec
from schemas.errors import DeserializationError
from schemas.firms import FirmSettings
from schemas.tracking import TrackingEvent
from services.dynamic_password.core import Core
from services.dynamic_password.errors import Refused
from services.dynamic_password.outbox import EVENT_ID_HEADER
from services.dynamic_password.return_locks import fold_touch, learn_lifecycle
from services.dynamic_password.store import ClientRow
from streams.client_status.rules import LINK_ISSUING
from streams.lockout.rules import ACTED_ON

log = structlog.get_logger(__name__)
E = ClientEventType
ADDED = frozenset({E.CLIENT_ADDED, E.CLIENT_IMPORTED})


class EventIngest:
    """Reads client-events and firm-settings into the service's state until stopped."""

    def __init__(self, core: Core, bootstrap: str, names: TopicNames, codec: AvroCodec):
        self._core = core
        self._codec = codec
        self._tracking = names.of(TRACKING)
        self._topics = (
            names.of(CLIENT_EVENTS),
            names.of(FIRM_SETTINGS_TOPIC),
            self._tracking,
            names.of(RETURN_LIFECYCLE),
        )
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"{names.prefix}.dynamic-password",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "client.id": f"dynamic-password-{uuid.uuid4().hex[:8]}",
            }
        )

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._assign(stop)
            while not stop.is_set():
                batch = await asyncio.to_thread(self._consumer.consume, 500, 0.2)
                await self._apply([m for m in batch if m.error() is None])
        finally:
            await asyncio.to_thread(self._consumer.close)

    async def _assign(self, stop: asyncio.Event) -> None:
        """Every partition of both topics, from the stored offsets (or the beginning)."""
        while not stop.is_set():
            try:
                partitions = [
                    TopicPartition(
                        topic, p, self._core.store.offsets(topic).get(p, OFFSET_BEGINNING)
                    )
                    for topic in self._topics
                    for p in await asyncio.to_thread(self._partitions, topic)
                ]
                self._consumer.assign(partitions)
                return
            except KafkaException as exc:  # topic not there yet, broker not up: try again
                log.warning("ingest_waiting_for_topics", error=str(exc))
                await asyncio.sleep(1.0)

    def _partitions(self, topic: str) -> list[int]:
        metadata = self._consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None or not metadata.partitions:
            raise KafkaException(metadata.error)
        return sorted(metadata.partitions)

    async def _apply(self, messages: list[Message]) -> None:
        """Apply a batch in as few transactions as possible, offsets included.

        A client whose lock is held (a decision awaiting, e.g. a password hash) is waited for;
        every other record is applied at once: nothing else can run between the check and the
        write, the event loop being single-threaded.
        """
        records = [(message, self._decode(message)) for message in messages]
        done = 0
        while done < len(records):
            with self._core.store.transaction():
                offsets: dict[tuple[str, int], int] = {}
                while done < len(records):
                    message, record = records[done]
                    if isinstance(record, ClientEvent) and self._core.locks.busy(record.client_id):
                        break
                    self._apply_one(record)
                    topic, partition, next_offset = _position(message)
                    offsets[(topic, partition)] = next_offset
                    done += 1
                for (topic, partition), offset in offsets.items():
                    self._core.store.save_offset(topic, partition, offset)
            if done < len(records):
                message, record = records[done]
                assert isinstance(record, ClientEvent)  # noqa: S101 - the loop broke on one
                async with self._core.locks.hold(record.client_id):
                    with self._core.store.transaction():
                        self._apply_one(record)
                        self._core.store.save_offset(*_position(message))
                done += 1

    def _decode(self, message: Message) -> Ingested:
        # Our own unlocks are folded again when read back, in partition order (as the worker
        # folds them); our other records are recognised in _apply_one without decoding.
        if message.topic() != self._tracking and (event_id := _own_event_id(message)):
            return OwnEvent(event_id)
        try:
            decoded = self._codec.decode(message.value() or b"")
        except DeserializationError as exc:  # the stream worker dead-letters it
            log.warning("ingest_skipped_record", topic=message.topic(), error=str(exc))
            return None
        if decoded.schema_name == CLIENT_EVENT:
            return clients.from_record(decoded.record)
        if decoded.schema_name == FIRM_SETTINGS:
            return firms.from_record(decoded.record)
        if decoded.schema_name == TRACKING_EVENT:
            acted_on = decoded.record["event_type"] in ACTED_ON
            return tracking.from_record(decoded.record) if acted_on else None
        if decoded.schema_name == RETURN_LIFECYCLE_EVENT:
            return ReturnFact(decoded.record)
        return None

    def _apply_one(self, record: Ingested) -> None:
        if isinstance(record, OwnEvent):  # applied when decided (or by the shard that owns it)
            self._core.metrics.ingested += 1
            self._core.metrics.ingest_skipped_own += 1
        elif isinstance(record, ClientEvent):
            self._fold(record)
        elif isinstance(record, FirmSettings):
            self._core.learn_firm_settings(record)
        elif isinstance(record, TrackingEvent):
            self._core.metrics.ingested += 1
            fold_touch(self._core.returns, record, self._core.firm)
        elif isinstance(record, ReturnFact):
            self._core.metrics.ingested += 1
            learn_lifecycle(self._core.returns, record.record)

    def _fold(self, event: ClientEvent) -> None:
        core = self._core
        core.metrics.ingested += 1
        if core.outbox.is_own_event(event.event_id):
            core.metrics.ingest_skipped_own += 1
            return
        row = core.store.client(event.client_id)
        if row is None and event.event_type not in ADDED:
            return  # a client this service never saw added
        # The worker's automatic invites and reminders (its timers) carry the id the rule
        # derives for its own outputs, which the rule then skips as read back: to this
        # adapter they are news, so they are folded without that link to their cause.
        news = replace(event, caused_by=None) if event.event_type in LINK_ISSUING else event
        try:
            state = core.fold(row.state if row else None, news)
        except Refused as exc:  # the worker dead-letters the same event with this reason
            log.info("ingest_rejected_event", event_type=event.event_type, reason=exc.message)
            return
        row = row or ClientRow(state=state, created_at=event.occurred_at)
        core.save(_with_contact_fields(replace(row, state=state), event))


@dataclass(frozen=True, slots=True)
class OwnEvent:
    """A record this service produced (its header names it); not decoded."""

    event_id: str


@dataclass(frozen=True, slots=True)
class ReturnFact:
    """A decoded return-lifecycle record."""

    record: dict[str, Any]


Ingested = ClientEvent | FirmSettings | TrackingEvent | ReturnFact | OwnEvent | None


def _own_event_id(message: Message) -> str | None:
    headers = message.headers()
    if not isinstance(headers, list):
        return None
    for name, value in headers:
        if name == EVENT_ID_HEADER and isinstance(value, bytes):
            return value.decode()
    return None


def _position(message: Message) -> tuple[str, int, int]:
    """Topic, partition and the offset to resume from after `message`."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None  # noqa: S101
    return topic, partition, offset + 1


def _with_contact_fields(row: ClientRow, event: ClientEvent) -> ClientRow:
    """Hashes and masks carried by another producer's event (its contact is not ours to seal)."""
    changes: dict[str, Any] = {}
    if event.email_hash is not None:
        changes |= {"email_hash": event.email_hash, "email_masked": event.email_masked}
    if event.phone_hash is not None:
        changes |= {"phone_hash": event.phone_hash, "phone_masked": event.phone_masked}
    return replace(row, **changes) if changes else row
