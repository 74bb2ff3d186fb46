"""Deterministic sample records of a schema: every union branch, enum symbol and logical type.

The evolution check writes these with one schema version and reads them with another, so a
change fastavro cannot resolve shows up even where the structural rules say nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "error", "enum", "fixed"})
MAX_DEPTH = 8  # beyond this (recursive schemas only) unions take their first branch

_PRIMITIVE_SAMPLES: dict[str, list[Any]] = {
    "null": [None],
    "boolean": [False, True],
    "int": [0, -(2**31), 2**31 - 1],
    "long": [0, -(2**63), 2**63 - 1],
    "float": [0.0, -1.5],
    "double": [0.0, 1.0e300],
    "bytes": [b"", b"\x00\xff"],
    "string": ["", "sample \u00fc"],
}
_LOGICAL_SAMPLES: dict[str, list[Any]] = {
    "timestamp-millis": [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 9, 0, 0, 123000, tzinfo=UTC),
    ],
    "timestamp-micros": [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC),
    ],
    "local-timestamp-millis": [datetime(1970, 1, 1), datetime(2026, 3, 2, 9, 0, 0, 123000)],
    "local-timestamp-micros": [datetime(1970, 1, 1), datetime(2026, 3, 2, 9, 0, 0, 123456)],
    "date": [date(1970, 1, 1), date(2026, 4, 15)],
    "time-millis": [time(0), time(23, 59, 59, 999000)],
    "time-micros": [time(0), time(23, 59, 59, 999999)],
    "uuid": ["00000000-0000-0000-0000-000000000000", "6f1c2f0e-6d53-4a4e-9d8f-2f3c1a7b9e10"],
}


def named_types(schema: Any) -> dict[str, dict[str, Any]]:
    """Every named type defined anywhere in a parsed schema, by full name."""
    found: dict[str, dict[str, Any]] = {}
    for definition in _definitions(schema):
        found.setdefault(definition["name"], definition)
    return found


def type_of(schema: Any) -> str:
    """`union`, a primitive name, or a complex type name; a reference is its full name."""
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema["type"])


def samples(schema: Any) -> list[Any]:
    """Values of a parsed (fastavro `parse_schema`) schema; the same list on every call."""
    return _Sampler(named_types(schema)).values(schema, 0)


class _Sampler:
    def __init__(self, named: dict[str, dict[str, Any]]):
        self._named = named

    def values(self, schema: Any, depth: int) -> list[Any]:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return list(_PRIMITIVE_SAMPLES[schema])
            return self.values(self._named[schema], depth)
        if isinstance(schema, list):
            branches = schema if depth <= MAX_DEPTH else schema[:1]
            return [value for branch in branches for value in self.values(branch, depth + 1)]
        return self._complex(schema, depth)

    def _complex(self, schema: dict[str, Any], depth: int) -> list[Any]:
        kind = schema["type"]
        logical = schema.get("logicalType")
        if logical == "decimal":
            scale = int(schema.get("scale", 0))
            return [Decimal(0), Decimal(1).scaleb(-scale)]
        if logical in _LOGICAL_SAMPLES:
            return list(_LOGICAL_SAMPLES[logical])
        if kind in ("record", "error"):
            return self._records(schema, depth)
        if kind == "enum":
            return list(schema["symbols"])
        if kind == "fixed":
            return [b"\x00" * schema["size"], b"\xff" * schema["size"]]
        if kind == "array":
            items = self.values(schema["items"], depth + 1) if depth <= MAX_DEPTH else []
            return [[], items] if items else [[]]
        if kind == "map":
            values = self.values(schema["values"], depth + 1) if depth <= MAX_DEPTH else []
            return [{}, {f"k{index}": value for index, value in enumerate(values)}]
        return self.values(kind, depth)

    def _records(self, schema: dict[str, Any], depth: int) -> list[dict[str, Any]]:
        """As many records as the field with most variants; each field cycles through its own."""
        per_field = {f["name"]: self.values(f["type"], depth + 1) for f in schema["fields"]}
        count = max((len(values) for values in per_field.values()), default=1)
        return [
            {name: values[index % len(values)] for name, values in per_field.items()}
            for index in range(count)
        ]


def _definitions(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, list):
        for branch in schema:
            yield from _definitions(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in NAMED:
            yield schema
        for field in schema.get("fields", ()):
            yield from _definitions(field["type"])
        for key in ("items", "values"):
            if key in schema:
                yield from _definitions(schema[key])
