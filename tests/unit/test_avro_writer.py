"""The compiled Avro writers write exactly what fastavro writes, for every schema of the contract.

The reference is fastavro's `schemaless_writer` itself. For valid records the compiled writer
must take the record and return the same bytes; for records with odd or invalid values it may
decline (the codec then uses fastavro) but never return bytes fastavro would not write.
"""

from __future__ import annotations

import enum
import io
import uuid
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.avro_writer import (
    INT_RANGE,
    LONG_RANGE,
    CompiledWriter,
    compile_writer,
    write_long,
)
from schemas.codec import SINGLE_OBJECT_MARKER, AvroCodec
from schemas.errors import SerializationError
from schemas.samples import named_types, samples, type_of
from schemas.schema_set import LoadedSchema, from_definition
from tests.avro_cases import CURRENT, EVERY_VERSION, TEXT, ZONES, schema_id

# Shapes the writer takes that our schemas do not use (yet): null second, nested arrays, ...
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
            {"name": "notes", "type": {"type": "array", "items": ["null", "string"]}},
            {"name": "nothing", "type": "null"},
            {"name": "nothings", "type": {"type": "array", "items": "null"}},
            {"name": "flag", "type": ["null", "boolean"]},
            {"name": "blob", "type": ["null", "bytes"]},
            {"name": "when", "type": [{"type": "long", "logicalType": "timestamp-millis"}, "null"]},
        ],
    }
)
Strategy = st.SearchStrategy[Any]
WRITERS: dict[bytes, CompiledWriter | None] = {}


class TextSubclass(str):
    """A `str` subclass (as StrEnum members are): fastavro's business, not the compiled writer's."""


class NoOffset(tzinfo):
    """A tzinfo whose offset is unknown: the datetime counts as naive."""

    def utcoffset(self, _dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, _dt: datetime | None) -> str | None:
        return None

    def dst(self, _dt: datetime | None) -> timedelta | None:
        return None


class LaterDatetime(datetime):
    """A datetime subclass."""


ODD_VALUES: list[Any] = [
    None,
    "",
    "text",
    "\ud800",  # a lone surrogate: no UTF-8 form
    TextSubclass("OTHER"),
    0,
    1,
    -1,
    2**31,
    -(2**31) - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    True,
    False,
    1.5,
    b"bytes",
    bytearray(b"bytes"),
    [],
    [1, "x"],
    (1, 2),
    ("string", "tuple notation"),
    ("null", None),
    {},
    {"k": "v"},
    object(),
    uuid.UUID(int=7),
    date(2026, 4, 15),
    datetime(2026, 3, 2, 9, 0),  # naive: fastavro reads it as local time
    datetime(2026, 3, 2, 9, 0, tzinfo=NoOffset()),
    LaterDatetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    "2026-04-15",
]


def fastavro_bytes(schema: LoadedSchema, record: Any) -> bytes | Exception:
    body = io.BytesIO()
    try:
        schemaless_writer(body, schema.parsed, record)
    except Exception as exc:  # any refusal; the compiled writer must not accept such a record
        return exc
    return body.getvalue()


def compiled_bytes(schema: LoadedSchema, record: Any) -> bytes | None:
    """The compiled writer's bytes, or None where it declines the record (fastavro's turn)."""
    writer = WRITERS.get(schema.fingerprint) or WRITERS.setdefault(
        schema.fingerprint, compile_writer(schema.parsed)
    )
    assert writer is not None
    try:
        return writer(b"", record)
    except Exception:
        return None


class Values:
    """Hypothesis strategies of the values of a schema's types: valid ones, and odd ones."""

    def __init__(self, record: LoadedSchema):
        self._named = named_types(record.parsed)

    def valid(self, schema: Any) -> Strategy:
        schema = self._named.get(schema, schema) if isinstance(schema, str) else schema
        if isinstance(schema, list):
            return st.one_of([self.valid(branch) for branch in schema])
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        kind = type_of(schema)
        if logical in LOGICAL_VALUES:
            return LOGICAL_VALUES[logical]
        if kind == "enum":
            symbols = schema["symbols"]
            as_enum = enum.StrEnum("Symbols", {symbol: symbol for symbol in symbols})  # type: ignore[misc]  # functional API
            return st.sampled_from(symbols) | st.sampled_from(list(as_enum))
        if kind == "array":
            return st.lists(self.valid(schema["items"]), max_size=4)
        return PRIMITIVE_VALUES[kind]

    def record(self, schema: LoadedSchema, odd: bool) -> Strategy:
        """Valid records; with `odd`, some fields get odd values, are missing or added."""
        fields = schema.parsed["fields"]
        valid = st.fixed_dictionaries({f["name"]: self.valid(f["type"]) for f in fields})
        if not odd:
            return valid
        names = [f["name"] for f in fields]
        return st.builds(
            _spoil,
            valid,
            st.dictionaries(st.sampled_from(names), st.sampled_from(ODD_VALUES), max_size=3),
            st.sets(st.sampled_from(names), max_size=2),
            st.booleans(),
        )


def _spoil(
    record: dict[str, Any], odd: dict[str, Any], missing: set[str], extra: bool
) -> dict[str, Any]:
    spoiled = {k: v for k, v in (record | odd).items() if k not in missing}
    return spoiled | {"not_in_schema": object()} if extra else spoiled


PRIMITIVE_VALUES: dict[str, Strategy] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(*INT_RANGE),
    "long": st.integers(*LONG_RANGE),
    "string": TEXT,
    "bytes": st.binary(max_size=30) | st.builds(bytes, st.integers(0, 10_000)),
}
# Milliseconds where the zigzag varint changes length (the writer special-cases 6 bytes).
MILLIS_EDGES = [
    edge + step for bits in (27, 34, 41) for edge in (2**bits, -(2**bits)) for step in (-1, 0, 1)
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOGICAL_VALUES: dict[str, Strategy] = {
    "timestamp-millis": st.datetimes(timezones=ZONES)
    | st.integers(*LONG_RANGE)
    | st.sampled_from(MILLIS_EDGES)
    | st.sampled_from([EPOCH + timedelta(milliseconds=ms) for ms in MILLIS_EDGES]),
    "date": st.dates() | st.integers(*INT_RANGE),
    "uuid": st.uuids() | st.uuids().map(str) | TEXT,
}


@pytest.mark.parametrize("schema", CURRENT, ids=schema_id)
def test_every_current_schema_compiles_and_writes_its_samples_exactly(schema: LoadedSchema) -> None:
    """The fast path exists for every schema and takes every union branch and enum symbol."""
    assert compile_writer(schema.parsed) is not None
    for record in samples(schema.parsed):
        assert compiled_bytes(schema, record) == fastavro_bytes(schema, record)


@pytest.mark.parametrize("schema", [*EVERY_VERSION, SHAPES], ids=schema_id)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_valid_records_are_written_exactly_as_fastavro_writes_them(
    schema: LoadedSchema, data: st.DataObject
) -> None:
    record = data.draw(Values(schema).record(schema, odd=False))
    expected = fastavro_bytes(schema, record)
    assert isinstance(expected, bytes)
    got = compiled_bytes(schema, record)
    taken_by_compiled = not _has_subclassed_text(record)
    if taken_by_compiled:
        assert got == expected
    else:  # str subclasses: declined or written alike
        assert got in (None, expected)


@pytest.mark.parametrize("schema", [*EVERY_VERSION, SHAPES], ids=schema_id)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_odd_records_are_declined_or_written_exactly_as_fastavro_writes_them(
    schema: LoadedSchema, data: st.DataObject
) -> None:
    record = data.draw(Values(schema).record(schema, odd=True))
    got = compiled_bytes(schema, record)
    if got is not None:
        assert got == fastavro_bytes(schema, record)


@pytest.mark.parametrize("schema", CURRENT, ids=schema_id)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_the_codec_writes_header_and_fastavro_body_or_refuses_what_fastavro_refuses(
    schema: LoadedSchema, data: st.DataObject
) -> None:
    record = data.draw(Values(schema).record(schema, odd=data.draw(st.booleans())))
    expected = fastavro_bytes(schema, record)
    if isinstance(expected, bytes):
        assert CODEC.encode(schema.full_name, record, topic="t") == (
            SINGLE_OBJECT_MARKER + schema.fingerprint + expected
        )
    else:
        with pytest.raises(SerializationError):
            CODEC.encode(schema.full_name, record, topic="t")


@given(st.integers(*LONG_RANGE))
def test_longs_are_zigzag_varints_as_fastavro_writes_them(value: int) -> None:
    body = io.BytesIO()
    schemaless_writer(body, {"type": "long"}, value)
    assert write_long(value) == body.getvalue()


@pytest.mark.parametrize("bits", range(64))
def test_longs_at_every_varint_length_boundary(bits: int) -> None:
    for value in {2**bits - 1, 2**bits, -(2**bits), -(2**bits) - 1}:
        if LONG_RANGE[0] <= value <= LONG_RANGE[1]:
            body = io.BytesIO()
            schemaless_writer(body, {"type": "long"}, value)
            assert write_long(value) == body.getvalue(), value


def test_a_schema_with_types_left_to_fastavro_has_no_compiled_writer() -> None:
    for field_type in ("double", {"type": "map", "values": "string"}, ["null", "string", "int"]):
        schema = {"type": "record", "name": "r.R", "fields": [{"name": "f", "type": field_type}]}
        assert compile_writer(schema) is None


def _has_subclassed_text(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_subclassed_text(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_subclassed_text(item) for item in value)
    return isinstance(value, str) and type(value) is not str


CODEC = AvroCodec()
