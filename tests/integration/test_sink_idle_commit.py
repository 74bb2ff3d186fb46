"""An idle sink has committed everything it stored: its consumer group's offsets reach the end
of every partition without another record arriving (lag 0 in monitoring, nothing re-read on
restart), and still only after the insert succeeded."""

from __future__ import annotations

import time
import uuid

from clickhouse_connect.driver.client import Client

from ctrack.settings import KafkaSettings, SinkSettings
from schemas import catalogue, tracking
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from sinks.clickhouse.sink import ClickHouseSink
from tests.factories import tracking_event
from tests.integration.sink_offsets import committed, end_offsets
from tests.integration.test_sink import firm_counts, produce

DEADLINE_S = 60.0
CHECK_EVERY_S = 0.25
SINK = SinkSettings(batch_max_seconds=0.2)


def test_offsets_of_the_last_batch_are_committed_while_the_sink_idles(
    kafka: KafkaSettings, clickhouse: Client
) -> None:
    firm, events = f"F-{uuid.uuid4().hex[:12]}", 500
    records = [
        (
            tracking.SCHEMA_NAME,
            f"{firm}-R{n % 40}",
            tracking.to_record(
                tracking_event(
                    TrackingEventType.TAX_RETURN_ACCESSED,
                    return_id=f"{firm}-R{n % 40}",
                    firm_id=firm,
                    minute=n,
                )
            ),
        )
        for n in range(events)
    ]
    produce(kafka, records)
    topic = TopicNames(kafka.topic_prefix).of(catalogue.TRACKING)
    ends = end_offsets(kafka, topic)
    assert sum(ends) == events and sum(1 for end in ends if end) > 1  # several partitions

    sink = ClickHouseSink(clickhouse, kafka, SINK, AvroCodec())
    seen: dict[str, object] = {}
    deadline, next_check = time.monotonic() + DEADLINE_S, 0.0

    def caught_up() -> bool:
        """Stop once, with the sink still running, every stored record's offset is committed."""
        nonlocal next_check
        if time.monotonic() > deadline:
            return True
        if time.monotonic() < next_check:
            return False
        next_check = time.monotonic() + CHECK_EVERY_S
        if firm_counts(clickhouse, firm)["tracking_events"] < events:
            return False
        seen["stored_before_commit_check"] = True
        # a partition that got no record has no committed offset (-1001): nothing to commit
        seen["committed"] = [max(offset, 0) for offset in committed(kafka, topic, SINK)]
        return seen["committed"] == ends

    sink.run(caught_up)

    assert seen.get("stored_before_commit_check") is True
    assert seen["committed"] == ends  # observed while running, before the sink's final flush
    assert firm_counts(clickhouse, firm)["tracking_events"] == events
