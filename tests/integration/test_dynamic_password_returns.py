"""A firm user unlocks a locked return through the dynamic password service, with the real
stream worker deciding the locks: 3 failures -> Access Locked -> unlock -> the count starts
from 0 again. Firm isolation: another firm's return answers like a missing one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from ctrack.settings import KafkaSettings
from producers.event_producer import EventProducer
from schemas import tracking
from schemas.catalogue import (
    NOTIFICATIONS,
    RETURN_LIFECYCLE,
    RETURN_LIFECYCLE_EVENT,
    TopicNames,
    TopicSpec,
)
from schemas.tracking import Actor, RecipientRole, TrackingEvent, TrackingEventType
from tests.conftest import WorkerFactory
from tests.factories import tracking_event
from tests.integration.dynamic_password_helpers import (
    FIRM_A,
    FIRM_B,
    Service,
    eventually,
    firm,
    of_client,
    started_service,
    topic_rows,
)
from tests.integration.kafka_helpers import consume_until
from tests.integration.stream_helpers import CODEC

T = TrackingEventType
TAXPAYER = RecipientRole.TAXPAYER


def deliver(kafka: KafkaSettings, return_id: str, client_id: str) -> None:
    """The firm-side DELIVERED fact that names the return's firm and client."""
    record = {
        "event_id": str(uuid.uuid4()),
        "event_type": "DELIVERED",
        "occurred_at": datetime(2026, 3, 1, tzinfo=UTC),
        "firm_id": FIRM_A,
        "return_id": return_id,
        "client_id": client_id,
        "firm_user": None,
        "recipient_role": None,
        "signature_required": True,
        "voucher_due_dates": [],
        "voucher_due_date": None,
    }
    with EventProducer(kafka, CODEC) as producer:
        producer.send_record(RETURN_LIFECYCLE_EVENT, return_id, record)


def fail(kafka: KafkaSettings, return_id: str, minutes: range) -> list[TrackingEvent]:
    failures = [
        tracking_event(T.AUTHENTICATION_FAILED, return_id=return_id, firm_id=FIRM_A, minute=m)
        for m in minutes
    ]
    with EventProducer(kafka, CODEC) as producer:
        for failure in failures:
            producer.send_tracking(failure)
    return failures


def touches(kafka: KafkaSettings, return_id: str, event_type: T, count: int) -> list[Message]:
    """The return's tracking messages of `event_type`, once there are `count` of them."""

    def of_type(messages: list[Message]) -> list[Message]:
        return [
            m
            for m in messages
            if _touch(m).return_id == return_id and _touch(m).event_type is event_type
        ]

    topic = TopicNames(kafka.topic_prefix).tracking
    found = of_type(
        consume_until(kafka.bootstrap, topic, lambda ms: len(of_type(ms)) >= count, 120)
    )
    assert len(found) == count, f"{len(found)} {event_type} of {count}"
    return found


def _touch(message: Message) -> TrackingEvent:
    return tracking.from_record(CODEC.decode(message.value()).record)


def access(service: Service, return_id: str, firm_id: str = FIRM_A) -> Any:
    response = service.http.get(f"/v1/returns/{return_id}", headers=firm(firm_id))
    return response.status_code, response.json()


def of_return(rows: list[dict[str, Any]], return_id: str) -> list[dict[str, Any]]:
    return [row for row in rows if row.get("return_id") == return_id]


def locked_view(return_id: str, client_id: str, failures: int, locked: bool) -> Any:
    recipient = {"recipient_role": "TAXPAYER", "consecutive_failures": failures, "locked": locked}
    return 200, {"return_id": return_id, "client_id": client_id, "recipients": [recipient]}


def test_unlock_through_the_service_resets_the_workers_lock_and_count(
    kafka: KafkaSettings, tmp_path: Path, workers: WorkerFactory
) -> None:
    workers.start()
    return_id = f"R-{uuid.uuid4().hex}"
    with started_service(kafka, tmp_path / "auth") as service:
        client_id = service.add_client()
        deliver(kafka, return_id, client_id)
        first = fail(kafka, return_id, range(3))
        [lock] = touches(kafka, return_id, T.ACCESS_LOCKED, 1)
        assert _touch(lock).caused_by == first[2].event_id
        eventually(
            lambda: access(service, return_id) == locked_view(return_id, client_id, 3, True),
            what="the service to see the lock",
        )

        # another firm's return, a missing return: the same 404, and nothing emitted
        missing = service.http.post("/v1/returns/R-missing/unlock", headers=firm(FIRM_A))
        other = service.http.post(f"/v1/returns/{return_id}/unlock", headers=firm(FIRM_B))
        assert (other.status_code, other.json()) == (missing.status_code, missing.json())
        assert (other.status_code, other.json()) == (404, {"detail": "return not found"})
        assert access(service, return_id, FIRM_B) == (404, {"detail": "return not found"})

        unlock = f"/v1/returns/{return_id}/unlock"
        body = {"recipient_role": "TAXPAYER"}
        unlocked = service.http.post(unlock, json=body, headers=firm(FIRM_A, "u.preparer"))
        assert (unlocked.status_code, unlocked.json()) == locked_view(
            return_id, client_id, 0, False
        )
        again = service.http.post(unlock, headers=firm(FIRM_A))
        assert again.status_code == 409

        [message] = touches(kafka, return_id, T.ACCESS_UNLOCKED, 1)
        assert message.key() == return_id.encode()
        assert message.partition() == lock.partition() and message.offset() > lock.offset()
        event = _touch(message)
        assert (event.actor, event.firm_user, event.firm_id) == (
            Actor.FIRM_USER,
            "u.preparer",
            FIRM_A,
        )
        assert (event.recipient_role, event.client_id) == (TAXPAYER, client_id)

        second = fail(kafka, return_id, range(10, 13))
        locks = touches(kafka, return_id, T.ACCESS_LOCKED, 2)
        # counted from 0 after the unlock: the third new failure locks, not the first
        assert _touch(locks[1]).caused_by == second[2].event_id
        eventually(
            lambda: access(service, return_id) == locked_view(return_id, client_id, 3, True),
            what="the service to see the second lock",
        )

    facts = of_return(topic_rows(kafka, RETURN_LIFECYCLE, lambda rs: len(rs) >= 2), return_id)
    unlocked_fact = next(row for row in facts if row["event_type"] == "UNLOCKED")
    assert (unlocked_fact["firm_user"], unlocked_fact["recipient_role"]) == (
        "u.preparer",
        "TAXPAYER",
    )
    assert unlocked_fact["firm_id"] == FIRM_A and unlocked_fact["client_id"] == client_id
    assert_keyed_by_return(kafka, RETURN_LIFECYCLE, return_id)
    notices = topic_rows(
        kafka,
        NOTIFICATIONS,
        lambda rs: bool(of_client(rs, client_id, message_kind="UNLOCK_NOTICE")),
    )
    [notice] = of_client(notices, client_id, message_kind="UNLOCK_NOTICE")
    assert (notice["return_id"], notice["recipient_role"]) == (return_id, "TAXPAYER")
    assert str(notice["caused_by"]) == str(event.event_id)


def assert_keyed_by_return(kafka: KafkaSettings, spec: TopicSpec, return_id: str) -> None:
    topic = TopicNames(kafka.topic_prefix).of(spec)
    messages = consume_until(kafka.bootstrap, topic, lambda ms: len(ms) >= 2)
    ours = [m for m in messages if CODEC.decode(m.value()).record["return_id"] == return_id]
    assert ours and {m.key() for m in ours} == {return_id.encode()}
