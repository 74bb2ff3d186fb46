"""The walking skeleton end to end: producer -> broker -> faust -> sink -> chdb -> timeline."""

from __future__ import annotations

import subprocess
import time
import uuid

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from ctrack.settings import KafkaSettings, SinkSettings
from producers.event_producer import EventProducer
from schemas import tracking
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import RecipientRole, TrackingEvent, TrackingEventType
from services.timeline.query import return_timeline
from sinks.clickhouse.sink import ClickHouseSink
from tests.factories import tracking_event
from tests.integration.kafka_helpers import consume_until

T = TrackingEventType
TAXPAYER, CC = RecipientRole.TAXPAYER, RecipientRole.CC_RECIPIENT


def _locks(messages: list[Message], codec: AvroCodec) -> list[TrackingEvent]:
    events = [tracking.from_record(codec.decode(m.value()).record) for m in messages]
    return [e for e in events if e.event_type is T.ACCESS_LOCKED]


def stored_count(clickhouse: Client, return_ids: list[str]) -> int:
    query = "SELECT count() FROM tracking_events FINAL WHERE return_id IN {ids:Array(String)}"
    return int(clickhouse.query(query, parameters={"ids": return_ids}).result_rows[0][0])


def test_third_failure_per_recipient_locks_and_the_timeline_shows_it(
    kafka: KafkaSettings, clickhouse: Client, stream_worker: subprocess.Popen[bytes]
) -> None:
    codec = AvroCodec()
    interleaved, recovered = f"R-{uuid.uuid4().hex}", f"R-{uuid.uuid4().hex}"
    fail = T.AUTHENTICATION_FAILED
    story = [
        tracking_event(T.INITIAL_EMAIL_PROCESSED, return_id=interleaved, minute=0),
        *(
            tracking_event(fail, return_id=interleaved, role=role, minute=minute)
            for minute, role in enumerate([TAXPAYER, CC, TAXPAYER, CC, TAXPAYER, CC], start=1)
        ),
        *(
            tracking_event(event_type, return_id=recovered, minute=minute)
            for minute, event_type in enumerate(
                [fail, fail, T.ACCESS_LINK_SELECTED, fail, fail, fail]
            )
        ),
    ]
    with EventProducer(kafka, codec) as producer:
        for event in story:
            producer.send_tracking(event)
    assert producer.stats.delivered == len(story)

    messages = consume_until(
        kafka.bootstrap,
        TopicNames(kafka.topic_prefix).tracking,
        lambda ms: len(_locks(ms, codec)) >= 3 or stream_worker.poll() is not None,
    )
    locks = _locks(messages, codec)
    expected_causes = {story[5].event_id, story[6].event_id, story[-1].event_id}
    assert {lock.caused_by for lock in locks} == expected_causes
    assert len(locks) == 3
    assert {(lock.return_id, lock.recipient_role) for lock in locks} == {
        (interleaved, TAXPAYER),
        (interleaved, CC),
        (recovered, TAXPAYER),
    }
    # The lock shares its return's partition (same key hashing in faust and our producer),
    # so it is ordered after the failure that caused it.
    where = {
        tracking.from_record(codec.decode(m.value()).record).event_id: (m.partition(), m.offset())
        for m in messages
    }
    for lock in locks:
        assert lock.caused_by is not None
        assert where[lock.event_id][0] == where[lock.caused_by][0]
        assert where[lock.event_id][1] > where[lock.caused_by][1]

    sink = ClickHouseSink(clickhouse, kafka, SinkSettings(batch_max_seconds=0.2), codec)
    deadline = time.monotonic() + 60
    sink.run(
        lambda: (
            stored_count(clickhouse, [interleaved, recovered]) >= len(story) + 3
            or time.monotonic() > deadline
        )
    )

    lines = [
        (entry.description, entry.recipient_role)
        for entry in return_timeline(clickhouse, interleaved)
    ]
    assert lines == [
        ("Taxpayer: Initial Email - Processed", TAXPAYER),
        ("Authentication Failed", TAXPAYER),
        ("Authentication Failed", CC),
        ("Authentication Failed", TAXPAYER),
        ("Authentication Failed", CC),
        ("Authentication Failed", TAXPAYER),
        ("Access Locked", TAXPAYER),
        ("Authentication Failed", CC),
        ("Access Locked", CC),
    ]
    recovered_lines = [
        (e.description, e.occurred_at) for e in return_timeline(clickhouse, recovered)
    ]
    assert [d for d, _ in recovered_lines][-2:] == ["Authentication Failed", "Access Locked"]
