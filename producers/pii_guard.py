"""The producer's PII guard: `assert_no_clear_pii`, asked only where a record can put text on a
topic, and once per distinct string.

Which fields can carry text is decided once per schema. A field typed `string` (plain or uuid,
optional or not) is checked here, its clean strings remembered. Enums, ints, longs, timestamps
and dates cannot put text on a topic: an enum writes the index of one of its symbols, which
are Avro names (letters, digits, `_`, first a letter or `_`) that none of the patterns can
match, and the others refuse text. fastavro writes any truthy value as a `boolean` `true` (and
any number-like string as a float), so text there is scanned, though it would not reach the
topic as text. Anything else (arrays, maps, records, bytes, fixed) goes through the full
guard, which walks it. A record that does not encode (e.g. text where an enum symbol or a
number belongs) is then given to the full guard by the producer before its `SerializationError`
propagates, so such a value is still reported as clear PII first. `tests/unit/
test_producer_pii_fields.py` puts clear PII in every field of every schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from schemas.codec import AvroCodec
from schemas.errors import SerializationError
from schemas.pii import ClearPiiError, assert_no_clear_pii
from schemas.samples import named_types, type_of
from schemas.schema_set import LoadedSchema

_NO_TEXT = frozenset({"null", "int", "long", "enum"})  # their writers refuse text
_LOOSE = frozenset({"boolean", "float", "double"})  # their writers take text as a value
# A canonical UUID cannot hold anything the PII guard looks for: it has no '@', '+' or '(';
# an SSN or a separated phone number would start at index 0 (every other character follows a
# word character or '-') and need a separator at index 3 or a digit at index 8, where a UUID
# has a hex digit and a dash; a bare phone number would span whole segments (8-4-4-4-12)
# holding 10 or 11 digits in all, and none do (checked by a property test in
# tests/unit/test_producer_validation.py). So event ids, unique per record, skip the regexes.
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class PiiGuard:
    """Raises `ClearPiiError` (naming the field, never the value) for personal data in clear.

    Clean strings of a text field are remembered (up to `capacity` in all; then the memory
    starts afresh): enum-like values, firm, return and client ids and file names repeat, and
    the guard's verdict depends only on the field name and the string. Per field name, because
    the guard's rules differ for identifier fields (`*_id`, `*_hash`, `*_by`).

    Each schema's check is a function generated once (see `_check_source`): one line per field
    that can carry text, no loop over the schema for every record.
    """

    def __init__(self, schema_of: Callable[[str], LoadedSchema], capacity: int = 100_000):
        """`schema_of`: the schema a record of that name is written with (the codec's)."""
        self._schema_of = schema_of
        self._capacity = capacity
        self._remembered = 0
        self._clean: dict[str, set[str]] = {}
        self._checks: dict[str, Callable[[Mapping[str, Any]], None]] = {}

    def check(self, schema_name: str, record: Mapping[str, Any]) -> None:
        """Check every field of `record` that its schema writes as text."""
        (self._checks.get(schema_name) or self._compile(schema_name))(record)

    def _compile(self, schema_name: str) -> Callable[[Mapping[str, Any]], None]:
        schema = self._schema_of(schema_name)
        fields = _fields_by_handling(schema.parsed)
        namespace: dict[str, Any] = {
            "canonical_uuid": _CANONICAL_UUID.fullmatch,
            "scan": partial(self._scan, schema.full_name),
            "scan_all": partial(_scan_all, schema.full_name),
        }
        for field in fields["text"] + fields["uuid"]:
            namespace[f"clean_{field}"] = self._clean.setdefault(field, set())
        source = _check_source(fields)
        code = compile(source, f"<pii check of {schema.full_name}>", "exec")
        exec(code, namespace)  # noqa: S102 - source generated from our schema's field names
        check: Callable[[Mapping[str, Any]], None] = namespace["check"]
        self._checks[schema_name] = check
        return check

    def _scan(self, schema_name: str, field: str, value: Any) -> None:
        """The full guard on one value; a clean `str` is remembered for its field."""
        assert_no_clear_pii({field: value}, schema_name)
        if value.__class__ is str:
            if self._remembered >= self._capacity:
                for strings in self._clean.values():
                    strings.clear()
                self._remembered = 0
            self._clean[field].add(value)
            self._remembered += 1


def guarded_encode(
    guard: PiiGuard, codec: AvroCodec, schema_name: str, record: dict[str, Any], topic: str
) -> bytes:
    """`record` checked for clear PII, then encoded. Raises `ClearPiiError` (also for personal
    data in a field that cannot hold text, which then fails to encode) or `SerializationError`."""
    try:
        guard.check(schema_name, record)
        return codec.encode(schema_name, record, topic=topic)
    except ClearPiiError:
        raise
    except SerializationError:
        # The guard skips fields that cannot hold text; a value that did not fit such a
        # field may still be personal data, and that is what the caller must hear first.
        assert_no_clear_pii(record, schema_name)
        raise


def _scan_all(schema_name: str, field: str, value: Any) -> None:
    assert_no_clear_pii({field: value}, schema_name)


def _check_source(fields: dict[str, list[str]]) -> str:
    """`check(r)`: a text field's value passes if it is None or an exact `str` found clean before
    (or, in a uuid field, a canonical UUID); anything else goes to the full guard."""
    lines = ["def check(r):"]
    for handling, names in fields.items():
        for field in names:
            lines.append(f"    v = r.get({field!r})")
            if handling == "text":
                passes = f"v.__class__ is str and v in clean_{field}"
                lines += [f"    if v is not None and not ({passes}): scan({field!r}, v)"]
            elif handling == "uuid":
                passes = f"v.__class__ is str and (v in clean_{field} or canonical_uuid(v))"
                lines += [f"    if v is not None and not ({passes}): scan({field!r}, v)"]
            elif handling == "loose":
                passes = "v.__class__ is bool or v.__class__ is int or v.__class__ is float"
                lines += [f"    if v is not None and not ({passes}): scan_all({field!r}, v)"]
            else:
                lines += [f"    if v is not None: scan_all({field!r}, v)"]
    return "\n".join([*lines, "    return None"]) + "\n"


def _fields_by_handling(parsed: dict[str, Any]) -> dict[str, list[str]]:
    """Field names by how the guard treats them: `text`, `uuid` (text with a UUID shortcut),
    `loose` (scanned unless a bool or number), `walk` (full guard); the rest are skipped."""
    named = named_types(parsed)
    fields: dict[str, list[str]] = {"text": [], "uuid": [], "loose": [], "walk": []}
    for field in parsed["fields"]:
        kinds = _kinds(field["type"], named)
        if kinds <= _NO_TEXT:
            continue
        if "string" in kinds and kinds <= _NO_TEXT | {"string"}:
            fields["uuid" if _is_uuid(field["type"]) else "text"].append(field["name"])
        elif kinds <= _NO_TEXT | _LOOSE:
            fields["loose"].append(field["name"])
        else:
            fields["walk"].append(field["name"])
    return fields


def _is_uuid(schema: Any) -> bool:
    branches = schema if isinstance(schema, list) else [schema]
    return any(isinstance(b, dict) and b.get("logicalType") == "uuid" for b in branches)


def _kinds(schema: Any, named: dict[str, dict[str, Any]]) -> set[str]:
    """The Avro types a field's values can take: union branches, named types resolved."""
    if isinstance(schema, list):
        return {kind for branch in schema for kind in _kinds(branch, named)}
    if isinstance(schema, str) and schema in named:
        return _kinds(named[schema], named)
    return {type_of(schema)}
