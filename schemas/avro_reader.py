"""Avro bodies read by code generated once per schema, returning exactly what fastavro returns.

fastavro's `schemaless_reader` walks the schema for every record (type lookups, a call per
value, logical-type dispatch). `compile_reader` turns a parsed record schema into Python
functions that do only the per-value work: varints of one byte inline, enum symbols from a
table indexed by the raw byte, union branches by their index byte.

The compiled reader is exact where it succeeds and declines otherwise: anything it does not
mirror precisely (a varint longer than 64 bits, a negative length or block count, an enum or
union index out of range, an `int` outside 32 bits, a non-0/1 boolean, bytes cut short, invalid
UTF-8 or uuid, an out-of-range date) raises, and the caller hands the bytes to fastavro, which
reads or refuses them exactly as before. It reads with the writer schema alone, which is what
fastavro does when the reader schema equals the writer's; resolution between versions stays
with fastavro. `tests/unit/test_avro_reader.py` checks it against `schemaless_reader`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from schemas.samples import named_types, type_of

CompiledReader = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""`read(data, offset)`: the record whose body starts at `offset`, and where it ends."""

_INT_RANGE = (-(2**31), 2**31 - 1)
_MAX_INDEX_BYTE = 0x80  # union / enum indexes below 64 take one byte: 2 * index
# fastavro's LOGICAL_READERS for these (type, logicalType) pairs; others are left to fastavro.
_LOGICAL = {
    ("string", "uuid"): "uuid_of({t})",
    ("long", "timestamp-millis"): "EPOCH + timedelta(0, 0, 0, {t})",
    ("long", "timestamp-micros"): "EPOCH + timedelta(0, 0, {t})",
    ("int", "date"): "date.fromordinal({t} + DAYS_SHIFT)",
}


class Unhandled(Exception):  # noqa: N818 - a signal to fall back, not an error
    """The compiled reader does not take these bytes (or this schema); fastavro does."""


def long_at(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte `first` (>= 0x80) was just read; zigzag-decoded.

    Unrolled to six bytes (a millisecond timestamp of this century); longer ones loop.
    """
    byte = data[pos]
    unsigned = (first & 0x7F) | (byte & 0x7F) << 7
    if byte < 0x80:
        return (unsigned >> 1) ^ -(unsigned & 1), pos + 1
    byte = data[pos + 1]
    unsigned |= (byte & 0x7F) << 14
    if byte < 0x80:
        return (unsigned >> 1) ^ -(unsigned & 1), pos + 2
    byte = data[pos + 2]
    unsigned |= (byte & 0x7F) << 21
    if byte < 0x80:
        return (unsigned >> 1) ^ -(unsigned & 1), pos + 3
    byte = data[pos + 3]
    unsigned |= (byte & 0x7F) << 28
    if byte < 0x80:
        return (unsigned >> 1) ^ -(unsigned & 1), pos + 4
    byte = data[pos + 4]
    unsigned |= (byte & 0x7F) << 35
    if byte < 0x80:
        return (unsigned >> 1) ^ -(unsigned & 1), pos + 5
    pos += 5
    shift = 42
    while True:
        byte = data[pos]
        pos += 1
        unsigned |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 63:  # an eleventh byte: not a 64-bit long
            raise Unhandled
    if unsigned >> 64:
        raise Unhandled
    return (unsigned >> 1) ^ -(unsigned & 1), pos


def uuid_of(text: str) -> uuid.UUID:
    """`UUID(text)` at half the cost, for the 32 hex digits (and hyphens) fastavro's uuids have.

    `UUID(text)` drops hyphens, `urn:`, `uuid:` and enclosing braces, then takes `int(hex, 16)`
    of exactly 32 characters. If `int` takes the hyphen-free text, none of `urn:uuid{}` is in
    it, so both read the same 32 characters; anything else raises and fastavro decides.
    """
    digits = text.replace("-", "")
    if len(digits) != 32:
        raise Unhandled
    value = _new(_UUID)
    _set(value, "int", int(digits, 16))
    _set(value, "is_safe", _UNKNOWN_SAFETY)
    return value


_new = object.__new__
_set = object.__setattr__  # UUID is immutable: its __init__ sets its slots this way too
_UUID = uuid.UUID
_UNKNOWN_SAFETY = uuid.SafeUUID.unknown  # what UUID(text) records; bound once (enum lookup)


def compile_reader(parsed: dict[str, Any]) -> CompiledReader | None:
    """The reader of a parsed (fastavro) record schema, or None if a type is left to fastavro."""
    source_and_constants = _generate(parsed)
    if source_and_constants is None:
        return None
    source, constants = source_and_constants
    namespace: dict[str, Any] = {
        **constants,
        "Unhandled": Unhandled,
        "uuid_of": uuid_of,
        "timedelta": dt.timedelta,
        "date": dt.date,
        "EPOCH": dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
        "DAYS_SHIFT": dt.date(1970, 1, 1).toordinal(),
        "long_at": long_at,
    }
    code = compile(source, f"<avro reader of {parsed['name']}>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated from our own parsed schema
    reader: CompiledReader = namespace["read"]
    return reader


def reader_source(parsed: dict[str, Any]) -> str | None:
    """The generated source of a schema's reader (None if left to fastavro), for reading."""
    generated = _generate(parsed)
    return None if generated is None else generated[0]


def _generate(parsed: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    try:
        generator = _Generator(named_types(parsed))
        top = generator.record_function(parsed)
    except Unhandled:
        return None
    return "\n".join([*generator.functions, f"read = {top}"]) + "\n", generator.constants


class _Generator:
    """Emits one function per record, array item and map value: `f(data, pos) -> (v, pos)`."""

    def __init__(self, named: dict[str, dict[str, Any]]):
        self._named = named
        self._records: dict[str, str] = {}  # record name -> its function, recursion included
        self.functions: list[str] = []
        self.constants: dict[str, Any] = {}
        self._helpers = 0

    def record_function(self, schema: dict[str, Any]) -> str:
        if type_of(schema) != "record":
            raise Unhandled
        if schema["name"] in self._records:
            return self._records[schema["name"]]
        name = f"record_{len(self._records)}"
        self._records[schema["name"]] = name
        body: list[str] = []
        values: list[str] = []
        for index, field in enumerate(schema["fields"]):
            body += self._value(field["type"], f"f{index}")
            values.append(f"{field['name']!r}: f{index}")
        self._function(name, body, "{" + ", ".join(values) + "}")
        return name

    def _function(self, name: str, body: list[str], result: str) -> None:
        self.functions += [
            f"def {name}(data, pos):",
            *("    " + line for line in body),
            f"    return {result}, pos",
        ]

    def _value(self, schema: Any, target: str) -> list[str]:
        """Statements that read one value into `target` and move `pos` past it."""
        while isinstance(schema, str) and schema in self._named:
            schema = self._named[schema]
        if isinstance(schema, list):
            return self._union(schema, target)
        kind = type_of(schema)
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None:
            if (kind, logical) not in _LOGICAL:
                raise Unhandled
            return [
                *self._value(kind, target),
                f"{target} = {_LOGICAL[kind, logical].format(t=target)}",
            ]
        if kind in _PRIMITIVES:
            return _PRIMITIVES[kind](target)
        if kind == "enum":
            return self._enum(schema, target)
        if kind == "record":
            return [f"{target}, pos = {self.record_function(schema)}(data, pos)"]
        if kind in ("array", "map"):
            return self._blocks(schema, target)
        raise Unhandled  # float, double, fixed: left to fastavro

    def _union(self, branches: list[Any], target: str) -> list[str]:
        if not branches or 2 * len(branches) > _MAX_INDEX_BYTE:
            raise Unhandled
        lines = ["b = data[pos]; pos += 1"]
        for index, branch in enumerate(branches):
            lines.append(f"{'if' if index == 0 else 'elif'} b == {2 * index}:")
            lines += ["    " + line for line in self._value(branch, target) or ["pass"]]
        return [*lines, "else: raise Unhandled"]

    def _enum(self, schema: dict[str, Any], target: str) -> list[str]:
        """A table of the 256 first bytes: the symbol where that byte is a whole valid index."""
        symbols = schema["symbols"]
        if 2 * len(symbols) > _MAX_INDEX_BYTE:
            raise Unhandled
        table = tuple(
            symbols[byte >> 1] if byte % 2 == 0 and byte >> 1 < len(symbols) else None
            for byte in range(256)
        )
        name = f"symbols_{len(self.constants)}"
        self.constants[name] = table
        return [f"{target} = {name}[data[pos]]; pos += 1", f"if {target} is None: raise Unhandled"]

    def _blocks(self, schema: dict[str, Any], target: str) -> list[str]:
        """Arrays and maps: blocks of (count, items) until a count of 0."""
        is_map = schema["type"] == "map"
        self._helpers += 1  # numbered before nested helpers are generated: names stay unique
        item = f"{'value' if is_map else 'item'}_{self._helpers}"
        self._function(item, self._value(schema["values" if is_map else "items"], "v"), "v")
        key = _text(f"{target}_key", decode=True) if is_map else []
        value = f"{target}_item"  # not `v`: the target itself is `v` in a helper of nested blocks
        store = f"{target}[{target}_key] = {value}" if is_map else f"{target}.append({value})"
        return [
            f"{target} = {{}}" if is_map else f"{target} = []",
            "while True:",
            *("    " + line for line in _long("c")),
            "    if c == 0: break",
            "    if c < 0: raise Unhandled",  # blocks with a byte size: fastavro's business
            "    for _ in range(c):",
            *("        " + line for line in key),
            f"        {value}, pos = {item}(data, pos)",
            f"        {store}",
        ]


def _long(target: str) -> list[str]:
    return [
        "b = data[pos]; pos += 1",
        f"if b < 128: {target} = (b >> 1) ^ -(b & 1)",
        f"else: {target}, pos = long_at(data, pos, b)",
    ]


def _int(target: str) -> list[str]:
    low, high = _INT_RANGE
    return [*_long(target), f"if not {low} <= {target} <= {high}: raise Unhandled"]


def _text(target: str, decode: bool) -> list[str]:
    """A length, then that many bytes (all of them present), UTF-8 decoded for strings."""
    return [
        *_long("n"),
        "e = pos + n",
        "if n < 0 or e > len(data): raise Unhandled",
        f"{target} = data[pos:e]{'.decode()' if decode else ''}; pos = e",
    ]


_PRIMITIVES: dict[str, Callable[[str], list[str]]] = {
    "null": lambda target: [f"{target} = None"],
    "boolean": lambda target: [
        "b = data[pos]; pos += 1",
        f"if b == 1: {target} = True",
        f"elif b == 0: {target} = False",
        "else: raise Unhandled",
    ],
    "int": _int,
    "long": _long,
    "string": lambda target: _text(target, decode=True),
    "bytes": lambda target: _text(target, decode=False),
}
