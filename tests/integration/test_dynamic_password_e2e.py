"""The dynamic password service with the real stream worker: the article's flow end to end
(time injected, never slept), a burst of wrong codes, and an email change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from ctrack.settings import KafkaSettings, StreamSettings
from schemas.catalogue import (
    ALL_TOPICS,
    CLIENT_CONTACTS,
    CLIENT_EVENTS,
    CLIENT_STATUS_TOPIC,
    FIRM_SETTINGS_TOPIC,
    TopicNames,
    TopicSpec,
)
from services.credentials import Contact, ContactSealer
from services.dynamic_password.clock import ManualClock
from services.dynamic_password.errors import NOT_ACCEPTED
from tests.conftest import WorkerFactory
from tests.integration.dynamic_password_helpers import (
    FIRM_A,
    MASTER,
    T0,
    Service,
    eventually,
    firm,
    link_token,
    of_client,
    served,
    service_app,
    sms_code,
    started_service,
    topic_rows,
)
from tests.integration.stream_helpers import send_ticks


@pytest.fixture
def service(kafka: KafkaSettings, tmp_path: Path, workers: WorkerFactory) -> Iterator[Service]:
    workers.start(CTRACK_WORKER_CLOCK="external")
    with started_service(kafka, tmp_path / "auth") as started:
        yield started


def worker_has_read(kafka: KafkaSettings, spec: TopicSpec) -> bool:
    """Whether the stream worker's group has committed the end of every partition of `spec`."""
    names = TopicNames(kafka.topic_prefix)
    topic = names.of(spec)
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": names.app_id(StreamSettings().app_id)}
    )
    try:
        partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
        committed = consumer.committed(partitions, timeout=10)
        ends = [consumer.get_watermark_offsets(p, timeout=10)[1] for p in partitions]
        return all(end == 0 or c.offset >= end for c, end in zip(committed, ends, strict=True))
    except KafkaException:  # e.g. a leader not known yet: ask again
        return False
    finally:
        consumer.close()


def outbox_drained(service: Service) -> bool:
    return service.http.get("/health").json()["outbox_pending"] == 0


def raw_bytes_of_every_topic(kafka: KafkaSettings) -> bytes:
    """Keys and values of every record on every catalogue topic, concatenated."""
    names = TopicNames(kafka.topic_prefix)
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "unused"})
    partitions = [
        TopicPartition(names.of(spec), p, OFFSET_BEGINNING)
        for spec in ALL_TOPICS
        for p in range(spec.partitions)
    ]
    ends = {
        (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
        for tp in partitions
    }
    consumer.assign([tp for tp in partitions if ends[(tp.topic, tp.partition)] > 0])
    seen: dict[tuple[str, int], int] = {}
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while (
        any(seen.get(k, 0) < end for k, end in ends.items() if end) and time.monotonic() < deadline
    ):
        for message in consumer.consume(500, timeout=0.5):
            if message.error() is None:
                chunks += [message.key() or b"", message.value() or b""]
                seen[(message.topic(), message.partition())] = message.offset() + 1
    consumer.close()
    return b"".join(chunks)


def test_article_flow_add_request_automatic_invite_code_connected(
    service: Service, tmp_path: Path
) -> None:
    kafka, http, headers = service.kafka, service.http, firm(FIRM_A)
    settings = {"automatic_invites_enabled": True, "automatic_invite_grace_days": 3}
    assert http.patch("/v1/settings", json=settings, headers=headers).status_code == 200
    eventually(lambda: outbox_drained(service), what="the settings to be published")
    eventually(lambda: worker_has_read(kafka, FIRM_SETTINGS_TOPIC), 120, "the worker's settings")

    client_id = service.add_client(email="pat.lee@example.com", phone="(555) 010-4242")
    service.clock.advance(timedelta(minutes=5))
    sent = http.post(
        f"/v1/clients/{client_id}/requests", json={"kind": "QUESTIONNAIRE"}, headers=headers
    )
    assert sent.status_code == 201

    def automatic_invite() -> list[dict[str, Any]] | None:
        send_ticks(kafka, T0 + timedelta(days=3, minutes=6))
        rows = topic_rows(kafka, CLIENT_EVENTS, lambda rs: False, timeout_s=2)
        return of_client(rows, client_id, event_type="INVITE_SENT") or None

    [invite] = eventually(automatic_invite, 120, "the worker's automatic invite")
    assert invite["invite_trigger"] == "AUTOMATIC"
    assert invite["occurred_at"] == T0 + timedelta(days=3, minutes=5)

    service.clock.set(T0 + timedelta(days=3, minutes=10))
    learned = eventually(
        lambda: (view := service.client(client_id))["status"] == "NOT_ENROLLED" and view,
        what="the service to learn the worker's invite",
    )
    assert learned["active_link_expires_at"].startswith("2026-02-19T09:05")

    token = link_token(kafka, client_id, "DYNAMIC_PASSWORD_INVITE")
    opened = http.post(f"/client/links/{token}")
    assert opened.status_code == 200 and opened.json()["sent_to"] == "***-***-4242"
    code = sms_code(kafka, FIRM_A, client_id)
    verified = http.post(f"/client/links/{token}/code", json={"code": code})
    assert verified.status_code == 200 and verified.json()["status"] == "CONNECTED"

    statuses = topic_rows(
        kafka,
        CLIENT_STATUS_TOPIC,
        lambda rs: any(r["status"] == "CONNECTED" for r in of_client(rs, client_id)),
    )
    latest = of_client(statuses, client_id)[-1]
    assert latest["status"] == "CONNECTED" and latest["identity_verified"] is True
    assert latest["verification_method"] == "OTP_SMS"
    steps = [
        ("CLIENT_ADDED", None),
        ("GET_REQUEST_SENT", None),
        ("INVITE_SENT", None),
        ("STATUS_CHANGED", "NOT_ENROLLED"),
        ("LINK_SELECTED", None),
        ("OTP_SENT", None),
        ("OTP_VERIFIED", None),
        ("IDENTITY_VERIFIED", None),
        ("STATUS_CHANGED", "CONNECTED"),
    ]
    events = topic_rows(
        kafka, CLIENT_EVENTS, lambda rs: len(of_client(rs, client_id)) >= len(steps)
    )
    assert [(e["event_type"], e["status_to"]) for e in of_client(events, client_id)] == steps


def test_a_hundred_concurrent_wrong_codes_fail_exactly_three_times_then_lock(
    kafka: KafkaSettings, tmp_path: Path, workers: WorkerFactory
) -> None:
    workers.start(CTRACK_WORKER_CLOCK="external")
    app = service_app(kafka, tmp_path / "auth", ManualClock(T0))
    with served(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        created = http.post(
            "/v1/clients",
            json={"email": "a@example.com", "phone": "5550104343"},
            headers=firm(FIRM_A),
        )
        client_id = created.json()["client_id"]
        assert http.post(f"/v1/clients/{client_id}/invite", headers=firm(FIRM_A)).status_code == 200
        token = link_token(kafka, client_id, "DYNAMIC_PASSWORD_INVITE")
        assert http.post(f"/client/links/{token}").status_code == 200
        code = sms_code(kafka, FIRM_A, client_id)
        wrong = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 101)]

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
                return await asyncio.gather(
                    *(client.post(f"/client/links/{token}/code", json={"code": c}) for c in wrong)
                )

        answers = asyncio.run(burst())
        assert {(r.status_code, r.json()["detail"]) for r in answers} == {(401, NOT_ACCEPTED)}
        right = http.post(f"/client/links/{token}/code", json={"code": code})
        assert right.status_code == 401  # locked: even the right code is refused
        view = http.get(f"/v1/clients/{client_id}", headers=firm(FIRM_A)).json()
        assert view["login_locked_until"].startswith("2026-02-02T11:00")
        eventually(lambda: http.get("/health").json()["outbox_pending"] == 0, what="the outbox")

    events = topic_rows(
        kafka, CLIENT_EVENTS, lambda rs: bool(of_client(rs, client_id, event_type="LOGIN_LOCKED"))
    )
    failed = of_client(events, client_id, event_type="OTP_FAILED")
    assert len(failed) == 3 and {f["failure_reason"] for f in failed} == {"WRONG_CODE"}
    [locked] = of_client(events, client_id, event_type="LOGIN_LOCKED")
    assert str(locked["caused_by"]) == str(failed[2]["event_id"])
    assert locked["locked_until"] == T0 + timedelta(hours=2)
    assert not of_client(events, client_id, event_type="OTP_VERIFIED")


def test_an_email_change_while_not_enrolled_re_sends_the_invite_with_a_new_link(
    service: Service,
) -> None:
    client_id = service.add_client(email="old.address@example.com")
    service.invite(client_id)
    old = link_token(service.kafka, client_id, "DYNAMIC_PASSWORD_INVITE")
    changed = service.http.patch(
        f"/v1/clients/{client_id}/contact",
        json={"email": "new.address@example.com"},
        headers=firm(FIRM_A),
    )
    assert changed.status_code == 200 and changed.json()["email_masked"] == "n***@e***.com"
    new = link_token(service.kafka, client_id, "DYNAMIC_PASSWORD_INVITE", count=2)
    assert new != old
    assert service.http.post(f"/client/links/{old}").status_code == 401
    opened = service.http.post(f"/client/links/{new}")
    assert opened.status_code == 200 and opened.json()["code_sent"] is True

    events = topic_rows(
        service.kafka,
        CLIENT_EVENTS,
        lambda rs: len(of_client(rs, client_id, event_type="INVITE_SENT")) >= 2,
    )
    reinvite = of_client(events, client_id, event_type="INVITE_SENT")[1]
    assert reinvite["invite_trigger"] == "EMAIL_CHANGED" and reinvite["actor"] == "SYSTEM"
    contacts = topic_rows(service.kafka, CLIENT_CONTACTS, lambda rs: len(rs) >= 2)
    sealer = ContactSealer(MASTER.encode(), "k1")
    latest = sealer.open(FIRM_A, client_id, of_client(contacts, client_id)[-1]["sealed"])
    assert latest == Contact(email="new.address@example.com", phone="+15550101234")
