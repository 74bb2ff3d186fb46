"""What the dispatcher reports: delivery events and dead letters, acknowledged in batches.

`acknowledge` waits for Kafka to take every record published since the last call, then
marks their sends as reported in the ledger; only after that may offsets be committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from producers.event_producer import EventProducer
from schemas import dead_letter
from schemas.catalogue import DEAD_LETTER, DELIVERY_EVENT
from schemas.dead_letter import Rejected
from schemas.pii import redact
from services.notifications.delivery import delivery_record
from services.notifications.ledger import SendLedger, SendRecord
from services.notifications.requests import Notification

log = structlog.get_logger(__name__)
STAGE = "services.notifications"


@dataclass
class DispatchStats:
    """What the dispatcher did since it started."""

    sent: int = 0
    skipped_duplicate: int = 0
    failed: int = 0
    dead_lettered: int = 0
    in_doubt: int = 0
    republished: int = 0


class Outcomes:
    """Publishes outcome records with the process's producer and tracks their acknowledgement."""

    def __init__(
        self,
        producer: EventProducer,
        ledger: SendLedger,
        clock: Callable[[], datetime],
        stats: DispatchStats,
    ):
        self._producer = producer
        self._ledger = ledger
        self._clock = clock
        self._stats = stats
        self._unreported: list[str] = []
        self._published = False

    def delivery(self, notification: Notification, settled: SendRecord) -> None:
        """The delivery event of a settled send, keyed by message_id = notification_id."""
        record = delivery_record(notification, settled)
        self._producer.send_record(DELIVERY_EVENT, notification.notification_id, record)
        self.reports(notification.notification_id)

    def reports(self, notification_id: str) -> None:
        """What was just published settles this send's report once acknowledged."""
        self._unreported.append(notification_id)
        self._published = True

    def dead_letter(self, source: Rejected, error: BaseException, stage: str = STAGE) -> None:
        """Keep a record on the dead-letter topic with the reason (anything like PII redacted)."""
        record = dead_letter.dead_letter_record(
            source, stage=stage, error=error, failed_at=self._clock()
        )
        key = redact(source.key) if source.key else f"{source.source_topic}:{source.source_offset}"
        text_key = key.decode(errors="replace") if isinstance(key, bytes) else key
        self._producer.send_record(DEAD_LETTER, text_key, record)
        self._published = True
        self._stats.dead_lettered += 1
        log.warning(
            "dead_letter",
            stage=stage,
            error_type=record["error_type"],
            reason=record["reason"],
            topic=source.source_topic,
            partition=source.source_partition,
            offset=source.source_offset,
        )

    def acknowledge(self) -> None:
        """Wait until Kafka has every record published so far; raises DeliveryError if not."""
        if self._published:
            self._producer.flush()
            self._published = False
        if self._unreported:
            self._ledger.mark_reported(self._unreported)
            self._unreported.clear()
