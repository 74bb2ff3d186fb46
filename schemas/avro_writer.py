"""Avro bodies written by code generated once per schema, byte for byte what fastavro writes.

fastavro's `schemaless_writer` walks the schema for every record: it looks each field's type
up, validates union branches in turn and finds enum symbols by list search. Our record schemas
are flat (primitives, enums, logical types, `["null", X]` unions, arrays of those), so
`compile_writer` turns one into a Python function doing only the per-value work, with enum
symbols and union branches looked up in precomputed tables.

The compiled writer takes a deliberately narrow set of values: a `dict` holding every field,
and in it exact `str`, `bytes`, `bool`, `list`, `uuid.UUID`, `date`, timezone-aware `datetime`,
`int` within the Avro int or long range, `None` and enum symbols. Anything else (a field left
to its default, a naive datetime, a `str` subclass, tuple notation for unions, a value that does
not fit) raises, and the caller hands the record to fastavro, which writes it or refuses it
exactly as before. `tests/unit/test_avro_writer.py` checks the output against
`schemaless_writer` for every schema of the contract, with valid and invalid values.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from schemas.samples import named_types, type_of

CompiledWriter = Callable[[bytes, dict[str, Any]], bytes]
"""`write(prefix, record)`: `prefix` (a wire-format header) followed by the Avro body."""

INT_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAYS_SHIFT = dt.date(1970, 1, 1).toordinal()
_KINDS = frozenset({"null", "boolean", "int", "long", "string", "bytes", "enum", "array"})
_LOGICAL = frozenset({("long", "timestamp-millis"), ("int", "date"), ("string", "uuid")})


class Unhandled(Exception):  # noqa: N818 - a signal to fall back, not an error
    """The compiled writer does not take this record (or schema); fastavro does."""


def _varint(unsigned: int) -> bytes:
    out = bytearray()
    while unsigned > 0x7F:
        out.append((unsigned & 0x7F) | 0x80)
        unsigned >>= 7
    out.append(unsigned)
    return bytes(out)


# Varints of 0 .. 2**14-1, and the first two bytes of a longer varint by its low 14 bits: a
# millisecond timestamp (42 bits zigzagged) takes three lookups instead of a six-step loop.
_SHORT = tuple(_varint(n) for n in range(1 << 14))
_LEADING = tuple(bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14))


def write_long(value: int) -> bytes:
    """Zigzag varint of a value in the Avro long range: how Avro writes `int` and `long`."""
    unsigned = (value << 1) ^ (value >> 63)
    if unsigned < 1 << 14:
        return _SHORT[unsigned]
    low = _LEADING[unsigned & 0x3FFF]
    if unsigned < 1 << 28:
        return low + _SHORT[unsigned >> 14]
    if unsigned < 1 << 42:
        return low + _LEADING[(unsigned >> 14) & 0x3FFF] + _SHORT[unsigned >> 28]
    return _varint(unsigned)


def compile_writer(parsed: dict[str, Any]) -> CompiledWriter | None:
    """The writer of a parsed (fastavro) record schema, or None if a type is left to fastavro.

    The writer raises `Unhandled` (or, for values such as an unhashable enum value, another
    exception) for a record outside its domain; it never returns bytes fastavro would not write.
    """
    source_and_constants = _generate(parsed)
    if source_and_constants is None:
        return None
    source, constants = source_and_constants
    namespace: dict[str, Any] = {
        **constants,
        "Unhandled": Unhandled,
        "UUID": uuid.UUID,
        "datetime": dt.datetime,
        "date": dt.date,
        "EPOCH": _EPOCH,
        "MILLISECOND": dt.timedelta(milliseconds=1),
        "DAYS_SHIFT": _DAYS_SHIFT,
        "SHORT": _SHORT,
        "LEADING": _LEADING,
        "long": write_long,
    }
    code = compile(source, f"<avro writer of {parsed['name']}>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated from our own parsed schema
    writer: CompiledWriter = namespace["write"]
    return writer


def writer_source(parsed: dict[str, Any]) -> str | None:
    """The generated source of a schema's writer (None if left to fastavro), for reading."""
    generated = _generate(parsed)
    return None if generated is None else generated[0]


def _generate(parsed: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    try:
        return _Generator(named_types(parsed)).record(parsed)
    except Unhandled:
        return None


Case = tuple[str, list[str]]
"""A condition on the value `v` and the statements that write it when it holds."""


class _Generator:
    """Emits `write(prefix, r)`: per field, checks on its value and locals holding its bytes."""

    def __init__(self, named: dict[str, dict[str, Any]]):
        self._named = named
        self._constants: dict[str, Any] = {}
        self._helpers: list[str] = []

    def record(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The module source defining `write`, and the constants it refers to."""
        if type_of(schema) != "record":
            raise Unhandled
        lines = ["def write(prefix, r):", "    if r.__class__ is not dict: raise Unhandled"]
        parts = ["prefix"]
        for index, field in enumerate(schema["fields"]):
            lines.append(f"    v = r[{field['name']!r}]")
            body, field_parts = self._value(field["type"], f"f{index}")
            lines += ["    " + line for line in body]
            parts += field_parts
        lines.append(f"    return {_joined(parts)}")
        return "\n".join([*self._helpers, *lines]) + "\n", self._constants

    def _value(self, schema: Any, out: str) -> tuple[list[str], list[str]]:
        """Statements that check `v` and leave its encoding in the locals named by the parts."""
        cases, parts = self._cases(schema, out)
        lines = [
            f"{'if' if number == 0 else 'elif'} {condition}: {'; '.join(statements) or 'pass'}"
            for number, (condition, statements) in enumerate(cases)
        ]
        return [*lines, "else: raise Unhandled"], parts

    def _cases(self, schema: Any, out: str) -> tuple[list[Case], list[str]]:
        schema = self._resolve(schema)
        if isinstance(schema, list):
            return self._optional(schema, out)
        kind = type_of(schema)
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical is not None and (kind, logical) not in _LOGICAL:
            raise Unhandled
        if kind not in _KINDS:  # records, maps, fixed, floats: left to fastavro
            raise Unhandled
        if kind == "enum":
            table = self._enum_table(schema, out, branch=b"")
            return [(f"({out} := {table}.get(v)) is not None", [])], [out]
        if kind == "array":
            return self._array(schema, out)
        return _PRIMITIVE_CASES[logical or kind](out), _parts(out, logical or kind)

    def _optional(self, union: list[Any], out: str) -> tuple[list[Case], list[str]]:
        """`["null", X]` or `[X, "null"]`: fastavro takes the first branch that fits, so None
        is null and any value X takes is X (none of X's values is None)."""
        if len(union) != 2 or "null" not in union:
            raise Unhandled
        null_index = union.index("null")
        branch = self._resolve(union[1 - null_index])
        if branch == "null" or isinstance(branch, list):
            raise Unhandled
        branch_bytes = _varint(2 * (1 - null_index))
        null_bytes = _varint(2 * null_index)
        if type_of(branch) == "enum":  # one table lookup, None included
            table = self._enum_table(branch, out, branch=branch_bytes)
            self._constants[table][None] = null_bytes
            return [(f"({out} := {table}.get(v)) is not None", [])], [out]
        cases, parts = self._cases(branch, out)
        index = self._constant(f"{out}_branch", branch_bytes)
        null = self._constant(f"{out}_null", null_bytes)
        none_case = ("v is None", [f"{out}u = {null}", *(f"{part} = b''" for part in parts)])
        return [
            none_case,
            *((condition, [*statements, f"{out}u = {index}"]) for condition, statements in cases),
        ], [f"{out}u", *parts]

    def _array(self, schema: dict[str, Any], out: str) -> tuple[list[Case], list[str]]:
        """Avro arrays: a count, the items, then 0; an empty array is just the 0."""
        helper = f"item_{len(self._helpers)}_{out}"  # unique, arrays of arrays included
        body, parts = self._value(schema["items"], "x")
        self._helpers += [
            f"def {helper}(v):",
            *("    " + line for line in body),
            f"    return {_joined(parts)}",
        ]
        write = f"long(len(v)) + b''.join([{helper}(x) for x in v]) + b'\\x00' if v else b'\\x00'"
        return [("v.__class__ is list", [f"{out} = {write}"])], [out]

    def _enum_table(self, schema: dict[str, Any], out: str, branch: bytes) -> str:
        symbols = schema["symbols"]
        table = {symbol: branch + _varint(2 * index) for index, symbol in enumerate(symbols)}
        return self._constant(f"{out}_symbols", table)

    def _constant(self, name: str, value: Any) -> str:
        self._constants[name] = value
        return name

    def _resolve(self, schema: Any) -> Any:
        while isinstance(schema, str) and schema in self._named:
            schema = self._named[schema]
        return schema


_INT = f"v.__class__ is int and {INT_RANGE[0]} <= v <= {INT_RANGE[1]}"
_LONG = f"v.__class__ is int and {LONG_RANGE[0]} <= v <= {LONG_RANGE[1]}"


def _joined(parts: list[str]) -> str:
    return f"b''.join(({', '.join(parts)},))" if parts else "b''"


def _millis(out: str) -> str:
    """`m` as a long; milliseconds from 1970-01-02 to 2039 (6-byte varints) without a call."""
    six_bytes = "LEADING[(u := m << 1) & 0x3FFF] + LEADING[(u >> 14) & 0x3FFF] + SHORT[u >> 28]"
    return f"{out} = {six_bytes} if {2**27} <= m < {2**41} else long(m)"


def _text(out: str, condition: str, text: str) -> Case:
    """A length-prefixed byte string: `text` is an expression of the bytes."""
    length = (
        f"{out}n = len({out}) << 1; {out}l = SHORT[{out}n] if {out}n < 16384 else long({out}n >> 1)"
    )
    return condition, [f"{out} = {text}", length]


# fastavro's own conversions: `prepare_timestamp_millis` (aware datetimes: days, seconds and
# whole milliseconds since the epoch, which is the floor division below), `prepare_date`
# (ordinal days), `prepare_uuid` (str of a UUID); ints pass through unchanged.
_PRIMITIVE_CASES: dict[str, Callable[[str], list[Case]]] = {
    "null": lambda out: [("v is None", [])],
    "boolean": lambda out: [
        ("v is True", [f"{out} = b'\\x01'"]),
        ("v is False", [f"{out} = b'\\x00'"]),
    ],
    "int": lambda out: [(_INT, [f"{out} = long(v)"])],
    "long": lambda out: [(_LONG, [f"{out} = long(v)"])],
    "string": lambda out: [_text(out, "v.__class__ is str", "v.encode()")],
    "bytes": lambda out: [_text(out, "v.__class__ is bytes", "v")],
    "uuid": lambda out: [
        _text(out, "v.__class__ is str", "v.encode()"),
        _text(out, "v.__class__ is UUID", "str(v).encode()"),
    ],
    "timestamp-millis": lambda out: [
        (
            "v.__class__ is datetime and v.tzinfo is not None",
            ["m = (v - EPOCH) // MILLISECOND", _millis(out)],
        ),
        (_LONG, [f"{out} = long(v)"]),
    ],
    "date": lambda out: [
        ("v.__class__ is date", [f"{out} = long(v.toordinal() - DAYS_SHIFT)"]),
        (_INT, [f"{out} = long(v)"]),
    ],
}


def _parts(out: str, kind: str) -> list[str]:
    """The locals a value of `kind` leaves its bytes in, in wire order."""
    if kind == "null":
        return []
    if kind in ("string", "bytes", "uuid"):
        return [f"{out}l", out]
    return [out]
