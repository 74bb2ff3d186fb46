"""The dispatcher's loop: notifications in, messages out (at most once each), outcomes on topics.

Per record: decode (else dead letter) -> already in the ledger? (skip, or re-publish an
outcome not yet acknowledged, or report a send left in doubt) -> render -> contact (wait,
bounded, else dead letter) -> claim + provider call + settle -> delivery event. Offsets are
committed after the outcome records are acknowledged, and never past a waiting notification.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from ctrack.settings import KafkaSettings, NotificationSettings
from producers.event_producer import EventProducer
from schemas.catalogue import (
    CLIENT_CONTACTS,
    NOTIFICATION_REQUESTED,
    NOTIFICATIONS,
    TopicNames,
)
from schemas.codec import AvroCodec
from schemas.dead_letter import Rejected
from schemas.errors import DeserializationError
from services.notifications.compose import MessageSecrets, OutgoingMessage, address_for, content_of
from services.notifications.contacts import ContactBook, ContactsFeed
from services.notifications.errors import (
    ContactUnavailable,
    InvalidNotification,
    ProviderError,
    SendInDoubt,
)
from services.notifications.ledger import Replay, SendRecord, SendState, replay_of
from services.notifications.offsets import OffsetTracker
from services.notifications.outcomes import DispatchStats, Outcomes
from services.notifications.providers.local import masked_address
from services.notifications.requests import Notification, from_record
from services.notifications.sending import Deliverer
from services.notifications.waiting import Waiting, WaitingRoom, expired

log = structlog.get_logger(__name__)
CONSUME_BATCH = 100
POLL_TIMEOUT_S = 0.2
PROGRESS_EVERY_S = 10.0
CONTACTS_CATCH_UP_S = 60.0
MAX_WAITING = 10_000  # beyond this, stop reading new notifications until some resolve


class UnexpectedNotificationRecord(DeserializationError):
    """A record on the notifications topic that is not a NotificationRequested."""


@dataclass(frozen=True)
class DispatchClock:
    """Wall time (ledger, events) and a monotonic clock (waits), both replaceable in tests."""

    now: Callable[[], datetime]
    monotonic: Callable[[], float] = time.monotonic


class Dispatcher:
    """Consumes the notifications topic in its consumer group and follows client-contacts."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: NotificationSettings,
        codec: AvroCodec,
        producer: EventProducer,
        deliverer: Deliverer,
        secrets: MessageSecrets,
        master_key: bytes,
        clock: DispatchClock,
    ):
        """All parts come from the composition root (`services.notifications.bootstrap`)."""
        names = TopicNames(kafka.topic_prefix)
        self.stats = DispatchStats()
        self.topic = names.of(NOTIFICATIONS)
        self._settings = settings
        self._codec = codec
        self._deliverer = deliverer
        self._secrets = secrets
        self._clock = clock
        self._offsets = OffsetTracker()
        self._waiting = WaitingRoom()
        self._outcomes = Outcomes(producer, deliverer.ledger, clock.now, self.stats)
        self._paused = False
        self._contacts_seen = -1
        self._last_progress = clock.monotonic()
        self._last_summary: dict[str, Any] = {}
        self.contacts = ContactsFeed(
            kafka.bootstrap, names.of(CLIENT_CONTACTS), codec, ContactBook(master_key), self._reject
        )
        self._consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap,
                "group.id": f"{kafka.topic_prefix}-{settings.group_id}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
            }
        )

    def run(self, should_stop: Callable[[], bool]) -> DispatchStats:
        """Dispatch until `should_stop()`; commits what is settled, closes both consumers."""
        self.start()
        try:
            while not should_stop():
                self.step()
            self._checkpoint()
        finally:
            self.close()
        log.info("dispatch_summary", **self.summary())
        return self.stats

    def start(self) -> None:
        """Read client-contacts to its end, then join the consumer group of notifications."""
        self.contacts.catch_up(CONTACTS_CATCH_UP_S)
        log.info("dispatcher_started", topic=self.topic, contacts=len(self.contacts.book))
        self._consumer.subscribe([self.topic], on_revoke=self._on_revoke, on_lost=self._on_lost)

    def close(self) -> None:
        """Leave the group (uncommitted records are read again by the next owner)."""
        self._consumer.close()
        self.contacts.close()

    @property
    def waiting(self) -> int:
        """Notifications waiting for their client's contact."""
        return len(self._waiting)

    def step(self) -> None:
        """One round: follow contacts, retry waiting ones, read new notifications, commit."""
        self.contacts.poll()
        self._retry_waiting()
        self._throttle()
        for message in self._consumer.consume(CONSUME_BATCH, timeout=POLL_TIMEOUT_S):
            self._accept(message)
        self._checkpoint()
        self._progress()

    # -- one record ------------------------------------------------------------------------
    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.error("consume_error", error=str(error))
            return
        source = _rejected(message)
        self._offsets.read(source.source_partition, source.source_offset)
        try:
            decoded = self._codec.decode(source.payload)
            if decoded.schema_name != NOTIFICATION_REQUESTED:
                raise UnexpectedNotificationRecord(f"{decoded.schema_name} on {self.topic}")
            notification = from_record(decoded.record)
        except (DeserializationError, InvalidNotification, KeyError, ValueError) as exc:
            self._settle(source, dead_letter_error=exc)
            return
        existing = self._deliverer.ledger.get(notification.notification_id)
        if existing is not None:
            self._replay(notification, existing, source)
            self._settle(source)
            return
        deadline = self._clock.monotonic() + self._settings.contact_wait_s
        self._attempt(notification, source, deadline)

    def _attempt(self, notification: Notification, source: Rejected, deadline: float) -> None:
        """Render, resolve the address and send; or wait for the contact; or dead-letter."""
        try:
            content = content_of(notification, self._secrets)
            contact = self.contacts.book.contact_for(notification)
            to = address_for(notification.channel, contact)
        except InvalidNotification as exc:
            self._settle(source, dead_letter_error=exc)
            return
        except ContactUnavailable as exc:
            if exc.permanent or self._clock.monotonic() >= deadline:
                self._settle(source, dead_letter_error=exc)
            else:
                self._waiting.add(Waiting(notification, source, deadline, str(exc)))
            return
        self._send(OutgoingMessage(notification, to, content), source)
        self._settle(source)

    def _send(self, message: OutgoingMessage, source: Rejected) -> None:
        notification = message.notification
        settled = self._deliverer.deliver(message)
        if settled is None:  # the same id was claimed meanwhile (it appears twice on the topic)
            existing = self._deliverer.ledger.get(notification.notification_id)
            assert existing is not None  # noqa: S101 - a lost claim means the row exists
            self._replay(notification, existing, source)
            return
        fields = _log_fields(notification, settled)
        fields["to"] = masked_address(notification.channel, message.to)
        if settled.state is SendState.SENT:
            self.stats.sent += 1
            log.info("sent", **fields)
        else:
            self.stats.failed += 1
            log.warning("send_failed", reason=settled.reason, **fields)
            reason = settled.reason or "the provider did not take it"
            self._outcomes.dead_letter(source, ProviderError(reason))
        self._outcomes.delivery(notification, settled)

    def _replay(self, notification: Notification, existing: SendRecord, source: Rejected) -> None:
        """A notification already in the ledger: never sent again."""
        replay = replay_of(existing)
        if replay is Replay.IN_DOUBT:
            existing = self._deliverer.ledger.settle(
                notification.notification_id, SendState.IN_DOUBT, self._clock.now()
            )
            self.stats.in_doubt += 1
            log.error("send_in_doubt", **_log_fields(notification, existing))
        else:
            self.stats.skipped_duplicate += 1
            log.info("skipped_duplicate", **_log_fields(notification, existing))
            if replay is Replay.DUPLICATE:
                return
            self.stats.republished += 1
        if existing.state is SendState.IN_DOUBT:
            self._outcomes.dead_letter(source, SendInDoubt(_IN_DOUBT_REASON))
            self._outcomes.reports(notification.notification_id)
        else:
            self._outcomes.delivery(notification, existing)

    # -- waiting for contacts -----------------------------------------------------------------
    def _retry_waiting(self) -> None:
        """Try waiting ones again when contacts changed; dead-letter those past their deadline."""
        if not self._waiting:
            return
        contacts_changed = self.contacts.book.version != self._contacts_seen
        self._contacts_seen = self.contacts.book.version
        now = self._clock.monotonic()
        for waiting in list(self._waiting):
            if not contacts_changed and not expired(waiting, now):
                continue
            self._waiting.remove(waiting)
            self._attempt(waiting.notification, waiting.source, waiting.deadline)

    def _throttle(self) -> None:
        full = len(self._waiting) >= MAX_WAITING
        if full != self._paused:
            assignment = self._consumer.assignment()
            (self._consumer.pause if full else self._consumer.resume)(assignment)
            self._paused = full
            log.warning("intake_paused" if full else "intake_resumed", waiting=len(self._waiting))

    # -- outcomes ---------------------------------------------------------------------------
    def _settle(self, source: Rejected, dead_letter_error: BaseException | None = None) -> None:
        if dead_letter_error is not None:
            self._outcomes.dead_letter(source, dead_letter_error)
        self._offsets.settle(source.source_partition, source.source_offset)

    def _reject(self, message: Message, stage: str, error: BaseException) -> None:
        """Dead-letter a record of another topic (client-contacts)."""
        self._outcomes.dead_letter(_rejected(message), error, stage)

    def _checkpoint(self) -> None:
        """Outcome records acknowledged -> ledger marks them reported -> offsets committed."""
        self._outcomes.acknowledge()  # raises DeliveryError: then nothing is committed
        points = self._offsets.commit_points()
        if not points:
            return
        offsets = [TopicPartition(self.topic, p, offset) for p, offset in points.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            self._offsets.committed(points)
        except KafkaException as exc:  # e.g. partitions moved: their new owner re-reads them
            log.warning("commit_failed", error=str(exc))

    def _progress(self) -> None:
        """A progress line every PROGRESS_EVERY_S while something changes."""
        now = self._clock.monotonic()
        if now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        summary = self.summary()
        if summary != self._last_summary:
            self._last_summary = summary
            log.info("dispatch_progress", **summary)

    def summary(self) -> dict[str, Any]:
        """Counters, plus how many wait for a contact and how many contacts are known."""
        return asdict(self.stats) | {
            "waiting": len(self._waiting),
            "contacts": len(self.contacts.book),
        }

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            self._checkpoint()
            self._forget(partitions)

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget(partitions)

    def _forget(self, partitions: list[TopicPartition]) -> None:
        numbers = [tp.partition for tp in partitions if tp.topic == self.topic]
        dropped = self._waiting.forget(numbers)
        self._offsets.forget(numbers)
        if dropped:
            log.info("waiting_handed_over", partitions=len(numbers), notifications=dropped)


_IN_DOUBT_REASON = (
    "a previous dispatch stopped during the provider call: the message may have gone out, "
    "so it is not sent again (at most once); check with the provider"
)


def _rejected(message: Message) -> Rejected:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None  # noqa: S101
    return Rejected(topic, partition, offset, message.key(), message.value() or b"")


def _log_fields(notification: Notification, record: SendRecord) -> dict[str, Any]:
    return {
        "notification_id": notification.notification_id,
        "channel": notification.channel.value,
        "message_kind": notification.message_kind.value,
        "firm_id": notification.firm_id,
        "recipient": notification.recipient,
        "state": record.state.value,
        "provider": record.provider,
    }
