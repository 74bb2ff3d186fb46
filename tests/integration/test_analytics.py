"""Firm analytics on real chdb: exact figures for a small hand-made firm, duplicates included."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from schemas import catalogue
from schemas.codec import AvroCodec
from services.analytics.queries import (
    DailyEngagement,
    InviteFunnel,
    ReminderConversion,
    firm_engagement,
    invite_funnel,
    reminder_conversion,
    time_to_milestones,
)
from sinks.clickhouse.decoding import PlainDecoder
from sinks.clickhouse.tables import TABLE_OF_SCHEMA

D1, D2, D3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)
CODEC = AvroCodec()
DECODER = PlainDecoder(CODEC)

pytestmark = pytest.mark.usefixtures("paused_merges")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def store(
    clickhouse: Client, schema: str, records: list[dict[str, Any]], dedup: bool = True
) -> None:
    """Insert records as the sink does (encode, decode plain, row converter), in one block;
    `dedup=False` stores a block ClickHouse has seen before (a re-read batch) anyway."""
    table = TABLE_OF_SCHEMA[schema]
    rows = [
        table.to_row(DECODER.decode(CODEC.encode(schema, record, topic="t"))[1], 0, offset)
        for offset, record in enumerate(records)
    ]
    clickhouse.insert(
        table.name,
        list(zip(*rows, strict=True)),
        column_names=table.columns,
        column_oriented=True,
        settings={"async_insert": 0, "insert_deduplicate": int(dedup)},
    )


class Firm:
    """Builds one firm's records with fresh ids."""

    def __init__(self) -> None:
        self.id = f"F-{uuid.uuid4().hex[:12]}"

    def track(self, event_type: str, return_id: str, when: datetime) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "occurred_at": when,
            "firm_id": self.id,
            "return_id": f"{self.id}-{return_id}",
            "recipient_role": "TAXPAYER",
            "actor": "CLIENT",
        }

    def email(
        self, message: str, status: str, when: datetime, machine: bool = False, sms: bool = False
    ) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "provider": "TWILIO" if sms else "SENDGRID",
            "provider_event_id": str(uuid.uuid4()),
            "channel": "SMS" if sms else "EMAIL",
            "status": status,
            "occurred_at": when,
            "received_at": when,
            "message_id": f"{self.id}-{message}",
            "message_kind": "OTP_SMS" if sms else "INITIAL_EMAIL",
            "firm_id": self.id,
            "machine_open": machine,
        }

    def client(self, event_type: str, client: str, when: datetime, **fields: Any) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "occurred_at": when,
            "firm_id": self.id,
            "client_id": f"{self.id}-{client}",
            **fields,
        }


@pytest.fixture(scope="module")
def firm(clickhouse: Client) -> Firm:
    """Two busy days of one firm, with a machine open and duplicated events."""
    f = Firm()
    emails = [
        f.email("M1", "PROCESSED", at(D1, 9)),
        f.email("M1", "DELIVERED", at(D1, 9, 1)),
        f.email("M1", "OPEN", at(D1, 9, 2), machine=True),
        f.email("M1", "OPEN", at(D1, 10)),
        f.email("M1", "OPEN", at(D1, 11)),  # a second human open of the same message
        f.email("M2", "PROCESSED", at(D1, 9)),
        f.email("M2", "DELIVERED", at(D1, 9, 1)),
        f.email("M2", "OPEN", at(D1, 9, 2), machine=True),  # machine only: not opened
        f.email("M3", "PROCESSED", at(D1, 9)),
        f.email("M3", "BOUNCE", at(D1, 9, 1)),
        f.email("M4", "PROCESSED", at(D2, 9)),
        f.email("M4", "DELIVERED", at(D2, 9, 1)),
        f.email("M4", "OPEN", at(D2, 12)),
        f.email("S1", "DELIVERED", at(D1, 9), sms=True),  # not an email
    ]
    store(clickhouse, catalogue.DELIVERY_EVENT, emails)
    store(clickhouse, catalogue.DELIVERY_EVENT, emails[-3:], dedup=False)  # stored twice

    tracking = [
        f.track("INITIAL_EMAIL_PROCESSED", "R1", at(D1, 9)),
        f.track("INITIAL_EMAIL_OPENED", "R1", at(D1, 9, 10)),
        f.track("TAX_RETURN_ACCESSED", "R1", at(D1, 9, 30)),
        f.track("SIGNING_REMINDER_SENT", "R1", at(D1, 9, 45)),
        f.track("OTHER_DOCUMENTS_ESIGNED", "R1", at(D1, 10)),
        f.track("TAX_RETURN_ACCESSED", "R1", at(D1, 12)),
        f.track("VOUCHER_REMINDER_SENT", "R1", at(D2, 8)),
        f.track("INITIAL_EMAIL_PROCESSED", "R2", at(D1, 10)),
        f.track("INITIAL_EMAIL_OPENED", "R2", at(D1, 10, 20)),
        f.track("SIGNING_REMINDER_SENT", "R2", at(D1, 13)),
        f.track("TAX_RETURN_ACCESSED", "R2", at(D2, 10)),
        f.track("INITIAL_EMAIL_PROCESSED", "R3", at(D1, 12)),
        f.track("INITIAL_EMAIL_OPENED", "R3", at(D1, 12, 30)),
        f.track("AUTHENTICATION_FAILED", "R3", at(D1, 12, 40)),
        f.track("AUTHENTICATION_FAILED", "R3", at(D1, 12, 41)),
        f.track("ACCESS_LOCKED", "R3", at(D1, 12, 41)),
        f.track("SIGNING_REMINDER_SENT", "R3", at(D1, 14)),
        f.track("OTHER_DOCUMENTS_ESIGNED", "R3", at(D1 + timedelta(days=8), 15)),  # too late
    ]
    store(clickhouse, catalogue.TRACKING_EVENT, tracking)
    # the R1 reminder, the R2 open and the lock stored twice
    store(clickhouse, catalogue.TRACKING_EVENT, [tracking[3], tracking[8], tracking[15]], False)

    clients = [
        f.client("INVITE_SENT", "C1", at(D1, 9), invite_trigger="MANUAL"),
        f.client("LINK_SELECTED", "C1", at(D1, 10)),
        f.client("STATUS_CHANGED", "C1", at(D1, 10, 5), status_to="CONNECTED"),
        f.client("INVITE_SENT", "C2", at(D1, 9)),
        f.client("LINK_SELECTED", "C2", at(D2, 9)),
        f.client("INVITE_SENT", "C3", at(D1, 9)),
        f.client("INVITATION_REMINDER_SENT", "C3", at(D2, 9)),
        f.client("STATUS_CHANGED", "C4", at(D1, 9), status_to="NOT_ENROLLED"),
    ]
    store(clickhouse, catalogue.CLIENT_EVENT, clients)
    store(clickhouse, catalogue.CLIENT_EVENT, [clients[3]], dedup=False)
    return f


def test_duplicates_are_really_stored(clickhouse: Client, firm: Firm) -> None:
    stored = clickhouse.query(
        "SELECT count() - uniqExact(event_id) FROM tracking_events WHERE firm_id = {f:String}",
        parameters={"f": firm.id},
    ).result_rows[0][0]
    assert stored == 3  # so the figures below prove duplicates count once


def test_firm_engagement_per_day(clickhouse: Client, firm: Firm) -> None:
    assert firm_engagement(clickhouse, firm.id, D1, D3) == [
        DailyEngagement(
            D1,
            emails_processed=3,
            emails_delivered=2,
            emails_opened=1,  # M1 by a human; M2's machine open does not count
            emails_bounced=1,
            returns_accessed=1,  # R1, accessed twice
            authentication_failures=2,
            lockouts=1,  # stored twice
            signing_reminders_sent=3,  # R1's stored twice
            invites_sent=3,  # C2's stored twice
            clients_connected=1,
        ),
        DailyEngagement(
            D2,
            emails_processed=1,
            emails_delivered=1,  # stored twice
            emails_opened=1,
            returns_accessed=1,
            voucher_reminders_sent=1,
            invitation_reminders_sent=1,
        ),
        DailyEngagement(D3),
    ]


def test_time_to_first_open_access_and_esign(clickhouse: Client, firm: Firm) -> None:
    timings = time_to_milestones(clickhouse, firm.id, D1, D2)

    # first open: R1 10 min, R2 20 min (its open stored twice), R3 30 min
    first_open = timings["first_open"]
    assert (first_open.returns_sent, first_open.reached) == (3, 3)
    assert (first_open.p50_s, first_open.p90_s, first_open.p99_s) == pytest.approx(
        (1200, 1680, 1788)
    )
    # access: R1 30 min (its second access ignored), R2 one day; R3 never
    access = timings["access"]
    assert access.reached == 2
    assert (access.p50_s, access.p90_s, access.p99_s) == pytest.approx((44100, 77940, 85554))
    # e-sign: R1 one hour, R3 8 days 3 hours
    esign = timings["esign"]
    assert esign.reached == 2
    assert (esign.p50_s, esign.p90_s, esign.p99_s) == pytest.approx((352800, 632160, 695016))

    nothing = time_to_milestones(clickhouse, firm.id, D3, D3)["esign"]
    assert (nothing.returns_sent, nothing.reached, nothing.p50_s) == (0, 0, None)


def test_signing_reminder_conversion_within_seven_days(clickhouse: Client, firm: Firm) -> None:
    conversion = reminder_conversion(clickhouse, firm.id, D1, D2)
    # R1 signed 15 min after its reminder; R2 never; R3 after 8 days
    assert conversion == ReminderConversion(reminders=3, converted=1)
    assert conversion.share == pytest.approx(1 / 3)
    assert reminder_conversion(clickhouse, firm.id, D1, D2, window_days=9).converted == 2


def test_invite_to_connected_funnel(clickhouse: Client, firm: Firm) -> None:
    assert invite_funnel(clickhouse, firm.id, D1, D2) == InviteFunnel(
        invited=3, link_selected=2, connected=1
    )
    assert invite_funnel(clickhouse, firm.id, D3, D3) == InviteFunnel(0, 0, 0)
