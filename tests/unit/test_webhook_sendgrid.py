"""SendGrid events to delivery and Client Tracking records: the mapping table, ids, privacy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from schemas.catalogue import DELIVERY_EVENT, TRACKING_EVENT
from schemas.codec import AvroCodec
from schemas.pii import PiiHasher
from services.webhooks.errors import MalformedPayload
from services.webhooks.sendgrid import map_batch

HASHER = PiiHasher(b"unit-test-pii-key-0123456789")
RECEIVED = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
EMAIL = "Jane.Doe@example.com"
OUR_IDS = {
    "message_id": "M-1",
    "firm_id": "F-1",
    "message_kind": "INITIAL_EMAIL",
    "return_id": "R-1",
    "client_id": "C-1",
    "recipient_role": "SPOUSE",
}


def sg_event(
    event: str, sg_event_id: str | None = "ZGVsaXZlcmVk-0", **fields: Any
) -> dict[str, Any]:
    """One event as SendGrid posts it: its fields, with our custom args at the top level."""
    return {
        "email": EMAIL,
        "timestamp": 1772442000,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": event,
        "category": ["initial-email"],
        "sg_event_id": sg_event_id,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **OUR_IDS,
        **fields,
    }


def mapped(*events: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o.schema_name, o.record) for o in map_batch(json.dumps(events).encode(), HASHER, RECEIVED)
    ]


@pytest.mark.parametrize(
    ("event", "status", "tracking"),
    [
        (sg_event("processed"), "PROCESSED", "INITIAL_EMAIL_PROCESSED"),
        (sg_event("delivered", response="250 OK"), "DELIVERED", "INITIAL_EMAIL_DELIVERED"),
        (sg_event("open", sg_machine_open=False), "OPEN", "INITIAL_EMAIL_OPENED"),
        (sg_event("open", sg_machine_open=True), "OPEN", None),
        (sg_event("bounce", type="bounce", status="5.1.1"), "BOUNCE", "INITIAL_EMAIL_BOUNCED"),
        (sg_event("bounce", type="blocked", status="4.0.0"), "BOUNCE", "INITIAL_EMAIL_BOUNCED"),
        (sg_event("dropped", reason="Bounced Address"), "DROPPED", "INITIAL_EMAIL_BOUNCED"),
        (sg_event("deferred", response="400 try later", attempt="5"), "DEFERRED", None),
        (sg_event("click", url="https://portal.example/x"), "CLICK", None),
        (sg_event("spamreport"), "SPAMREPORT", None),
        (sg_event("unsubscribe"), "UNSUBSCRIBE", None),
        (sg_event("group_unsubscribe", asm_group_id=10), "GROUP_UNSUBSCRIBE", None),
        (sg_event("group_resubscribe", asm_group_id=10), "GROUP_RESUBSCRIBE", None),
        (sg_event("some_future_event"), "UNKNOWN", None),
        (
            sg_event("processed", message_kind="ACCESS_CODE_EMAIL"),
            "PROCESSED",
            "ACCESS_CODE_EMAIL_PROCESSED",
        ),
        (
            sg_event("delivered", message_kind="ACCESS_CODE_EMAIL"),
            "DELIVERED",
            "ACCESS_CODE_EMAIL_DELIVERED",
        ),
        (sg_event("open", message_kind="ACCESS_CODE_EMAIL"), "OPEN", "ACCESS_CODE_EMAIL_OPENED"),
        (
            sg_event("bounce", message_kind="ACCESS_CODE_EMAIL"),
            "BOUNCE",
            "ACCESS_CODE_EMAIL_BOUNCED",
        ),
        (
            sg_event("dropped", message_kind="ACCESS_CODE_EMAIL"),
            "DROPPED",
            "ACCESS_CODE_EMAIL_BOUNCED",
        ),
        (sg_event("delivered", message_kind="SIGNING_REMINDER"), "DELIVERED", None),
        (sg_event("delivered", return_id=None), "DELIVERED", None),
    ],
)
def test_each_event_maps_to_its_status_and_glossary_event(
    event: dict[str, Any], status: str, tracking: str | None
) -> None:
    [(schema, delivery), *rest] = mapped(event)
    assert schema == DELIVERY_EVENT
    assert delivery["status"] == status
    assert delivery["provider"] == "SENDGRID"
    assert delivery["channel"] == "EMAIL"
    assert [record["event_type"] for _, record in rest] == ([tracking] if tracking else [])
    assert all(schema == TRACKING_EVENT for schema, _ in rest)


def test_delivery_record_carries_our_ids_and_the_provider_details() -> None:
    [(_, record), _tracking] = mapped(
        sg_event(
            "bounce",
            type="bounce",
            bounce_classification="Invalid Address",
            status="5.1.1",
            reason="550 5.1.1 <jane.doe@example.com>: Recipient address rejected",
        )
    )
    assert record == {
        "event_id": record["event_id"],
        "provider": "SENDGRID",
        "provider_event_id": "ZGVsaXZlcmVk-0",
        "channel": "EMAIL",
        "status": "BOUNCE",
        "occurred_at": datetime.fromtimestamp(1772442000, UTC),
        "received_at": RECEIVED,
        "message_id": "M-1",
        "message_kind": "INITIAL_EMAIL",
        "firm_id": "F-1",
        "return_id": "R-1",
        "client_id": "C-1",
        "recipient_role": "SPOUSE",
        "recipient_hash": HASHER.email("jane.doe@example.com"),
        "bounce_type": "bounce",
        "bounce_classification": "Invalid Address",
        "machine_open": False,
        "error_code": "5.1.1",
        "reason": "550 5.1.1 <[redacted email address]>: Recipient address rejected",
    }
    AvroCodec().encode(DELIVERY_EVENT, record, topic="t")  # fits the contract


def test_tracking_record_is_the_glossary_event_for_the_return_and_role() -> None:
    [(_, delivery), (_, tracking)] = mapped(sg_event("open", sg_machine_open=False))
    assert tracking["return_id"] == "R-1"
    assert tracking["firm_id"] == "F-1"
    assert tracking["client_id"] == "C-1"
    assert tracking["recipient_role"] == "SPOUSE"
    assert tracking["actor"] == "CLIENT"
    assert tracking["occurred_at"] == delivery["occurred_at"]
    assert tracking["caused_by"] == delivery["event_id"]
    AvroCodec().encode(TRACKING_EVENT, tracking, topic="t")


def test_role_defaults_to_taxpayer_and_system_events_are_by_the_system() -> None:
    [_, (_, tracking)] = mapped(sg_event("delivered", recipient_role=None))
    assert (tracking["recipient_role"], tracking["actor"]) == ("TAXPAYER", "SYSTEM")


def test_ids_are_name_based_so_a_redelivered_event_gets_the_same_ids() -> None:
    first, again = mapped(sg_event("delivered")), mapped(sg_event("delivered"))
    assert [r["event_id"] for _, r in first] == [r["event_id"] for _, r in again]
    other = mapped(sg_event("delivered", sg_event_id="ZGVsaXZlcmVk-1"))
    assert {r["event_id"] for _, r in first}.isdisjoint(r["event_id"] for _, r in other)
    assert all(UUID(r["event_id"]).version == 5 for _, r in first)


def test_the_address_is_never_in_a_record() -> None:
    records = mapped(
        *(sg_event(name, sg_event_id=name) for name in ("processed", "bounce", "open"))
    )
    text = repr(records).lower()
    assert EMAIL.lower() not in text
    assert "example.com" not in text


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"event": "delivered"}', "non-empty JSON array"),
        (b"[]", "non-empty JSON array"),
        (b'[1, "x"]', "event object"),
        (
            json.dumps([sg_event("delivered", message_id=None)]).encode(),
            "event 0: missing or non-string field 'message_id'",
        ),
        (
            json.dumps([sg_event("delivered"), sg_event("delivered", firm_id=None)]).encode(),
            "event 1: missing or non-string field 'firm_id'",
        ),
        (
            json.dumps([sg_event("delivered", message_kind="NEWSLETTER")]).encode(),
            "'message_kind' is not a MessageKind",
        ),
        (
            json.dumps([sg_event("delivered", recipient_role="BOSS")]).encode(),
            "'recipient_role' is not a RecipientRole",
        ),
        (json.dumps([sg_event("delivered", sg_event_id=None)]).encode(), "'sg_event_id'"),
        (json.dumps([sg_event("delivered", timestamp="yesterday")]).encode(), "'timestamp'"),
        (
            json.dumps([sg_event("delivered", client_id="jane@example.com")]).encode(),
            "client_id holds an email address",
        ),
    ],
)
def test_a_bad_batch_is_refused_whole(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason) as raised:
        map_batch(body, HASHER, RECEIVED)
    assert "jane@example.com" not in str(raised.value)
