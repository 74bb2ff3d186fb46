"""The sink's fast path (ClickHouse decodes the Avro) against its Python decoding, on real
Kafka and chdb: same rows for every family, exact read positions, bad bodies dead-lettered."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka import KafkaError, Message, Producer

from ctrack.settings import KafkaSettings, SinkSettings
from schemas import tracking
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from sinks.clickhouse.avro_frames import Frames, container, new_frame_mark
from sinks.clickhouse.avro_loading import AvroLoader
from sinks.clickhouse.decoding import PlainDecoder
from sinks.clickhouse.routing import routes
from sinks.clickhouse.rows import KAFKA_COLUMNS
from sinks.clickhouse.sink import ClickHouseSink
from sinks.clickhouse.tables import TABLE_OF_SCHEMA
from tests.factories import tracking_event
from tests.integration.test_sink import FIRM_COUNTS, firm_counts, one_of_each, produce

CODEC = AvroCodec()
DEADLINE_S = 60.0

pytestmark = pytest.mark.usefixtures("paused_merges")


def run_sink(kafka: KafkaSettings, clickhouse: Client, done: Any) -> ClickHouseSink:
    sink = ClickHouseSink(clickhouse, kafka, SinkSettings(batch_max_seconds=0.2), CODEC)
    deadline = time.monotonic() + DEADLINE_S
    sink.run(lambda: done() or time.monotonic() > deadline)
    return sink


def stored(clickhouse: Client, table: str, columns: list[str], firm: str) -> list[tuple[Any, ...]]:
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE firm_id = {{f:String}} ORDER BY ALL"  # noqa: S608
    return [tuple(row) for row in clickhouse.query(sql, parameters={"f": firm}).result_rows]


def test_every_family_stores_the_same_rows_as_python_decoding(
    kafka: KafkaSettings, clickhouse: Client
) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    records = one_of_each(firm)
    produce(kafka, records)

    sink = run_sink(kafka, clickhouse, lambda: firm_counts(clickhouse, firm) == FIRM_COUNTS)

    assert sink.stats.fallbacks == 0
    assert sink.stats.fast_rows == len(records)  # every family took the fast path
    decoder = PlainDecoder(CODEC)
    for schema_name in {schema for schema, _, _ in records}:
        table = TABLE_OF_SCHEMA[schema_name]
        columns = [c for c in table.columns if c not in KAFKA_COLUMNS]
        scratch = f"expected_{uuid.uuid4().hex[:8]}"
        clickhouse.command(f"CREATE TABLE {scratch} AS {table.name} ENGINE = Memory")
        try:
            rows = [
                table.to_row(decoder.decode(CODEC.encode(schema, record, topic="t"))[1], 0, 0)
                for schema, _, record in records
                if schema == schema_name
            ]
            clickhouse.insert(
                scratch,
                list(zip(*rows, strict=True)),
                column_names=table.columns,
                column_oriented=True,
            )
            assert stored(clickhouse, table.name, columns, firm) == stored(
                clickhouse, scratch, columns, firm
            ), table.name
        finally:
            clickhouse.command(f"DROP TABLE {scratch}")


def _produce_raw(
    kafka: KafkaSettings, topic: str, values: list[tuple[bytes, bytes]]
) -> list[tuple[int, int]]:
    """Produce (key, value)s in order; returns each one's (partition, offset)."""
    positions: dict[int, tuple[int, int]] = {}
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})

    def delivered(index: int) -> Any:
        def report(error: KafkaError | None, message: Message) -> None:
            assert error is None
            positions[index] = (message.partition(), message.offset())  # type: ignore[assignment]

        return report

    for index, (key, value) in enumerate(values):
        producer.produce(topic, value, key, on_delivery=delivered(index))
    assert producer.flush(10) == 0
    return [positions[index] for index in range(len(values))]


def _encoded(firm: str, return_id: str, minute: int, **fields: Any) -> bytes:
    event = tracking_event(
        TrackingEventType.DOCUMENT_DOWNLOADED,
        return_id=return_id,
        firm_id=firm,
        minute=minute,
        **fields,
    )
    return CODEC.encode(tracking.SCHEMA_NAME, tracking.to_record(event), topic="t")


def test_bad_bodies_behind_a_good_header_are_dead_lettered_and_the_rest_stored_in_place(
    kafka: KafkaSettings, clickhouse: Client
) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    key, topic = f"{firm}-R1".encode(), TopicNames(kafka.topic_prefix).tracking
    good = [_encoded(firm, key.decode(), minute) for minute in range(20)]
    zero_id = _encoded(firm, key.decode(), 99, firm_user="XXXX")
    bad = {
        "truncated": good[0][:-5],
        "trailing bytes": good[1] + b"\x00\x00",
        "invalid UTF-8": zero_id.replace(b"XXXX", b"\xff\xfe\xfd\xfc"),
        "not a UUID": _with_event_id(good[2], b"not-a-uuid-but-thirty-six-chars-long"),
    }
    values = [*good[:10], *bad.values(), *good[10:]]
    positions = _produce_raw(kafka, topic, [(key, value) for value in values])

    def letters() -> list[tuple[Any, ...]]:
        return [
            tuple(row)
            for row in clickhouse.query(
                "SELECT source_partition, source_offset, error_type FROM dead_letters FINAL"
                " WHERE source_topic = {t:String} ORDER BY source_offset",
                parameters={"t": topic},
            ).result_rows
        ]

    sink = run_sink(
        kafka,
        clickhouse,
        lambda: (
            firm_counts(clickhouse, firm)["tracking_events"] == len(good)
            and len(letters()) == len(bad)
        ),
    )

    assert sink.stats.fallbacks >= 1
    assert [(p, o) for p, o, _ in letters()] == positions[10:14]
    assert {error_type for _, _, error_type in letters()} <= {"DeserializationError"}
    expected = sorted(
        (str(PlainDecoder(CODEC).decode(value)[1]["event_id"]), *positions[index])
        for index, value in enumerate(values)
        if value in good
    )
    assert (
        stored(clickhouse, "tracking_events", ["toString(event_id)", *KAFKA_COLUMNS], firm)
        == expected
    )


def _with_event_id(encoded: bytes, event_id: bytes) -> bytes:
    """`encoded` with its event_id (the first field, 36 characters) replaced by `event_id`."""
    assert len(event_id) == 36
    body_start = 10 + 1  # header, then the string's length (36, zig-zag: one byte)
    return encoded[:body_start] + event_id + encoded[body_start + 36 :]


def test_a_retried_fast_path_insert_is_dropped_by_its_token(clickhouse: Client) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    route = routes("t", PlainDecoder(CODEC))[TopicNames("t").tracking]
    values = [_encoded(firm, f"{firm}-R{i}", i) for i in range(50)]
    frames = Frames.open(3, mark := new_frame_mark())
    for offset, value in enumerate(values):
        frames.add(None, value, 1000 + offset)  # type: ignore[arg-type]  # no fallback here
    body = container(route.frames_format.schema_json, [frames])
    settings = {"insert_deduplication_token": f"{firm}:retry", "async_insert": 0}

    for _ in range(3):  # the first attempt and two retries of the very same insert
        AvroLoader(clickhouse).insert(route.frames_format, body, mark, settings)

    rows = stored(clickhouse, "tracking_events", ["kafka_partition", "kafka_offset"], firm)
    assert rows == [(3, 1000 + offset) for offset in range(50)]
