"""No field of any schema lets clear PII through the producer, whatever type the field has.

The producer's guard scans only the fields a schema writes as text and relies on encoding to
refuse text anywhere else (then scanning the whole record); this proves the combination,
field by field, for every schema of the contract. No broker: nothing may even be queued.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ctrack.settings import KafkaSettings
from producers.event_producer import EventProducer
from producers.pii_guard import PiiGuard
from schemas.codec import AvroCodec
from schemas.pii import ClearPiiError
from schemas.samples import samples
from schemas.schema_set import contract_schemas

UNREACHABLE = KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unit")
CLEAR_PII = ["123-45-6789", "call (555) 123-4567 today", "jane.doe@example.com"]
SCHEMAS = contract_schemas().by_name
FIELDS = [
    (name, field["name"]) for name, schema in SCHEMAS.items() for field in schema.parsed["fields"]
]


@pytest.fixture
def producer() -> Iterator[EventProducer]:
    with EventProducer(
        UNREACHABLE, AvroCodec(), overrides={"log_level": 0, "message.timeout.ms": 500}
    ) as producer:
        yield producer


def valid_record(schema_name: str) -> dict[str, Any]:
    record: dict[str, Any] = samples(SCHEMAS[schema_name].parsed)[-1]
    return record


@pytest.mark.parametrize(("schema_name", "field"), FIELDS, ids=[f"{s}.{f}" for s, f in FIELDS])
def test_clear_pii_in_any_field_of_any_schema_is_refused_naming_the_field(
    producer: EventProducer, schema_name: str, field: str
) -> None:
    topic = f"unit.{schema_name}"
    for text in CLEAR_PII:
        for value in (text, [text]):  # alone, or inside a list where a scalar belongs
            with pytest.raises(ClearPiiError) as raised:
                producer.send(topic, "k", schema_name, valid_record(schema_name) | {field: value})
            assert f"{schema_name}.{field}" in str(raised.value)
            assert text not in str(raised.value)
    assert (producer.stats.sent, len(producer)) == (0, 0)


@pytest.mark.parametrize("schema_name", list(SCHEMAS))
def test_the_valid_samples_of_every_schema_pass_the_guard(
    producer: EventProducer, schema_name: str
) -> None:
    """The control: the records above were refused for the PII, not for anything else."""
    for record in samples(SCHEMAS[schema_name].parsed):
        producer._pii_guard.check(schema_name, record)
        producer.codec.encode(schema_name, record, topic="unit.t")


def test_the_guard_still_refuses_pii_after_its_memory_of_clean_strings_is_full() -> None:
    guard = PiiGuard(AvroCodec().schema, capacity=2)
    schema_name = "ctrack.tracking.TrackingEvent"
    record = valid_record(schema_name)
    for number in range(5):
        guard.check(schema_name, record | {"detail": f"file {number}.pdf"})
    with pytest.raises(ClearPiiError, match="detail"):
        guard.check(schema_name, record | {"detail": "file 555-123-4567.pdf"})
    guard.check(schema_name, record | {"detail": "file 0.pdf"})  # forgotten, scanned again
