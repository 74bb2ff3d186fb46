"""Records over the size limit are poison for the sink: a dead letter with the reason, never a
row, on the fast path (ClickHouse decodes the Avro) and on the Python path alike."""

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
from schemas.dead_letter import OVERSIZED_KEPT_BYTES
from schemas.tracking import TrackingEventType
from sinks.clickhouse.sink import ClickHouseSink
from tests.factories import tracking_event

CODEC = AvroCodec()
DEADLINE_S = 60.0
OVERSIZED_DETAIL = 2 * 1024 * 1024  # a 2 MiB file name: valid Avro, over the 1 MiB default


def _event(firm: str, return_id: str, minute: int, detail: str) -> dict[str, Any]:
    event = tracking_event(
        TrackingEventType.DOCUMENT_DOWNLOADED,
        return_id=return_id,
        firm_id=firm,
        minute=minute,
        detail=detail,
    )
    return tracking.to_record(event)


def _produce(kafka: KafkaSettings, topic: str, key: bytes, values: list[bytes]) -> list[int]:
    """Produce values in order under one key (one partition); returns their offsets."""
    offsets: dict[int, int] = {}
    producer = Producer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "partitioner": "murmur2_random",
            "message.max.bytes": 8 * 1024 * 1024,  # the local broker takes up to 8 MiB
        }
    )

    def delivered(index: int) -> Any:
        def report(error: KafkaError | None, message: Message) -> None:
            assert error is None, error
            offsets[index] = message.offset()  # type: ignore[assignment]  # delivered: has one

        return report

    for index, value in enumerate(values):
        producer.produce(topic, value, key, on_delivery=delivered(index))
    assert producer.flush(30) == 0
    return [offsets[index] for index in range(len(values))]


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "python path"])
def test_a_record_over_the_limit_is_dead_lettered_with_its_size_not_stored(
    kafka: KafkaSettings, clickhouse: Client, fast_path: bool
) -> None:
    firm = f"F-{uuid.uuid4().hex[:12]}"
    return_id, topic = f"{firm}-R1", TopicNames(kafka.topic_prefix).tracking
    records = [
        _event(firm, return_id, 1, "before.pdf"),
        _event(firm, return_id, 2, "x" * OVERSIZED_DETAIL + ".pdf"),
        _event(firm, return_id, 3, "after.pdf"),
    ]
    values = [CODEC.encode(tracking.SCHEMA_NAME, r, topic=topic) for r in records]
    big = values[1]
    assert len(big) > kafka.max_record_bytes == 1024 * 1024  # the documented default
    offsets = _produce(kafka, topic, return_id.encode(), values)

    def stored() -> list[str]:
        return [
            str(row[0])
            for row in clickhouse.query(
                "SELECT event_id FROM tracking_events FINAL WHERE firm_id = {f:String}"
                " ORDER BY occurred_at",
                parameters={"f": firm},
            ).result_rows
        ]

    def letters() -> list[tuple[Any, ...]]:
        return [
            tuple(row)
            for row in clickhouse.query(
                "SELECT source_offset, stage, error_type, reason, hex(payload), hex(source_key)"
                " FROM dead_letters FINAL WHERE source_topic = {t:String}",
                parameters={"t": topic},
            ).result_rows
        ]

    sink = ClickHouseSink(
        clickhouse, kafka, SinkSettings(batch_max_seconds=0.2), CODEC, fast_path=fast_path
    )
    deadline = time.monotonic() + DEADLINE_S
    sink.run(lambda: (len(stored()) == 2 and len(letters()) == 1) or time.monotonic() > deadline)

    assert stored() == [records[0]["event_id"], records[2]["event_id"]]
    ((offset, stage, error_type, reason, payload, key),) = letters()
    assert (offset, stage, error_type) == (offsets[1], "sinks.clickhouse", "RecordTooLargeError")
    assert f"record of {len(big)} bytes exceeds the 1048576-byte limit" in reason
    assert bytes.fromhex(payload) == big[:OVERSIZED_KEPT_BYTES]  # its head, not 2 MiB
    assert bytes.fromhex(key) == return_id.encode()
    assert sink.stats.dead_letters == 1
    assert sink.stats.fast_rows == (2 if fast_path else 0)
