"""Records nobody can read are kept, with the reason, in the dead-letter topic and table."""

from __future__ import annotations

import subprocess
import time
import uuid

from clickhouse_connect.driver.client import Client
from confluent_kafka import Message, Producer

from ctrack.settings import KafkaSettings, SinkSettings
from producers.event_producer import EventProducer
from schemas import dead_letter
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.dead_letter import OVERSIZED_KEPT_BYTES
from schemas.tracking import TrackingEventType
from sinks.clickhouse.sink import ClickHouseSink
from tests.conftest import WorkerFactory
from tests.factories import tracking_event
from tests.integration.kafka_helpers import consume_until


def test_poison_record_goes_to_dead_letters_while_good_records_flow(
    kafka: KafkaSettings, clickhouse: Client, stream_worker: subprocess.Popen[bytes]
) -> None:
    codec, topics = AvroCodec(), TopicNames(kafka.topic_prefix)
    return_id = f"R-{uuid.uuid4().hex}"
    poison = b"this is not avro " + uuid.uuid4().bytes
    with EventProducer(kafka, codec) as producer:
        producer.send_tracking(
            tracking_event(TrackingEventType.INITIAL_EMAIL_PROCESSED, return_id=return_id)
        )
    raw = Producer({"bootstrap.servers": kafka.bootstrap})
    raw.produce(topics.tracking, key=return_id.encode(), value=poison)
    raw.flush(10)
    with EventProducer(kafka, codec) as producer:
        producer.send_tracking(
            tracking_event(TrackingEventType.INITIAL_EMAIL_DELIVERED, return_id=return_id, minute=1)
        )

    [letter] = consume_until(kafka.bootstrap, topics.dead_letter, lambda ms: len(ms) >= 1)
    record = codec.decode(letter.value())
    assert record.schema_name == dead_letter.SCHEMA_NAME
    assert record.record["stage"] == "streams.returns"
    assert record.record["error_type"] == "UnknownEncodingError"
    assert record.record["payload"] == poison
    assert record.record["source_topic"] == topics.tracking
    assert letter.key() == return_id.encode()

    sink = ClickHouseSink(clickhouse, kafka, SinkSettings(batch_max_seconds=0.2), codec)
    deadline = time.monotonic() + 60

    def stored() -> tuple[int, int]:
        good = clickhouse.query(
            "SELECT count() FROM tracking_events FINAL WHERE return_id = {r:String}",
            parameters={"r": return_id},
        ).result_rows[0][0]
        bad = clickhouse.query(
            "SELECT count() FROM dead_letters FINAL WHERE source_topic = {t:String}",
            parameters={"t": topics.tracking},
        ).result_rows[0][0]
        return int(good), int(bad)

    sink.run(lambda: stored() == (2, 2) or time.monotonic() > deadline)
    assert stored() == (2, 2)  # two good events; the poison seen by the worker and by the sink
    rows = clickhouse.query(
        "SELECT stage, error_type, payload FROM dead_letters FINAL"
        " WHERE source_topic = {t:String} ORDER BY stage",
        parameters={"t": topics.tracking},
    ).result_rows
    assert [(stage, error) for stage, error, _ in rows] == [
        ("sinks.clickhouse", "UnknownEncodingError"),
        ("streams.returns", "UnknownEncodingError"),
    ]
    assert all(
        payload.encode() if isinstance(payload, str) else payload == poison for *_, payload in rows
    )


def test_the_worker_dead_letters_a_record_over_the_size_limit_with_its_head_only(
    kafka: KafkaSettings, workers: WorkerFactory
) -> None:
    workers.start(CTRACK_MAX_RECORD_BYTES="2000")
    codec, topics = AvroCodec(), TopicNames(kafka.topic_prefix)
    return_id = f"R-{uuid.uuid4().hex}"
    big = tracking_event(
        TrackingEventType.DOCUMENT_DOWNLOADED, return_id=return_id, detail="x" * 5000 + ".pdf"
    )
    with EventProducer(kafka, codec) as producer:
        producer.send_tracking(big)
        for _ in range(3):  # behind it, a lock: the worker went on
            producer.send_tracking(
                tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=return_id)
            )

    letters = consume_until(kafka.bootstrap, topics.dead_letter, lambda ms: len(ms) >= 1)
    records = [codec.decode(m.value() or b"").record for m in letters]
    # at least once: a repeat carries the same id (one row in ClickHouse)
    assert len({r["dead_letter_id"] for r in records}) == 1, records
    letter, record = letters[0], records[0]
    assert (record["stage"], record["error_type"]) == ("streams.returns", "RecordTooLargeError")
    assert "exceeds the 2000-byte limit" in record["reason"]
    assert len(record["payload"]) == OVERSIZED_KEPT_BYTES  # its head, not the whole record
    assert letter.key() == return_id.encode()

    def locks(messages: list[Message]) -> list[dict[str, object]]:
        decoded = (codec.decode(m.value() or b"").record for m in messages)
        return [r for r in decoded if r["event_type"] == "ACCESS_LOCKED"]

    seen = consume_until(kafka.bootstrap, topics.tracking, lambda ms: bool(locks(ms)))
    assert [r["return_id"] for r in locks(seen)] == [return_id]


def test_the_worker_dead_letters_a_tombstone_and_goes_on(
    kafka: KafkaSettings, workers: WorkerFactory
) -> None:
    workers.start()
    codec, topics = AvroCodec(), TopicNames(kafka.topic_prefix)
    return_id = f"R-{uuid.uuid4().hex}"
    raw = Producer({"bootstrap.servers": kafka.bootstrap})
    raw.produce(topics.tracking, key=return_id.encode(), value=None)  # no event in it
    raw.flush(10)
    with EventProducer(kafka, codec) as producer:
        for _ in range(3):
            producer.send_tracking(
                tracking_event(TrackingEventType.AUTHENTICATION_FAILED, return_id=return_id)
            )

    [letter] = consume_until(kafka.bootstrap, topics.dead_letter, lambda ms: len(ms) >= 1)
    record = codec.decode(letter.value() or b"").record
    assert (record["stage"], record["error_type"]) == ("streams.returns", "DeserializationError")
    assert record["reason"] == "record has no value"
    assert (record["source_topic"], record["payload"]) == (topics.tracking, b"")

    def locked(messages: list[Message]) -> bool:  # behind the tombstone: the worker went on
        decoded = (codec.decode(m.value() or b"").record for m in messages if m.value())
        return any(r["event_type"] == "ACCESS_LOCKED" for r in decoded)

    assert locked(consume_until(kafka.bootstrap, topics.tracking, locked))
