"""The stream worker on the real broker: client flow with injected time, burst lockouts,
crash recovery and rebalancing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ctrack.settings import KafkaSettings
from producers.event_producer import EventProducer
from schemas import clients, firms
from schemas.catalogue import (
    ALERTS,
    CLIENT_EVENTS,
    CLIENT_STATUS_TOPIC,
    DEAD_LETTERS,
    NOTIFICATIONS,
    TRACKING,
    TRIGGERS,
)
from schemas.clients import ClientEvent, ClientEventType
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from tests.conftest import WorkerFactory
from tests.factories import tracking_event
from tests.integration.stream_helpers import (
    access_locks,
    failures_per_return,
    records,
    send_ticks,
    send_tracking,
)

E = ClientEventType
T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


def client_event(
    event_type: ClientEventType, client_id: str, minutes: float = 0, **fields: Any
) -> ClientEvent:
    return ClientEvent(
        uuid.uuid4(), event_type, T0 + timedelta(minutes=minutes), "F-auto", client_id, **fields
    )


def of(client_id: str, rows: list[dict[str, Any]], kind: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if r.get("client_id") == client_id and (kind is None or r.get("event_type") == kind)
    ]


def test_automatic_invite_then_code_lockout_then_connected(
    kafka: KafkaSettings, workers: WorkerFactory
) -> None:
    workers.start(CTRACK_WORKER_CLOCK="external")
    client = f"C-{uuid.uuid4().hex[:8]}"
    settings = firms.FirmSettings(
        "F-auto", automatic_invites_enabled=True, automatic_invite_grace_days=3
    )
    with EventProducer(kafka, AvroCodec()) as producer:
        producer.send_record(firms.SCHEMA_NAME, "F-auto", firms.to_record(settings))
        for event in (
            client_event(E.CLIENT_ADDED, client, email_hash="ab" * 32),
            client_event(E.GET_REQUEST_SENT, client, 5, request_id="DRL-1"),
            client_event(E.MESSAGE_SENT, client, 6),
        ):  # illegal: not connected yet
            producer.send_record(clients.EVENT_SCHEMA, client, clients.to_record(event))

    rejected = records(kafka, DEAD_LETTERS, lambda rs: len(rs) >= 1)
    assert rejected[0]["error_type"] == "IllegalTransitionError"
    assert "Connected" in rejected[0]["reason"]

    send_ticks(kafka, T0 + timedelta(days=3, minutes=4))  # before the grace period ends
    send_ticks(kafka, T0 + timedelta(days=3, minutes=6))
    events = records(kafka, CLIENT_EVENTS, lambda rs: bool(of(client, rs, "INVITE_SENT")))
    [invite] = of(client, events, "INVITE_SENT")
    assert invite["invite_trigger"] == "AUTOMATIC"
    assert invite["occurred_at"] == T0 + timedelta(days=3, minutes=5)
    [trigger] = records(kafka, TRIGGERS, lambda rs: len(rs) >= 1)
    assert trigger["kind"] == "AUTOMATIC_INVITE" and trigger["subject_id"] == client
    [notice] = records(kafka, NOTIFICATIONS, lambda rs: len(rs) >= 1)
    assert notice["message_kind"] == "DYNAMIC_PASSWORD_INVITE"
    assert notice["link_id"] == invite["link_id"]

    at = (T0 + timedelta(days=3, minutes=10) - T0).total_seconds() / 60
    with EventProducer(kafka, AvroCodec()) as producer:
        for offset in (0, 1, 2):
            failed = client_event(E.OTP_FAILED, client, at + offset, failure_reason="WRONG_CODE")
            producer.send_record(clients.EVENT_SCHEMA, client, clients.to_record(failed))
    events = records(kafka, CLIENT_EVENTS, lambda rs: bool(of(client, rs, "LOGIN_LOCKED")))
    [locked] = of(client, events, "LOGIN_LOCKED")
    assert locked["locked_until"] == T0 + timedelta(days=3, minutes=12, hours=2)

    send_ticks(kafka, T0 + timedelta(days=3, minutes=13, hours=2))
    records(kafka, CLIENT_EVENTS, lambda rs: bool(of(client, rs, "LOGIN_UNLOCKED")))
    with EventProducer(kafka, AvroCodec()) as producer:
        verified = client_event(E.OTP_VERIFIED, client, at + 200)
        producer.send_record(clients.EVENT_SCHEMA, client, clients.to_record(verified))
    statuses = records(
        kafka,
        CLIENT_STATUS_TOPIC,
        lambda rs: any(r["status"] == "CONNECTED" for r in of(client, rs)),
    )
    assert [r["status"] for r in of(client, statuses)][-1] == "CONNECTED"
    assert of(client, statuses)[-1]["identity_verified"] is True
    history = [r["status"] for r in of(client, statuses)]
    assert history.index("NOT_ENROLLED") < history.index("CONNECTED")

    shown = subprocess.run(
        [sys.executable, "-m", "ctrack.cli.main", "status", client],
        env=workers.env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "CONNECTED" in shown.stdout and "login_locked_until" in shown.stdout


def test_a_burst_of_failures_locks_exactly_at_the_third(
    kafka: KafkaSettings, workers: WorkerFactory
) -> None:
    workers.start(CTRACK_WORKER_CLOCK="external")
    return_id = f"R-{uuid.uuid4().hex}"
    burst = [
        tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=return_id, minute=0)
        for _ in range(100)
    ]
    with EventProducer(kafka, AvroCodec()) as producer:
        for event in burst:
            producer.send_tracking(event)
    rows = records(
        kafka,
        TRACKING,
        lambda rs: sum(r["event_type"] == "ACCESS_LOCKED" for r in rs) >= 1 and len(rs) >= 101,
    )
    locks = [r for r in rows if r["event_type"] == "ACCESS_LOCKED"]
    assert len(locks) == 1
    assert str(locks[0]["caused_by"]) == str(burst[2].event_id)


def test_sigkill_and_restart_keeps_state_and_sends_no_duplicate_reminder(
    kafka: KafkaSettings, workers: WorkerFactory
) -> None:
    first = workers.start("w1", CTRACK_WORKER_CLOCK="external")
    return_id = f"R-{uuid.uuid4().hex[:8]}"
    settings = firms.FirmSettings("F-rem", signing_reminder_interval_days=2)
    delivered = {
        "event_id": str(uuid.uuid4()),
        "event_type": "DELIVERED",
        "occurred_at": T0,
        "firm_id": "F-rem",
        "return_id": return_id,
        "client_id": None,
        "firm_user": None,
        "recipient_role": None,
        "signature_required": True,
        "voucher_due_dates": [],
        "voucher_due_date": None,
    }
    with EventProducer(kafka, AvroCodec()) as producer:
        producer.send_record(firms.SCHEMA_NAME, "F-rem", firms.to_record(settings))
        producer.send_record("ctrack.returns.ReturnLifecycleEvent", return_id, delivered)
    # The worker has seen the delivery once the failure below is locked out behind it.
    probe = tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=return_id)
    with EventProducer(kafka, AvroCodec()) as producer:
        for _ in range(3):
            producer.send_tracking(
                tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=return_id)
            )
        producer.send_tracking(probe)
    records(kafka, TRACKING, lambda rs: any(r["event_type"] == "ACCESS_LOCKED" for r in rs))

    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    workers.start("w1", CTRACK_WORKER_CLOCK="external")  # same store, restarted
    send_ticks(kafka, T0 + timedelta(days=2, minutes=1))
    send_ticks(kafka, T0 + timedelta(days=2, minutes=2))
    reminders = records(
        kafka,
        TRACKING,
        lambda rs: sum(r["event_type"] == "SIGNING_REMINDER_SENT" for r in rs) >= 1,
        timeout_s=120,
    )
    send_ticks(kafka, T0 + timedelta(days=2, minutes=3))
    # Absence of a duplicate can only be shown by reading on for a while after the ticks.
    reminders = records(kafka, TRACKING, lambda rs: False, timeout_s=8)
    sent = [r for r in reminders if r["event_type"] == "SIGNING_REMINDER_SENT"]
    assert len({str(r["event_id"]) for r in sent}) == 1
    assert len(sent) == 1
    assert sent[0]["occurred_at"] == T0 + timedelta(days=2)
    locks = [r for r in reminders if r["event_type"] == "ACCESS_LOCKED"]
    assert len(locks) == 1  # the restarted worker kept the lock state: no second lock


def test_two_workers_share_partitions_and_a_rebalance_loses_nothing(
    kafka: KafkaSettings, workers: WorkerFactory
) -> None:
    workers.start("a", CTRACK_WORKER_CLOCK="external")
    failures = failures_per_return(60)
    returns = list(failures)
    send_tracking(kafka, (event for r in returns[:30] for event in failures[r]))
    workers.start("b", CTRACK_WORKER_CLOCK="external")  # joins: partitions move
    send_tracking(kafka, (event for r in returns[30:] for event in failures[r]))
    locks = access_locks(kafka, 60, timeout_s=180)
    assert {str(r["caused_by"]) for r in locks} == {str(failures[r][2].event_id) for r in returns}
    assert len({str(r["event_id"]) for r in locks}) == 60


def test_bounced_initial_email_raises_a_firm_alert(
    kafka: KafkaSettings, workers: WorkerFactory
) -> None:
    workers.start(CTRACK_WORKER_CLOCK="external")
    message = f"M-{uuid.uuid4().hex[:8]}"
    base = {
        "provider": "SENDGRID",
        "channel": "EMAIL",
        "received_at": T0,
        "message_id": message,
        "message_kind": "INITIAL_EMAIL",
        "firm_id": "F-1",
        "return_id": "R-b",
        "client_id": None,
        "recipient_role": "TAXPAYER",
        "recipient_hash": None,
        "bounce_type": None,
        "bounce_classification": None,
        "machine_open": False,
        "error_code": None,
        "reason": None,
    }
    with EventProducer(kafka, AvroCodec()) as producer:
        for i, status in enumerate(["PROCESSED", "BOUNCE", "DELIVERED"]):
            record = base | {
                "event_id": str(uuid.uuid4()),
                "provider_event_id": f"sg-{i}",
                "status": status,
                "occurred_at": T0 + timedelta(minutes=i),
            }
            if status == "BOUNCE":
                record |= {"bounce_type": "bounce", "bounce_classification": "Invalid Address"}
            producer.send_record("ctrack.delivery.DeliveryEvent", message, record)
    [alert] = records(kafka, ALERTS, lambda rs: len(rs) >= 1)
    assert alert["kind"] == "EMAIL_NOT_RECEIVED" and alert["message_id"] == message
    assert alert["summary"] == "Taxpayer did not receive email: Invalid Address"
