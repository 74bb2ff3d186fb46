"""The ClickHouse sink on a real broker and real chdb: every family, crashes, poison, repeats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from confluent_kafka import Producer

from ctrack.settings import KafkaSettings, SinkSettings
from producers.event_producer import EventProducer
from schemas import catalogue, tracking
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from sinks.clickhouse.sink import ClickHouseSink
from tests.factories import tracking_event

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DEADLINE_S = 60.0


def _id() -> str:
    return str(uuid.uuid4())


def one_of_each(firm: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(schema, key, record) for every family the sink stores, all of firm `firm`."""
    client, ret, message = f"{firm}-C1", f"{firm}-R1", f"{firm}-M1"
    status = {
        "client_id": client,
        "firm_id": firm,
        "identity_verified": False,
        "verification_method": None,
        "origin": "MANUAL",
        "has_email": True,
        "active_link_id": None,
        "active_link_expires_at": None,
        "login_locked_until": None,
        "caused_by": None,
    }
    return [
        (
            catalogue.TRACKING_EVENT,
            ret,
            tracking.to_record(
                tracking_event(TrackingEventType.TAX_RETURN_ACCESSED, return_id=ret, firm_id=firm)
            ),
        ),
        (
            catalogue.RETURN_LIFECYCLE_EVENT,
            ret,
            {
                "event_id": _id(),
                "event_type": "DELIVERED",
                "occurred_at": T0,
                "firm_id": firm,
                "return_id": ret,
                "client_id": client,
                "signature_required": True,
                "voucher_due_dates": [date(2026, 4, 15), date(2026, 6, 15)],
            },
        ),
        (
            catalogue.CLIENT_EVENT,
            client,
            {
                "event_id": _id(),
                "event_type": "INVITE_SENT",
                "occurred_at": T0,
                "firm_id": firm,
                "client_id": client,
                "invite_trigger": "MANUAL",
                "link_id": "L1",
                "link_expires_at": T0 + timedelta(days=14),
            },
        ),
        # two statuses of one client: the later one is what queries see
        (
            catalogue.CLIENT_STATUS,
            client,
            {**status, "status": "NOT_ENROLLED", "updated_at": T0},
        ),
        (
            catalogue.CLIENT_STATUS,
            client,
            {**status, "status": "CONNECTED", "updated_at": T0 + timedelta(hours=1)},
        ),
        (
            catalogue.DELIVERY_EVENT,
            message,
            {
                "event_id": _id(),
                "provider": "SENDGRID",
                "provider_event_id": _id(),
                "channel": "EMAIL",
                "status": "OPEN",
                "occurred_at": T0,
                "received_at": T0 + timedelta(seconds=2),
                "message_id": message,
                "message_kind": "INITIAL_EMAIL",
                "firm_id": firm,
                "return_id": ret,
                "machine_open": True,
            },
        ),
        (
            catalogue.NOTIFICATION_REQUESTED,
            client,
            {
                "notification_id": _id(),
                "requested_at": T0,
                "channel": "SMS",
                "message_kind": "OTP_SMS",
                "firm_id": firm,
                "client_id": client,
                "secret_ref": "otp-1",
            },
        ),
        (
            catalogue.TRIGGER_FIRED,
            ret,
            {
                "trigger_id": _id(),
                "idempotency_key": f"SIGNING_REMINDER:{ret}:1",
                "kind": "SIGNING_REMINDER",
                "firm_id": firm,
                "subject_id": ret,
                "due_at": T0,
                "fired_at": T0 + timedelta(seconds=1),
            },
        ),
        (
            catalogue.FIRM_ALERT,
            firm,
            {
                "alert_id": _id(),
                "raised_at": T0,
                "kind": "EMAIL_NOT_RECEIVED",
                "firm_id": firm,
                "return_id": ret,
                "summary": "Taxpayer did not receive email: Mailbox Unavailable",
                "caused_by": _id(),
            },
        ),
        (
            catalogue.FIRM_SETTINGS,
            firm,
            {"firm_id": firm, "updated_at": T0, "link_expiry_days": 10},
        ),
    ]


FIRM_COUNTS = {  # table -> rows of one_of_each(firm) as queries see them
    "tracking_events": 1,
    "return_lifecycle_events": 1,
    "client_events": 1,
    "client_status": 1,
    "delivery_events": 1,
    "notifications_requested": 1,
    "triggers_fired": 1,
    "firm_alerts": 1,
    "firm_settings": 1,
}


def firm_counts(clickhouse: Client, firm: str) -> dict[str, int]:
    return {
        table: int(
            clickhouse.query(
                f"SELECT count() FROM {table} FINAL WHERE firm_id = {{f:String}}",  # noqa: S608
                parameters={"f": firm},
            ).result_rows[0][0]
        )
        for table in FIRM_COUNTS
    }


def run_sink_until(
    clickhouse: Client, kafka: KafkaSettings, done: Callable[[], bool], **settings: Any
) -> ClickHouseSink:
    sink = ClickHouseSink(
        clickhouse, kafka, SinkSettings(batch_max_seconds=0.2, **settings), AvroCodec()
    )
    deadline = time.monotonic() + DEADLINE_S
    sink.run(lambda: done() or time.monotonic() > deadline)
    return sink


def produce(kafka: KafkaSettings, records: list[tuple[str, str, dict[str, Any]]]) -> None:
    with EventProducer(kafka, AvroCodec()) as producer:
        for schema_name, key, record in records:
            producer.send_record(schema_name, key, record)
    assert producer.stats.delivered == len(records)


def test_every_family_lands_in_its_table(kafka: KafkaSettings, clickhouse: Client) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    produce(kafka, one_of_each(firm))

    sink = run_sink_until(clickhouse, kafka, lambda: firm_counts(clickhouse, firm) == FIRM_COUNTS)

    assert firm_counts(clickhouse, firm) == FIRM_COUNTS
    assert TopicNames(kafka.topic_prefix).of(catalogue.CLOCK) not in sink.topics
    one = clickhouse.query
    assert one(
        "SELECT status FROM client_status FINAL WHERE firm_id = {f:String}", parameters={"f": firm}
    ).result_rows == [("CONNECTED",)]
    assert one(
        "SELECT voucher_due_dates, signature_required FROM return_lifecycle_events"
        " WHERE firm_id = {f:String}",
        parameters={"f": firm},
    ).result_rows == [([date(2026, 4, 15), date(2026, 6, 15)], True)]
    assert one(
        "SELECT status, machine_open, received_at FROM delivery_events WHERE firm_id = {f:String}",
        parameters={"f": firm},
    ).result_rows == [("OPEN", True, (T0 + timedelta(seconds=2)).replace(tzinfo=None))]
    assert one(
        "SELECT link_expires_at, invite_trigger FROM client_events WHERE firm_id = {f:String}",
        parameters={"f": firm},
    ).result_rows == [((T0 + timedelta(days=14)).replace(tzinfo=None), "MANUAL")]
    assert one(
        "SELECT link_expiry_days, automatic_invite_grace_days, updated_by FROM firm_settings FINAL"
        " WHERE firm_id = {f:String}",
        parameters={"f": firm},
    ).result_rows == [(10, 3, "")]


def test_records_produced_twice_are_visible_once(kafka: KafkaSettings, clickhouse: Client) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    events = [
        tracking_event(
            TrackingEventType.DOCUMENT_DOWNLOADED,
            return_id=f"{firm}-R{i % 7}",
            firm_id=firm,
            minute=i,
            detail=f"file-{i}.pdf",
        )
        for i in range(200)
    ]
    records = [(tracking.SCHEMA_NAME, e.return_id, tracking.to_record(e)) for e in events]
    produce(kafka, records)
    produce(kafka, records[::3])  # the same event ids again, at later offsets

    sink = ClickHouseSink(clickhouse, kafka, SinkSettings(batch_max_seconds=0.2), AvroCodec())
    deadline = time.monotonic() + DEADLINE_S
    read = 200 + len(records[::3])
    sink.run(
        lambda: (
            sink.stats.rows_written.get("tracking_events", 0) >= read or time.monotonic() > deadline
        )
    )
    assert sink.stats.rows_written["tracking_events"] == read  # both copies were inserted

    visible, distinct = clickhouse.query(
        "SELECT count(), uniqExact(event_id) FROM tracking_events FINAL WHERE firm_id = {f:String}",
        parameters={"f": firm},
    ).result_rows[0]
    assert (visible, distinct) == (200, 200)


def test_poison_and_wrong_schema_go_to_dead_letters_and_good_records_flow(
    kafka: KafkaSettings, clickhouse: Client
) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    codec, topics = AvroCodec(), TopicNames(kafka.topic_prefix)
    delivery_topic = topics.of(catalogue.DELIVERY)
    good = [r for r in one_of_each(firm) if r[0] == catalogue.DELIVERY_EVENT]
    second = (good[0][0], good[0][1], {**good[0][2], "event_id": _id(), "status": "DELIVERED"})
    poison = b"\xc3\x01 not avro at all " + uuid.uuid4().bytes
    misplaced = codec.encode(catalogue.TRACKING_EVENT, one_of_each(firm)[0][2], topic="x")
    key = f"{firm}-M1".encode()

    produce(kafka, good)
    raw = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})
    raw.produce(delivery_topic, key=key, value=poison)
    raw.produce(delivery_topic, key=key, value=misplaced)
    raw.flush(10)
    produce(kafka, [second])

    def letters() -> list[tuple[Any, ...]]:
        return clickhouse.query(
            "SELECT source_offset, stage, error_type, reason, hex(payload), hex(source_key)"
            " FROM dead_letters FINAL WHERE source_topic = {t:String} ORDER BY source_offset",
            parameters={"t": delivery_topic},
        ).result_rows

    def delivered() -> int:
        return firm_counts(clickhouse, firm)["delivery_events"]

    run_sink_until(clickhouse, kafka, lambda: delivered() == 2 and len(letters()) == 2)

    assert delivered() == 2
    (first_offset, *first), (second_offset, *second_letter) = letters()
    assert second_offset == first_offset + 1  # both between the good records, in order
    assert first[:2] == ["sinks.clickhouse", "UnknownSchemaError"]
    assert "unknown schema fingerprint" in first[2]
    assert second_letter[:2] == ["sinks.clickhouse", "UnexpectedSchemaError"]
    assert f"{catalogue.TRACKING_EVENT} does not belong on {delivery_topic}" in second_letter[2]
    assert bytes.fromhex(first[3]) == poison  # kept byte for byte
    assert bytes.fromhex(first[4]) == key
    assert bytes.fromhex(second_letter[3]) == misplaced


# --- crash and restart: a real sink process, SIGKILLed -----------------------------------


def _sink_env(kafka: KafkaSettings, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRACK_", "CLICKHOUSE_"))}
    return env | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CTRACK_TOPIC_PREFIX": kafka.topic_prefix,
        "CTRACK_DATA_DIR": str(data_dir),
        "CLICKHOUSE_DSN": f"chdb://{data_dir / 'clickhouse'}",
        "CTRACK_SINK_BATCH_MAX_ROWS": "100",
        "CTRACK_SINK_BATCH_MAX_SECONDS": "0.2",
    }


def _start_sink(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sinks.clickhouse.run_for_test", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _lines(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    assert process.stdout is not None
    return [json.loads(line) for line in process.stdout]


def test_sink_killed_mid_stream_and_restarted_stores_each_record_once(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    firm, produced = f"F-{uuid.uuid4().hex[:12]}", 3000
    events = [
        tracking_event(
            TrackingEventType.INITIAL_EMAIL_PROCESSED,
            return_id=f"{firm}-R{i}",
            firm_id=firm,
            minute=i % 600,
        )
        for i in range(produced)
    ]
    produce(kafka, [(tracking.SCHEMA_NAME, e.return_id, tracking.to_record(e)) for e in events])
    env, expect = _sink_env(kafka, tmp_path), f"tracking_events={produced}"

    # 1. killed from outside as soon as it has stored its first batch
    first = _start_sink(env, expect)
    assert first.stdout is not None
    progress = json.loads(first.stdout.readline())
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert 0 < progress["rows_written"]["tracking_events"] < produced

    # 2. dies by itself after its 3rd batch is inserted and before its offsets are committed
    second = _start_sink(env, expect, "--crash-after-flushes", "3")
    second_lines = _lines(second)
    assert second.wait(timeout=60) == -signal.SIGKILL
    assert second_lines[-1]["crashing"] is True

    # 3. runs to the end
    third = _start_sink(env, expect, "--timeout", "90")
    final = _lines(third)[-1]["counts"]["tracking_events"]
    assert third.wait(timeout=120) == 0
    assert final["final"] == produced  # every record once, as queries see it
    assert final["distinct"] == produced
    assert final["stored"] >= produced  # re-read tails may sit twice until a merge
