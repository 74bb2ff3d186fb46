"""Provider webhooks through the HTTP app to the real broker: once each, or dead-lettered."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ctrack.settings import KafkaSettings, PrivacySettings, WebhookSettings
from schemas.catalogue import DEAD_LETTERS, DELIVERY, TRACKING, TopicNames
from schemas.codec import AvroCodec
from schemas.pii import PiiHasher
from services.webhooks.bootstrap import build_app
from services.webhooks.signatures import twilio_signature
from tests.integration.kafka_helpers import consume_until

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PII_KEY = "integration-test-pii-key-0123456789"
TOKEN = "integration-test-twilio-token"  # noqa: S105 - a test token
PUBLIC_URL = "https://hooks.example.test"
EMAIL = "jane.doe@example.com"
PHONE = "+15558675310"
SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def client(kafka: KafkaSettings) -> Iterator[TestClient]:
    public_key = SIGNING_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = WebhookSettings(
        sendgrid_public_key=base64.b64encode(public_key).decode(),
        twilio_auth_token=SecretStr(TOKEN),
        public_url=PUBLIC_URL,
    )
    privacy = PrivacySettings(pii_hash_key=SecretStr(PII_KEY))
    app = build_app(webhooks=settings, kafka=kafka, privacy=privacy, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def sg_event(event: str, return_id: str, **fields: Any) -> dict[str, Any]:
    """One event as SendGrid posts it, our custom args at its top level."""
    return {
        "email": EMAIL,
        "timestamp": int(NOW.timestamp()) - 60,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event,
        "category": ["initial-email"],
        "sg_event_id": f"{event}-{uuid.uuid4().hex}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "message_id": f"M-{return_id}",
        "firm_id": "F-1",
        "message_kind": "INITIAL_EMAIL",
        "return_id": return_id,
        "client_id": "C-1",
        "recipient_role": "TAXPAYER",
        **fields,
    }


def sendgrid_headers(body: bytes, signed_at: datetime = NOW) -> dict[str, str]:
    timestamp = str(int(signed_at.timestamp()))
    signature = SIGNING_KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def post_sendgrid(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/webhooks/sendgrid",
        content=body,
        headers=sendgrid_headers(body) if headers is None else headers,
    )


def twilio_form(status: str, sid: str, **extra: str) -> dict[str, str]:
    """A status callback's form, as Twilio posts it."""
    return {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": PHONE,
        "MessageSid": sid,
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": "+15017122661",
        "ApiVersion": "2010-04-01",
        **extra,
    }


QUERY = urlencode(
    {"message_id": "M-sms", "firm_id": "F-1", "client_id": "C-1", "message_kind": "OTP_SMS"}
)


def post_twilio(client: TestClient, form: dict[str, str], signature: str | None = "sign") -> Any:
    path = f"/webhooks/twilio?{QUERY}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = twilio_signature(TOKEN, PUBLIC_URL + path, list(form.items()))
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, content=urlencode(form).encode(), headers=headers)


def topic_size(bootstrap: str, topic: str, timeout_s: float = 30.0) -> int:
    """Records in a fresh topic: the sum of its partitions' high watermarks.

    A young broker may answer NOT_LEADER while leadership settles: ask again until the deadline.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"size-{uuid.uuid4().hex}"})
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
                return sum(
                    consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in partitions
                )
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
    finally:
        consumer.close()


def decoded(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, dict[str, Any], bytes]]:
    codec = AvroCodec()
    messages = consume_until(bootstrap, topic, lambda ms: len(ms) >= count)
    return [
        (m.key() or b"", codec.decode(m.value() or b"").record, m.value() or b"") for m in messages
    ]


def test_a_sendgrid_batch_is_published_once_even_when_redelivered(
    client: TestClient, kafka: KafkaSettings
) -> None:
    topics, return_id = TopicNames(kafka.topic_prefix), f"R-{uuid.uuid4().hex}"
    events = [
        sg_event("processed", return_id),
        sg_event("delivered", return_id, response="250 OK"),
        sg_event("open", return_id, sg_machine_open=True, useragent="Mozilla/5.0"),
        sg_event("open", return_id, sg_machine_open=False, useragent="Mozilla/5.0"),
        sg_event(
            "bounce",
            return_id,
            type="bounce",
            bounce_classification="Invalid Address",
            status="5.1.1",
            reason=f"550 5.1.1 <{EMAIL}>: Recipient address rejected",
        ),
    ]
    body = json.dumps(events).encode()

    first, again = post_sendgrid(client, body), post_sendgrid(client, body)

    assert (first.status_code, first.json()) == (
        200,
        {"records": 9, "published": 9, "duplicates": 0},
    )
    assert (again.status_code, again.json()) == (
        200,
        {"records": 9, "published": 0, "duplicates": 9},
    )
    delivery_topic, tracking_topic = topics.of(DELIVERY), topics.of(TRACKING)
    deliveries = decoded(kafka.bootstrap, delivery_topic, 5)
    tracked = decoded(kafka.bootstrap, tracking_topic, 4)
    # Acknowledged before the 200, so the topics hold exactly this much, nothing more to come.
    assert topic_size(kafka.bootstrap, delivery_topic) == 5
    assert topic_size(kafka.bootstrap, tracking_topic) == 4
    assert sorted(r["provider_event_id"] for _, r, _ in deliveries) == sorted(
        e["sg_event_id"] for e in events
    )
    assert {key for key, _, _ in deliveries} == {f"M-{return_id}".encode()}
    hasher = PiiHasher(PII_KEY.encode())
    assert {r["recipient_hash"] for _, r, _ in deliveries} == {hasher.email(EMAIL)}
    assert sorted(r["event_type"] for _, r, _ in tracked) == [
        "INITIAL_EMAIL_BOUNCED",
        "INITIAL_EMAIL_DELIVERED",
        "INITIAL_EMAIL_OPENED",
        "INITIAL_EMAIL_PROCESSED",
    ]
    assert {key for key, _, _ in tracked} == {return_id.encode()}
    assert all(EMAIL.encode() not in raw for _, _, raw in deliveries + tracked)


def test_twilio_callbacks_are_published_once_with_only_a_hash_of_the_number(
    client: TestClient, kafka: KafkaSettings
) -> None:
    topics, sid = TopicNames(kafka.topic_prefix), f"SM{uuid.uuid4().hex}"
    responses = [
        post_twilio(client, twilio_form("sent", sid)),
        post_twilio(client, twilio_form("delivered", sid, RawDlrDoneDate="2603020900")),
        post_twilio(client, twilio_form("delivered", sid, RawDlrDoneDate="2603020900")),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.json()["published"] for r in responses] == [1, 1, 0]
    deliveries = decoded(kafka.bootstrap, topics.of(DELIVERY), 2)
    assert topic_size(kafka.bootstrap, topics.of(DELIVERY)) == 2
    assert sorted(r["status"] for _, r, _ in deliveries) == ["DELIVERED", "SENT"]
    assert {key for key, _, _ in deliveries} == {b"M-sms"}
    hasher = PiiHasher(PII_KEY.encode())
    assert {r["recipient_hash"] for _, r, _ in deliveries} == {hasher.phone(PHONE)}
    assert all(b"5558675310" not in raw and b"5017122661" not in raw for *_, raw in deliveries)


def test_bad_requests_get_a_4xx_and_are_kept_on_the_dead_letter_topic(
    client: TestClient, kafka: KafkaSettings
) -> None:
    topics, return_id = TopicNames(kafka.topic_prefix), f"R-{uuid.uuid4().hex}"
    valid = json.dumps([sg_event("delivered", return_id)]).encode()
    mixed = json.dumps(
        [sg_event("delivered", return_id), sg_event("open", return_id, firm_id=None)]
    )
    stale_at = datetime.fromtimestamp(NOW.timestamp() - 301, UTC)
    oversized = b"[" + b" " * (1024 * 1024) + b"]"
    form = twilio_form("delivered", f"SM{uuid.uuid4().hex}")
    cases = [
        ("sendgrid", post_sendgrid(client, valid, {}), 401, "missing X-Twilio-Email"),
        ("sendgrid", post_sendgrid(client, valid, sendgrid_headers(b"[]")), 403, "does not verify"),
        ("sendgrid", post_sendgrid(client, valid, sendgrid_headers(valid, stale_at)), 403, "301s"),
        ("sendgrid", post_sendgrid(client, b'[{"event": "deliv'), 400, "not valid JSON"),
        ("sendgrid", post_sendgrid(client, b'{"event": "delivered"}'), 400, "JSON array"),
        ("sendgrid", post_sendgrid(client, mixed.encode()), 400, "event 1: missing"),
        ("sendgrid", post_sendgrid(client, oversized), 413, "over the limit of 1048576"),
        ("twilio", post_twilio(client, form, signature=None), 401, "missing X-Twilio-Signature"),
        ("twilio", post_twilio(client, form, signature="bm9wZQ=="), 403, "does not verify"),
        ("twilio", post_twilio(client, {"MessageStatus": "sent"}), 400, "'MessageSid'"),
    ]

    assert [(r.status_code, reason in r.json()["detail"]) for _, r, _, reason in cases] == [
        (status, True) for _, _, status, _ in cases
    ]
    letters = decoded(kafka.bootstrap, topics.of(DEAD_LETTERS), len(cases))
    kept = sorted((r["stage"], r["reason"].split(" (only the first")[0]) for _, r, _ in letters)
    assert kept == sorted(
        (f"services.webhooks.{endpoint}", response.json()["detail"])
        for endpoint, response, _, _ in cases
    )
    assert len(letters) == len(cases)
    assert {r["source_topic"] for _, r, _ in letters} == {"/webhooks/sendgrid", "/webhooks/twilio"}
    assert {(r["source_partition"], r["source_offset"]) for _, r, _ in letters} == {(-1, -1)}
    assert all(EMAIL.encode() not in r["payload"] for _, r, _ in letters)
    assert all(b"5558675310" not in r["payload"] for _, r, _ in letters)
    assert topic_size(kafka.bootstrap, topics.of(DELIVERY)) == 0  # the valid half of `mixed` too
    assert topic_size(kafka.bootstrap, topics.of(TRACKING)) == 0
