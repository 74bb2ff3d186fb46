"""The compiled Avro readers return exactly what fastavro returns, for every schema of the contract.

The reference is fastavro's `schemaless_reader` itself. For bodies fastavro wrote from valid
records the compiled reader must return the same record (same values, same Python types) and
stop where fastavro stops. For damaged bytes it may decline (the codec then uses fastavro) but
never return a record fastavro would not return; through the codec, damaged bytes end the same
way as with fastavro alone: the same record, or a DeserializationError.
"""

from __future__ import annotations

import io
import uuid
from datetime import tzinfo
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.avro_reader import CompiledReader, compile_reader, long_at, uuid_of
from schemas.codec import SINGLE_OBJECT_MARKER, AvroCodec, Decoded
from schemas.errors import DeserializationError
from schemas.samples import named_types, samples, type_of
from schemas.schema_set import LoadedSchema, contract_schemas, from_definition
from tests.avro_cases import CURRENT, EVERY_VERSION, TEXT, ZONES, schema_id

# Shapes the reader takes that our schemas do not use (yet): maps, nested and recursive
# records, unions of several branches, nested arrays, timestamp-micros.
SHAPES = from_definition(
    {
        "type": "record",
        "name": "Shapes",
        "namespace": "test",
        "fields": [
            {"name": "null_second", "type": ["string", "null"]},
            {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "B"]}},
            {"name": "colours", "type": {"type": "array", "items": "test.Colour"}},
            {"name": "maybe_colour", "type": ["test.Colour", "null"]},
            {
                "name": "grid",
                "type": {"type": "array", "items": {"type": "array", "items": "long"}},
            },
            {"name": "tags", "type": {"type": "map", "values": ["null", "int"]}},
            {"name": "many", "type": ["null", "string", "long", "boolean", "bytes"]},
            {
                "name": "child",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "Child",
                        "fields": [
                            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
                            {"name": "next", "type": ["null", "test.Child"]},
                        ],
                    },
                ],
            },
            {"name": "micros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "nothing", "type": "null"},
        ],
    }
)
SCHEMAS = [*EVERY_VERSION, SHAPES]
Strategy = st.SearchStrategy[Any]
READERS: dict[bytes, CompiledReader | None] = {}
CODEC = AvroCodec()


def compiled(schema: LoadedSchema) -> CompiledReader:
    reader = READERS.get(schema.fingerprint) or READERS.setdefault(
        schema.fingerprint, compile_reader(schema.parsed)
    )
    assert reader is not None
    return reader


def fastavro_read(schema: LoadedSchema, body: bytes) -> tuple[Any, int] | None:
    """fastavro's record and where it stopped, or None where it refuses the bytes."""
    stream = io.BytesIO(body)
    try:
        record = schemaless_reader(stream, schema.parsed, None)
    except Exception:
        return None
    return record, stream.tell()


def compiled_read(schema: LoadedSchema, body: bytes) -> tuple[Any, int] | None:
    try:
        return compiled(schema)(body, 0)
    except Exception:
        return None


def typed(value: Any) -> Any:
    """The value with the type of every part spelled out: equal only if the types are equal."""
    if isinstance(value, dict):
        return (dict, [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return (list, [typed(item) for item in value])
    if isinstance(value, tzinfo):
        return (type(value), repr(value))
    extra = typed(value.tzinfo) if hasattr(value, "tzinfo") else None
    return (type(value), value, extra)


def write(schema: LoadedSchema, record: Any) -> bytes:
    body = io.BytesIO()
    schemaless_writer(body, schema.parsed, record)
    return body.getvalue()


class Values:
    """Hypothesis strategies of valid values of a schema's types."""

    def __init__(self, record: LoadedSchema):
        self._named = named_types(record.parsed)

    def valid(self, schema: Any, depth: int = 0) -> Strategy:
        schema = self._named.get(schema, schema) if isinstance(schema, str) else schema
        if isinstance(schema, list):
            branches = schema if depth < 3 else schema[:1]  # recursive records end
            return st.one_of([self.valid(branch, depth + 1) for branch in branches])
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        kind = type_of(schema)
        if logical in LOGICAL_VALUES:
            return LOGICAL_VALUES[logical]
        if kind == "enum":
            return st.sampled_from(schema["symbols"])
        if kind == "array":
            return st.lists(self.valid(schema["items"], depth), max_size=4)
        if kind == "map":
            return st.dictionaries(TEXT, self.valid(schema["values"], depth), max_size=3)
        if kind == "record":
            return st.fixed_dictionaries(
                {f["name"]: self.valid(f["type"], depth) for f in schema["fields"]}
            )
        return PRIMITIVE_VALUES[kind]


PRIMITIVE_VALUES: dict[str, Strategy] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "string": TEXT,
    "bytes": st.binary(max_size=30) | st.builds(bytes, st.integers(0, 10_000)),
}
# Only values fastavro can read back: timestamps and dates inside datetime's range.
LOGICAL_VALUES: dict[str, Strategy] = {
    "timestamp-millis": st.datetimes(timezones=ZONES).filter(lambda d: d.year > 1),
    "timestamp-micros": st.datetimes(timezones=ZONES).filter(lambda d: d.year > 1),
    "date": st.dates(),
    "uuid": st.uuids() | st.uuids().map(str),
}


# Small values, odd ones (negative varints) and continuation bytes: likely to still decode.
BYTES = st.sampled_from([0, 1, 2, 3, 4, 0x7E, 0x7F, 0x80, 0x81, 0xFF]) | st.integers(0, 255)


def damaged(body: bytes) -> Strategy:
    """Bodies cut short, padded, with bytes changed, or random."""
    cut = st.integers(0, max(len(body) - 1, 0)).map(lambda n: body[:n])
    padded = st.binary(min_size=1, max_size=4).map(lambda extra: body + extra)
    changed = st.lists(
        st.tuples(st.integers(0, max(len(body) - 1, 0)), BYTES), min_size=1, max_size=3
    ).map(lambda changes: _changed(body, changes))
    return cut | padded | changed | st.binary(max_size=64)


def _changed(body: bytes, changes: list[tuple[int, int]]) -> bytes:
    out = bytearray(body)
    for index, byte in changes:
        if index < len(out):
            out[index] = byte
    return bytes(out)


@pytest.mark.parametrize("schema", EVERY_VERSION, ids=schema_id)
def test_every_schema_compiles_and_reads_its_samples_exactly(schema: LoadedSchema) -> None:
    """The fast path exists for every schema and takes every union branch and enum symbol."""
    for record in samples(schema.parsed):
        body = write(schema, record)
        got, expected = compiled_read(schema, body), fastavro_read(schema, body)
        assert got is not None and expected is not None
        assert typed(got) == typed(expected)
        assert got[1] == len(body)


@pytest.mark.parametrize("schema", SCHEMAS, ids=schema_id)
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_valid_records_are_read_exactly_as_fastavro_reads_them(
    schema: LoadedSchema, data: st.DataObject
) -> None:
    body = write(schema, data.draw(Values(schema).valid(schema.parsed)))
    expected = fastavro_read(schema, body)
    assert expected is not None
    assert typed(compiled_read(schema, body)) == typed(expected)


@pytest.mark.parametrize("schema", SCHEMAS, ids=schema_id)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damaged_bodies_are_declined_or_read_exactly_as_fastavro_reads_them(
    schema: LoadedSchema, data: st.DataObject
) -> None:
    body = write(schema, data.draw(Values(schema).valid(schema.parsed)))
    spoiled = data.draw(damaged(body))
    got = compiled_read(schema, spoiled)
    if got is not None:
        assert typed(got) == typed(fastavro_read(schema, spoiled))


def reference_decode(schema: LoadedSchema, body: bytes) -> Any:
    """What the codec returned before the compiled reader: fastavro's record or an error."""
    read = fastavro_read(schema, body)
    if read is None or read[1] != len(body):
        return DeserializationError
    return typed(Decoded(schema.full_name, read[0]).record)


@pytest.mark.parametrize("schema", CURRENT, ids=schema_id)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_codec_decodes_damaged_bytes_as_fastavro_alone_did(
    schema: LoadedSchema, data: st.DataObject
) -> None:
    body = write(schema, data.draw(Values(schema).valid(schema.parsed)))
    if data.draw(st.booleans()):
        body = data.draw(damaged(body))
    try:
        outcome: Any = typed(CODEC.decode(SINGLE_OBJECT_MARKER + schema.fingerprint + body).record)
    except DeserializationError as exc:
        assert type(exc) is DeserializationError  # not one of the header errors
        outcome = DeserializationError
    assert outcome == reference_decode(schema, body)


def test_truncated_and_padded_bodies_are_refused_with_the_same_messages() -> None:
    schema = contract_schemas().get("ctrack.tracking.TrackingEvent")
    data = CODEC.encode(schema.full_name, samples(schema.parsed)[0], topic="t")
    with pytest.raises(DeserializationError, match="body does not decode"):
        CODEC.decode(data[:-3])
    with pytest.raises(DeserializationError, match="2 trailing bytes after the record"):
        CODEC.decode(data + b"\x00\x00")


@pytest.mark.parametrize(
    "varint",
    [b"\x80" * 10 + b"\x01", b"\xff" * 9 + b"\x02", b"\xff" * 20],
    ids=["eleven-bytes", "over-64-bits", "endless"],
)
def test_varints_beyond_64_bits_are_left_to_fastavro(varint: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal hands the bytes to fastavro
        long_at(varint, 1, varint[0])


@given(st.integers(-(2**63), 2**63 - 1))
def test_longs_are_read_as_fastavro_reads_them(value: int) -> None:
    body = io.BytesIO()
    schemaless_writer(body, {"type": "long"}, value)
    data = body.getvalue()
    first = data[0]
    got = ((first >> 1) ^ -(first & 1), 1) if first < 0x80 else long_at(data, 1, first)
    assert got == (value, len(data))


UUID_LIKE = st.text(alphabet="0123456789abcdefABCDEF-+_ {}urn:id", max_size=40)


@given(st.uuids().map(str) | st.uuids().map(lambda u: u.hex) | UUID_LIKE)
def test_uuids_are_made_as_uuid_makes_them_or_left_to_it(text: str) -> None:
    try:
        expected: Any = uuid.UUID(text)
    except ValueError:
        expected = ValueError
    try:
        got = uuid_of(text)
    except Exception:
        return  # declined: fastavro calls UUID itself
    assert got.__getstate__() == expected.__getstate__()  # int and is_safe
    assert (got, hash(got), str(got), type(got)) == (
        expected,
        hash(expected),
        str(expected),
        uuid.UUID,
    )


@pytest.mark.parametrize("bits", range(64))
def test_longs_at_every_varint_length_boundary(bits: int) -> None:
    for value in {2**bits - 1, 2**bits, -(2**bits), -(2**bits) - 1}:
        if -(2**63) <= value < 2**63:
            test_longs_are_read_as_fastavro_reads_them.hypothesis.inner_test(value)  # type: ignore[attr-defined]


def test_schemas_with_types_left_to_fastavro_have_no_compiled_reader() -> None:
    for field_type in (
        "double",
        {"type": "fixed", "name": "F", "size": 2},
        {"type": "int", "logicalType": "time-millis"},
        {"type": "bytes", "logicalType": "decimal", "precision": 4},
    ):
        schema = {"type": "record", "name": "r.R", "fields": [{"name": "f", "type": field_type}]}
        assert compile_reader(schema) is None


def test_older_writer_schemas_are_resolved_by_fastavro() -> None:
    """Schema resolution is not compiled: a writer that differs from the reader gets None."""
    current = contract_schemas().get("ctrack.tracking.TrackingEvent")
    codec = AvroCodec()
    older = dict(current.parsed, fields=current.parsed["fields"][:-1])
    assert codec._compiled_reader(older, current) is None
    assert codec._compiled_reader(current.parsed, current) is not None
