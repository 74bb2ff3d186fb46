"""Composition root of the notification dispatcher: settings from the environment, wired."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ctrack.settings import (
    AuthSettings,
    KafkaSettings,
    NotificationSettings,
    PrivacySettings,
    SchemaRegistrySettings,
)
from ctrack.topic_admin import ensure_topics
from producers.event_producer import EventProducer
from schemas.catalogue import (
    CLIENT_CONTACTS,
    DEAD_LETTERS,
    DELIVERY,
    NOTIFICATIONS,
    TopicNames,
)
from schemas.codec import AvroCodec, build_codec
from schemas.pii import PiiHasher
from services.credentials import LinkTokens, OneTimeCodes
from services.notifications.compose import MessageSecrets
from services.notifications.dispatcher import DispatchClock, Dispatcher
from services.notifications.ledger import SendLedger
from services.notifications.outcomes import DispatchStats
from services.notifications.selection import build_senders
from services.notifications.sending import Deliverer

TOPICS = (NOTIFICATIONS, CLIENT_CONTACTS, DELIVERY, DEAD_LETTERS)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DispatcherConfig:
    """Everything the dispatcher reads from the environment; tests pass their own parts."""

    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    notify: NotificationSettings = field(default_factory=NotificationSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    codec: AvroCodec | None = None


def process_codec() -> AvroCodec:
    registry = SchemaRegistrySettings()
    auth = registry.basic_auth.get_secret_value() if registry.basic_auth else None
    return build_codec(registry.url, auth)


def run_dispatcher(
    should_stop: Callable[[], bool],
    config: DispatcherConfig | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    announce: Callable[[str], None] | None = None,
) -> DispatchStats:
    """Dispatch notifications until `should_stop()` (checked a few times a second).

    Args:
        should_stop: e.g. `threading.Event().is_set`; the demo and e2e tests run this in a
            thread or process.
        config: settings and codec (default: from the environment).
        clock: wall time for the ledger, outbox files and delivery events (UTC).
        announce: where the local provider prints its one-line summaries (default stdout).
    """
    with open_dispatcher(config, clock=clock, announce=announce) as dispatcher:
        return dispatcher.run(should_stop)


@contextmanager
def open_dispatcher(
    config: DispatcherConfig | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    announce: Callable[[str], None] | None = None,
    create_topics: bool = True,
) -> Iterator[Dispatcher]:
    """A wired dispatcher, not yet started (`run`, or `start` + `step` + `close` by hand);
    on exit its producer is flushed and the providers and ledger are closed.

    Args:
        config: settings and codec (default: from the environment).
        clock: wall time (UTC); monotonic: the clock of contact waits (tests move it).
        announce: where the local provider prints its one-line summaries (default stdout).
        create_topics: create the topics it reads and writes if missing (idempotent).
    """
    config = config or DispatcherConfig()
    kafka, notify = config.kafka, config.notify
    if create_topics:
        names = TopicNames(kafka.topic_prefix)
        ensure_topics(kafka.bootstrap, names, kafka.replication_factor, specs=TOPICS)
    codec = config.codec or process_codec()
    master_key = config.auth.master_key()
    secrets = MessageSecrets(
        LinkTokens(master_key),
        OneTimeCodes(master_key, config.auth.otp_digits),
        config.auth.public_url,
        config.auth.otp_validity_s,
    )
    senders = build_senders(notify, clock, announce)
    ledger = SendLedger(notify.ledger_path)
    try:
        deliverer = Deliverer(
            ledger,
            senders,
            PiiHasher(config.privacy.hash_key()),
            clock,
            attempts=notify.send_attempts,
            backoff_s=notify.retry_backoff_s,
        )
        with EventProducer(kafka, codec) as producer:
            yield Dispatcher(
                kafka,
                notify,
                codec,
                producer,
                deliverer,
                secrets,
                master_key,
                DispatchClock(clock, monotonic),
            )
    finally:
        senders.close()
        ledger.close()
