"""Twilio SMS status callbacks to delivery records: statuses, ids, numbers never kept."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest

from schemas.catalogue import DELIVERY_EVENT
from schemas.codec import AvroCodec
from schemas.pii import PiiHasher
from services.webhooks.errors import MalformedPayload
from services.webhooks.twilio import callback_url, map_callback, parse_form, redact_form

HASHER = PiiHasher(b"unit-test-pii-key-0123456789")
RECEIVED = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
QUERY = [
    ("message_id", "M-1"),
    ("firm_id", "F-1"),
    ("client_id", "C-1"),
    ("message_kind", "OTP_SMS"),
]


def callback(status: str, **extra: str) -> list[tuple[str, str]]:
    """A status callback's form, as Twilio posts it."""
    form = {
        "SmsSid": "SM0123456789abcdef0123456789abcdef",
        "SmsStatus": status,
        "MessageStatus": status,
        "To": "+15558675310",
        "MessageSid": "SM0123456789abcdef0123456789abcdef",
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": "+15017122661",
        "ApiVersion": "2010-04-01",
    }
    return list((form | extra).items())


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("queued", "QUEUED"),
        ("sending", "SENDING"),
        ("sent", "SENT"),
        ("delivered", "DELIVERED"),
        ("undelivered", "UNDELIVERED"),
        ("failed", "FAILED"),
        ("read", "UNKNOWN"),  # a status Twilio may add later is kept, not refused
    ],
)
def test_each_message_status_maps_to_a_delivery_status(status: str, expected: str) -> None:
    outgoing = map_callback(callback(status), QUERY, HASHER, RECEIVED)
    assert outgoing.schema_name == DELIVERY_EVENT
    assert outgoing.key == "M-1"
    assert outgoing.record["status"] == expected
    assert outgoing.record["provider_event_id"] == f"SM0123456789abcdef0123456789abcdef:{status}"


def test_record_carries_our_ids_a_hash_of_to_and_the_error_code() -> None:
    form = callback("undelivered", ErrorCode="30003", RawDlrDoneDate="2603020905")
    record = map_callback(form, QUERY, HASHER, RECEIVED).record
    assert record["recipient_hash"] == HASHER.phone("+1 555 867 5310")
    assert (record["error_code"], record["channel"], record["provider"]) == (
        "30003",
        "SMS",
        "TWILIO",
    )
    assert (record["message_id"], record["firm_id"], record["client_id"]) == ("M-1", "F-1", "C-1")
    assert record["occurred_at"] == record["received_at"] == RECEIVED
    assert "5558675310" not in repr(record) and "5017122661" not in repr(record)
    AvroCodec().encode(DELIVERY_EVENT, record, topic="t")


def test_same_sid_and_status_is_the_same_event() -> None:
    first = map_callback(callback("delivered"), QUERY, HASHER, RECEIVED)
    again = map_callback(callback("delivered", Extra="1"), QUERY, HASHER, datetime.now(UTC))
    sent = map_callback(callback("sent"), QUERY, HASHER, RECEIVED)
    assert first.event_id == again.event_id != sent.event_id


@pytest.mark.parametrize(
    ("form", "query", "reason"),
    [
        (callback("delivered")[1:4], QUERY, "'MessageSid'"),
        ([("MessageSid", "SM1")], QUERY, "'MessageStatus'"),
        (callback("delivered"), QUERY[1:], "'message_id'"),
        (callback("delivered"), [*QUERY[:3], ("message_kind", "PIGEON")], "MessageKind"),
        (callback("delivered"), [*QUERY, ("return_id", "+15558675310")], "phone number"),
    ],
)
def test_a_callback_without_our_ids_is_refused(
    form: list[tuple[str, str]], query: list[tuple[str, str]], reason: str
) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        map_callback(form, query, HASHER, RECEIVED)


def test_form_parsing_keeps_blank_values_and_refuses_junk() -> None:
    assert parse_form(b"ErrorCode=&To=%2B15558675310") == [
        ("ErrorCode", ""),
        ("To", "+15558675310"),
    ]
    with pytest.raises(MalformedPayload):
        parse_form(b"\xff\xfe")
    with pytest.raises(MalformedPayload):
        parse_form(b"just text")


def test_a_rejected_form_is_kept_with_numbers_redacted_even_when_percent_encoded() -> None:
    kept = redact_form(b"To=%2B15558675310&From=%2B15017122661&MessageSid=SM1")
    assert dict(parse_qsl(kept.decode())) == {
        "To": "[redacted phone number]",
        "From": "[redacted phone number]",
        "MessageSid": "SM1",
    }


@pytest.mark.parametrize(
    ("public", "expected"),
    [
        (None, "http://10.0.0.5:8090/webhooks/twilio?message_id=M-1"),
        ("https://hooks.example.com", "https://hooks.example.com/webhooks/twilio?message_id=M-1"),
        ("https://hooks.example.com/", "https://hooks.example.com/webhooks/twilio?message_id=M-1"),
    ],
)
def test_the_signed_url_is_the_public_one(public: str | None, expected: str) -> None:
    seen = "http://10.0.0.5:8090/webhooks/twilio?message_id=M-1"
    assert callback_url(public, seen, "/webhooks/twilio", "message_id=M-1") == expected
