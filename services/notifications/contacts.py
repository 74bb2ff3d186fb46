"""The dispatcher's view of client-contacts: sealed contacts per client, opened only to send.

The compacted topic is read from its beginning at every start and followed afterwards; a
tombstone erases the client's contact. Contacts stay sealed in memory and are opened (with the
notification's firm bound as associated data) only for the message being sent.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from cryptography.exceptions import InvalidTag

from schemas.catalogue import CLIENT_CONTACT
from schemas.codec import AvroCodec
from schemas.errors import DeserializationError
from services.credentials import Contact, ContactSealer
from services.notifications.errors import ContactUnavailable
from services.notifications.requests import Notification

log = structlog.get_logger(__name__)
STAGE = "services.notifications.contacts"
_DRAIN_BATCH = 1000


class UnexpectedContactRecord(DeserializationError):
    """A client-contacts record that decodes but is not a ClientContact for its key."""


@dataclass(frozen=True, slots=True)
class SealedContact:
    """A contact as it is on the topic: sealed for (firm_id, client_id) with key `key_id`."""

    firm_id: str
    key_id: str
    sealed: bytes


class ContactBook:
    """Latest sealed contact per client; `version` moves on every change."""

    def __init__(self, master_key: bytes):
        self._master = master_key
        self._sealers: dict[str, ContactSealer] = {}
        self._contacts: dict[str, SealedContact] = {}
        self.version = 0

    def __len__(self) -> int:
        return len(self._contacts)

    def put(self, client_id: str, contact: SealedContact) -> None:
        self._contacts[client_id] = contact
        self.version += 1

    def erase(self, client_id: str) -> None:
        if self._contacts.pop(client_id, None) is not None:
            self.version += 1

    def contact_for(self, notification: Notification) -> Contact:
        """The opened contact of the notification's client; raises ContactUnavailable."""
        if notification.client_id is None:
            raise ContactUnavailable(
                "no client_id: recipients of a return have no contact on client-contacts",
                permanent=True,
            )
        stored = self._contacts.get(notification.client_id)
        if stored is None:
            raise ContactUnavailable("no contact for the client on client-contacts (yet)")
        if stored.firm_id != notification.firm_id:
            raise ContactUnavailable("the client's contact belongs to another firm", permanent=True)
        try:
            return self._sealer(stored.key_id).open(
                notification.firm_id, notification.client_id, stored.sealed
            )
        except (InvalidTag, ValueError) as exc:
            raise ContactUnavailable(
                f"the client's contact does not open with sealing key {stored.key_id!r}",
                permanent=True,
            ) from exc

    def _sealer(self, key_id: str) -> ContactSealer:
        if key_id not in self._sealers:
            self._sealers[key_id] = ContactSealer(self._master, key_id)
        return self._sealers[key_id]


def sealed_contact(key: bytes | None, record: dict[str, Any]) -> tuple[str, SealedContact]:
    """(client_id, sealed contact) of a decoded ClientContact; raises if it is not one."""
    client_id = record.get("client_id")
    if not client_id or (key is not None and key.decode(errors="replace") != client_id):
        raise UnexpectedContactRecord("ClientContact's client_id does not match its key")
    return client_id, SealedContact(record["firm_id"], record["key_id"], bytes(record["sealed"]))


Reject = Callable[[Message, str, BaseException], None]


class ContactsFeed:
    """Follows the client-contacts topic into a ContactBook (no consumer group commits)."""

    def __init__(
        self, bootstrap: str, topic: str, codec: AvroCodec, book: ContactBook, reject: Reject
    ):
        """`reject(message, stage, error)` keeps an unreadable record (dead-letter topic)."""
        self.book = book
        self._topic = topic
        self._codec = codec
        self._reject = reject
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"ctrack-contacts-view-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        self._partitions: list[int] = []

    def catch_up(self, timeout_s: float) -> bool:
        """Read every partition to its end; False if the deadline came first."""
        deadline = time.monotonic() + timeout_s
        while not self._assign() and time.monotonic() < deadline:
            time.sleep(0.2)  # a topic just created may not be in the metadata yet
        unread = set(self._partitions)
        while unread and time.monotonic() < deadline:
            for message in self._consumer.consume(_DRAIN_BATCH, timeout=0.2):
                if self._apply(message):
                    unread.discard(message.partition() or 0)
        if unread or not self._partitions:
            log.warning("contacts_catch_up_incomplete", partitions_unread=len(unread))
        return bool(self._partitions) and not unread

    def poll(self) -> int:
        """Apply what arrived since the last call, without waiting; returns records read."""
        if not self._partitions and not self._assign():
            return 0
        messages = self._consumer.consume(_DRAIN_BATCH, timeout=0)
        for message in messages:
            self._apply(message)
        return len(messages)

    def close(self) -> None:
        self._consumer.close()

    def _assign(self) -> bool:
        """Every partition from its beginning, once the topic's metadata names them."""
        topics = self._consumer.list_topics(self._topic, timeout=5).topics
        metadata = topics.get(self._topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return False
        self._partitions = sorted(metadata.partitions)
        self._consumer.assign(
            [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in self._partitions]
        )
        return True

    def _apply(self, message: Message) -> bool:
        """Apply one record; True when it marks the end of its partition."""
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return True
            log.error("contacts_consume_error", error=str(error))
            return False
        key, value = message.key(), message.value()
        if value is None:
            if key is not None:
                self.book.erase(key.decode(errors="replace"))
            return False
        try:
            decoded = self._codec.decode(value)
            if decoded.schema_name != CLIENT_CONTACT:
                raise UnexpectedContactRecord(f"{decoded.schema_name} on client-contacts")
            client_id, contact = sealed_contact(key, decoded.record)
        except DeserializationError as exc:
            self._reject(message, STAGE, exc)
            return False
        self.book.put(client_id, contact)
        return False
