"""The Avro codec: both wire formats, evolution, and typed errors for everything else."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from hypothesis import given
from hypothesis import strategies as st

from schemas import tracking
from schemas.codec import SINGLE_OBJECT_MARKER, AvroCodec
from schemas.errors import (
    DeserializationError,
    SerializationError,
    UnknownEncodingError,
    UnknownSchemaError,
)
from schemas.schema_set import contract_schemas, from_definition
from tests.factories import tracking_event

T = tracking.TrackingEventType
TOPIC = "ctrack.tracking"


def rabin_fingerprint(data: bytes) -> bytes:
    """The Avro specification's reference CRC-64-AVRO, little-endian."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp & 0xFFFFFFFFFFFFFFFF)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def registry_codec() -> AvroCodec:
    return AvroCodec(registry=SchemaRegistryClient.new_client({"url": "mock://codec-tests"}))


def test_single_object_header_is_marker_plus_spec_fingerprint() -> None:
    schema = contract_schemas().get(tracking.SCHEMA_NAME)
    data = AvroCodec().encode(
        tracking.SCHEMA_NAME, tracking.to_record(tracking_event(T.ACCESS_LOCKED)), topic=TOPIC
    )
    assert data[:2] == SINGLE_OBJECT_MARKER
    assert data[2:10] == rabin_fingerprint(schema.canonical.encode()) == schema.fingerprint


@pytest.mark.parametrize(
    "make_codec", [AvroCodec, registry_codec], ids=["single-object", "registry"]
)
def test_round_trip(make_codec: Any) -> None:
    codec = make_codec()
    event = tracking_event(T.K1_DISTRIBUTED, detail="Partner A", client_id="C-9", kba_round=2)
    decoded = codec.decode(
        codec.encode(tracking.SCHEMA_NAME, tracking.to_record(event), topic=TOPIC)
    )
    assert decoded.schema_name == tracking.SCHEMA_NAME
    assert tracking.from_record(decoded.record) == event


def test_registry_records_start_with_magic_byte_and_schema_id() -> None:
    codec = registry_codec()
    data = codec.encode(
        tracking.SCHEMA_NAME, tracking.to_record(tracking_event(T.FILES_UPLOADED)), topic=TOPIC
    )
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0 and schema_id >= 1


def test_a_registry_record_without_a_registry_is_a_typed_error() -> None:
    data = registry_codec().encode(
        tracking.SCHEMA_NAME, tracking.to_record(tracking_event(T.FILES_UPLOADED)), topic=TOPIC
    )
    with pytest.raises(UnknownSchemaError, match="SCHEMA_REGISTRY_URL"):
        AvroCodec().decode(data)


def test_a_single_object_codec_reads_both_when_it_has_a_registry() -> None:
    codec = registry_codec()
    event = tracking_event(T.DOCUMENT_DOWNLOADED, detail="1040.pdf")
    plain = AvroCodec().encode(tracking.SCHEMA_NAME, tracking.to_record(event), topic=TOPIC)
    assert tracking.from_record(codec.decode(plain).record) == event


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", UnknownEncodingError),
        (b'{"json": true}', UnknownEncodingError),
        (b"\xc3\x01" + b"\x00" * 8 + b"abc", UnknownSchemaError),
        (b"\x00\x00", UnknownEncodingError),
    ],
    ids=["empty", "json", "unknown-fingerprint", "short-registry-header"],
)
def test_junk_raises_typed_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        AvroCodec().decode(data)


def test_truncated_and_padded_bodies_are_rejected() -> None:
    data = AvroCodec().encode(
        tracking.SCHEMA_NAME, tracking.to_record(tracking_event(T.ACCESS_LOCKED)), topic=TOPIC
    )
    with pytest.raises(DeserializationError):
        AvroCodec().decode(data[:-5])
    with pytest.raises(DeserializationError, match="trailing"):
        AvroCodec().decode(data + b"\x00")


@pytest.mark.parametrize(
    "change",
    [
        {"firm_id": None},
        {"event_type": "NOT_A_GLOSSARY_EVENT"},
        {"kba_round": "two"},
        {"occurred_at": "yesterday"},
    ],
)
def test_invalid_records_raise_serialization_error(change: dict[str, Any]) -> None:
    record = tracking.to_record(tracking_event(T.KBA_FAILED)) | change
    with pytest.raises(SerializationError):
        AvroCodec().encode(tracking.SCHEMA_NAME, record, topic=TOPIC)


def test_unknown_schema_name_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError):
        AvroCodec().encode("ctrack.Nope", {}, topic=TOPIC)


def test_records_from_an_older_writer_schema_resolve_to_the_current_reader(tmp_path: Path) -> None:
    """A v0 writer without the newer optional fields and enum symbols still decodes."""
    current = json.loads(contract_schemas().get(tracking.SCHEMA_NAME).source)
    older = dict(
        current,
        fields=[f for f in current["fields"] if f["name"] not in {"kba_round", "caused_by"}],
    )
    (tmp_path / "ctrack.tracking.TrackingEvent.avsc").write_text(json.dumps(older))
    writer = from_definition(older)
    schemas = contract_schemas()
    evolved = type(schemas)(
        by_name=schemas.by_name,
        by_fingerprint={**schemas.by_fingerprint, writer.fingerprint: writer},
    )
    old_record = {
        k: v
        for k, v in tracking.to_record(tracking_event(T.ACCESS_LINK_SELECTED)).items()
        if k not in {"kba_round", "caused_by"}
    }
    old_bytes = AvroCodec(
        schemas=type(schemas)(by_name={writer.full_name: writer}, by_fingerprint={})
    ).encode(tracking.SCHEMA_NAME, old_record, topic=TOPIC)
    decoded = AvroCodec(schemas=evolved).decode(old_bytes)
    assert decoded.record["kba_round"] is None and decoded.record["caused_by"] is None
    assert decoded.record["event_type"] == "ACCESS_LINK_SELECTED"


texts = st.text(max_size=40)
optional_texts = st.none() | texts


@given(
    event_type=st.sampled_from(list(T)),
    role=st.sampled_from(list(tracking.RecipientRole)),
    actor=st.sampled_from(list(tracking.Actor)),
    firm_id=texts,
    return_id=texts,
    client_id=optional_texts,
    firm_user=optional_texts,
    detail=optional_texts,
    reason=st.none() | st.sampled_from(list(tracking.AuthFailureReason)),
    kba_round=st.none() | st.integers(min_value=1, max_value=3),
    when=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    via_registry=st.booleans(),
)
def test_any_valid_event_round_trips(  # noqa: PLR0913 - one argument per field
    event_type: T,
    role: tracking.RecipientRole,
    actor: tracking.Actor,
    firm_id: str,
    return_id: str,
    client_id: str | None,
    firm_user: str | None,
    detail: str | None,
    reason: tracking.AuthFailureReason | None,
    kba_round: int | None,
    when: datetime,
    via_registry: bool,
) -> None:
    event = tracking_event(
        event_type,
        role=role,
        actor=actor,
        firm_id=firm_id,
        return_id=return_id,
        client_id=client_id,
        firm_user=firm_user,
        detail=detail,
        failure_reason=reason,
        kba_round=kba_round,
    )
    event = tracking.TrackingEvent(
        **{
            **_fields(event),
            "occurred_at": when.replace(microsecond=when.microsecond // 1000 * 1000, tzinfo=UTC),
        }
    )
    codec = _REGISTRY_CODEC if via_registry else _PLAIN_CODEC
    data = codec.encode(tracking.SCHEMA_NAME, tracking.to_record(event), topic=TOPIC)
    assert tracking.from_record(codec.decode(data).record) == event


_PLAIN_CODEC = AvroCodec()
_REGISTRY_CODEC = registry_codec()


def _fields(event: tracking.TrackingEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in tracking.TrackingEvent.__dataclass_fields__}
