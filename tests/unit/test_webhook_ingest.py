"""The ingest shell with a stand-in producer: all-or-nothing, dedupe, dead letters, failures."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from ctrack.settings import WebhookSettings
from producers.event_producer import DeliveryStats
from schemas.catalogue import DEAD_LETTER, DELIVERY_EVENT
from schemas.pii import PiiHasher
from services.webhooks.dedupe import RecentEventIds
from services.webhooks.errors import (
    MalformedPayload,
    NotConfigured,
    PayloadTooLarge,
    PublishFailed,
    Unsigned,
)
from services.webhooks.ingest import DEAD_LETTER_PAYLOAD_MAX, ReceivedBody, WebhookIngest
from services.webhooks.signatures import SENDGRID_SIGNATURE_HEADER, SENDGRID_TIMESTAMP_HEADER

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
IDS = {"message_id": "M-1", "firm_id": "F-1", "message_kind": "OTHER"}


class FakeProducer:
    """Acknowledges everything on flush, unless told the broker is down."""

    def __init__(self, broker_down: bool = False):
        self.stats = DeliveryStats()
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self._pending = 0
        self._broker_down = broker_down

    def send_record(self, schema_name: str, key: str, record: dict[str, Any]) -> None:
        self.sent.append((schema_name, key, record))
        self.stats.sent += 1
        self._pending += 1

    def flush(self, timeout_s: float = 60.0) -> None:
        if self._broker_down:
            self.stats.failed += self._pending
        else:
            self.stats.delivered += self._pending
        self._pending = 0


def ingest(producer: FakeProducer, **settings: Any) -> WebhookIngest:
    config = WebhookSettings(sendgrid_public_key=PUBLIC_KEY, **settings)
    return WebhookIngest(producer, config, PiiHasher(b"unit-test-pii-key-0123456789"), lambda: NOW)


def batch(*sg_event_ids: str, **override: Any) -> bytes:
    return json.dumps(
        [
            {"email": "jane@example.com", "timestamp": 1772442000, "event": "delivered"}
            | {"sg_event_id": sg_event_id, **IDS, **override}
            for sg_event_id in sg_event_ids
        ]
    ).encode()


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(NOW.timestamp()))
    signature = KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SENDGRID_SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        SENDGRID_TIMESTAMP_HEADER: timestamp,
    }


def post(target: WebhookIngest, body: bytes, complete: bool = True) -> Any:
    return target.sendgrid(signed(body), ReceivedBody(body, complete))


def test_a_redelivered_batch_is_not_published_again() -> None:
    producer = FakeProducer()
    target = ingest(producer)
    first = post(target, batch("a", "b"))
    again = post(target, batch("b", "c", "c"))
    assert (first.published, first.duplicates) == (2, 0)
    assert (again.records, again.published, again.duplicates) == (3, 1, 2)
    assert [record["provider_event_id"] for _, _, record in producer.sent] == ["a", "b", "c"]
    assert {key for _, key, _ in producer.sent} == {"M-1"}


def test_one_bad_event_rejects_the_batch_and_only_the_dead_letter_is_sent() -> None:
    producer = FakeProducer()
    body = batch("a")[:-1] + b", " + batch("b", firm_id=None)[1:]
    with pytest.raises(MalformedPayload, match="event 1"):
        post(ingest(producer), body)
    [(schema, key, record)] = producer.sent
    assert (schema, key) == (DEAD_LETTER, "/webhooks/sendgrid")
    assert record["stage"] == "services.webhooks.sendgrid"
    assert record["source_topic"] == "/webhooks/sendgrid"
    assert (record["source_partition"], record["source_offset"]) == (-1, -1)
    assert b"jane@example.com" not in record["payload"]
    assert b"[redacted email address]" in record["payload"]


def test_dead_letters_of_different_bodies_have_different_ids_and_a_retry_the_same() -> None:
    producer = FakeProducer()
    target = ingest(producer)
    for body in (b"[", b"{", b"["):
        with pytest.raises(MalformedPayload):
            post(target, body)
    ids = [record["dead_letter_id"] for _, _, record in producer.sent]
    assert ids[0] == ids[2] != ids[1]


def test_an_oversized_body_keeps_only_a_redacted_prefix_without_a_cut_address() -> None:
    producer = FakeProducer()
    body = b'[{"email": "jane@example.com"}, ' * 20_000
    with pytest.raises(PayloadTooLarge):
        post(ingest(producer, max_body_bytes=len(body) - 7), body[:-7], complete=False)
    [(_, _, record)] = producer.sent
    assert len(record["payload"]) <= DEAD_LETTER_PAYLOAD_MAX
    assert b"jane" not in record["payload"] and b"@" not in record["payload"]
    assert "only the first" in record["reason"]


def test_an_unsigned_batch_is_dead_lettered_and_nothing_else() -> None:
    producer = FakeProducer()
    with pytest.raises(Unsigned):
        ingest(producer).sendgrid({}, ReceivedBody(batch("a"), True))
    assert [schema for schema, _, _ in producer.sent] == [DEAD_LETTER]


def test_unacknowledged_records_fail_the_request_and_are_not_remembered() -> None:
    producer = FakeProducer(broker_down=True)
    target = ingest(producer)
    with pytest.raises(PublishFailed):
        post(target, batch("a"))
    producer._broker_down = False
    assert post(target, batch("a")).published == 1  # the retry is published, not skipped
    assert [schema for schema, _, _ in producer.sent] == [DELIVERY_EVENT, DELIVERY_EVENT]


def test_an_endpoint_without_its_secret_refuses_to_guess() -> None:
    producer = FakeProducer()
    target = WebhookIngest(
        producer, WebhookSettings(), PiiHasher(b"unit-test-pii-key-0123456789"), lambda: NOW
    )
    with pytest.raises(NotConfigured):
        target.sendgrid(signed(b"[]"), ReceivedBody(b"[]", True))
    with pytest.raises(NotConfigured):
        target.twilio("https://x/webhooks/twilio", [], {}, ReceivedBody(b"", True))
    assert producer.sent == []
    assert WebhookSettings(twilio_auth_token=SecretStr("t")).twilio_auth_token is not None


def test_recent_ids_forget_the_oldest_first() -> None:
    recent = RecentEventIds(capacity=2)
    recent.remember(["a", "b", "c"])  # type: ignore[list-item]  # any hashable will do here
    assert ("a" in recent, "b" in recent, "c" in recent, len(recent)) == (False, True, True, 2)
