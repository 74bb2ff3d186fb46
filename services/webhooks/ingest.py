"""The imperative shell of the webhooks: verify, map, publish and flush, or dead-letter.

Routes call `WebhookIngest.sendgrid` / `.twilio`; everything they decide is in the pure
modules (`signatures`, `sendgrid`, `twilio`). A request is answered 2xx only once Kafka
acknowledged every record it produced; a rejected one is kept on the dead-letter topic first
(if even that fails, the answer is 503, so the provider retries rather than the body being lost).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from threading import Lock
from typing import Any, Protocol
from uuid import UUID

import structlog

from ctrack.settings import WebhookSettings
from producers.errors import DeliveryError
from producers.event_producer import DeliveryStats
from schemas import dead_letter
from schemas.pii import PiiHasher, redact
from services.webhooks import sendgrid, twilio
from services.webhooks.dedupe import RecentEventIds
from services.webhooks.errors import NotConfigured, PayloadTooLarge, PublishFailed, RejectedRequest
from services.webhooks.records import Outgoing
from services.webhooks.signatures import load_sendgrid_key, verify_sendgrid, verify_twilio

log = structlog.get_logger(__name__)

# librdkafka refuses messages over ~1 MB by default: keep at most this much of a rejected body.
DEAD_LETTER_PAYLOAD_MAX = 256 * 1024
_TOKEN_DELIMITERS = b'",&\n '


class Publisher(Protocol):
    """The slice of `EventProducer` the ingest uses."""

    stats: DeliveryStats

    def send_record(self, schema_name: str, key: str, record: dict[str, Any]) -> None: ...

    def flush(self, timeout_s: float = 60.0) -> None: ...


@dataclass(frozen=True, slots=True)
class ReceivedBody:
    """A request body read up to the limit; `complete` is False when it went past it."""

    data: bytes
    complete: bool


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an accepted request yielded: records mapped, newly published, skipped as seen."""

    records: int
    published: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a request came in, the stage that rejects it, and how its body is made keepable."""

    path: str
    stage: str
    redact_payload: Callable[[bytes], bytes]


SENDGRID = Endpoint("/webhooks/sendgrid", "services.webhooks.sendgrid", redact)
TWILIO = Endpoint("/webhooks/twilio", "services.webhooks.twilio", twilio.redact_form)


class WebhookIngest:
    """One per process: holds the verification secrets, the dedupe memory and the publisher."""

    def __init__(
        self,
        publisher: Publisher,
        settings: WebhookSettings,
        hasher: PiiHasher,
        clock: Callable[[], datetime],
    ):
        self._publisher = publisher
        self._settings = settings
        self._hasher = hasher
        self._clock = clock
        public_key = settings.sendgrid_public_key
        self._sendgrid_key = load_sendgrid_key(public_key) if public_key else None
        token = settings.twilio_auth_token
        self._twilio_token = token.get_secret_value() if token else None
        self._recent = RecentEventIds(settings.dedupe_cache_size)
        self._send_lock = Lock()

    def sendgrid(self, headers: Mapping[str, str], body: ReceivedBody) -> Accepted:
        """Verify and publish one SendGrid batch, all of it or none of it."""
        now, key = self._clock(), self._sendgrid_key
        if key is None:
            raise NotConfigured("SendGrid webhook verification key is not configured")

        def check(data: bytes) -> Sequence[Outgoing]:
            tolerance_s = self._settings.timestamp_tolerance_s
            verify_sendgrid(key, headers, data, now=now, tolerance_s=tolerance_s)
            return sendgrid.map_batch(data, self._hasher, now)

        return self._publish(SENDGRID, self._checked(SENDGRID, body, now, check))

    def twilio(
        self, url: str, query: twilio.Params, headers: Mapping[str, str], body: ReceivedBody
    ) -> Accepted:
        """Verify and publish one Twilio status callback; `url` is the full URL Twilio signed."""
        now, token = self._clock(), self._twilio_token
        if token is None:
            raise NotConfigured("Twilio auth token is not configured")

        def check(data: bytes) -> Sequence[Outgoing]:
            form = twilio.parse_form(data)
            verify_twilio(token, url, form, headers)
            return (twilio.map_callback(form, query, self._hasher, now),)

        return self._publish(TWILIO, self._checked(TWILIO, body, now, check))

    def _checked(
        self,
        endpoint: Endpoint,
        body: ReceivedBody,
        now: datetime,
        check: Callable[[bytes], Sequence[Outgoing]],
    ) -> Sequence[Outgoing]:
        try:
            if not body.complete:
                limit = self._settings.max_body_bytes
                raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
            return check(body.data)
        except RejectedRequest as exc:
            log.warning(
                "webhook rejected",
                endpoint=endpoint.path,
                status=exc.status_code,
                error_type=type(exc).__name__,
                reason=str(exc),
            )
            self._send([_dead_letter(endpoint, body, exc, now)])
            raise

    def _publish(self, endpoint: Endpoint, outgoing: Sequence[Outgoing]) -> Accepted:
        unique = {item.event_id: item for item in outgoing}  # a batch may repeat an event
        fresh = [item for event_id, item in unique.items() if event_id not in self._recent]
        self._send(fresh)
        self._recent.remember(item.event_id for item in fresh)
        accepted = Accepted(len(outgoing), len(fresh), len(outgoing) - len(fresh))
        log.info("webhook accepted", endpoint=endpoint.path, **asdict(accepted))
        return accepted

    def _send(self, outgoing: Sequence[Outgoing]) -> None:
        """Produce and wait until Kafka acknowledged exactly these records, else PublishFailed."""
        if not outgoing:
            return
        timeout_s = self._settings.flush_timeout_s
        with self._send_lock:  # so the delivery counts below are this request's own
            stats = self._publisher.stats
            delivered, failed = stats.delivered, stats.failed
            # Judged by this request's own delivery counts rather than by what flush raises,
            # which may also report failures of records sent before.
            with suppress(DeliveryError):
                for item in outgoing:
                    self._publisher.send_record(item.schema_name, item.key, item.record)
                self._publisher.flush(timeout_s)
            if stats.failed > failed or stats.delivered - delivered < len(outgoing):
                raise PublishFailed("Kafka did not acknowledge every record; please retry")


def _dead_letter(
    endpoint: Endpoint, body: ReceivedBody, error: RejectedRequest, now: datetime
) -> Outgoing:
    """The DeadLetter record of a rejected request, redacted and small enough to produce."""
    payload = endpoint.redact_payload(body.data)
    truncated = not body.complete or len(payload) > DEAD_LETTER_PAYLOAD_MAX
    if truncated:
        payload = _cut_to_token(payload[:DEAD_LETTER_PAYLOAD_MAX])
    # Named after the whole body (the payload kept may be redacted and cut): a retried request
    # yields the same id, any other request its own.
    identity = f"{type(error).__name__}:{hashlib.sha256(body.data).hexdigest()}"
    rejected = dead_letter.Rejected(endpoint.path, -1, -1, None, payload, identity=identity)
    record = dead_letter.dead_letter_record(
        rejected, stage=endpoint.stage, error=error, failed_at=now
    )
    if truncated:
        record["reason"] += f" (only the first {len(payload)} bytes of the body are kept)"
    return Outgoing(UUID(record["dead_letter_id"]), dead_letter.SCHEMA_NAME, endpoint.path, record)


def _cut_to_token(payload: bytes) -> bytes:
    """Drop a trailing partial token: a cut-off address is no longer one redaction recognises."""
    cut = max(payload.rfind(bytes([byte])) for byte in _TOKEN_DELIMITERS)
    return payload[: cut + 1] if cut >= 0 else b""
