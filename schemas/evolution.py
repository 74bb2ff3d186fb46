"""Schema evolution: every current schema reads, and is read by, every released version.

BACKWARD: the current schema (reader) reads records written with each released version.
FORWARD: each released version (reader) reads records written with the current schema.
Each pair is checked twice: by structural rules that name the change, and by writing sample
records with one schema and resolving them with the other through fastavro.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.releases import Definition, Release
from schemas.samples import NAMED, PRIMITIVES, named_types, samples, type_of
from schemas.schema_set import LoadedSchema, from_definition

# (writer type, reader type) pairs the Avro specification lets a reader promote.
PROMOTIONS = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)


class Direction(StrEnum):
    BACKWARD = "backward"  # current reader, released writer
    FORWARD = "forward"  # released reader, current writer


class ProblemKind(StrEnum):
    SCHEMA_REMOVED = "schema removed"
    FIELD_ADDED_WITHOUT_DEFAULT = "field added without default"
    FIELD_REMOVED_WITHOUT_DEFAULT = "field removed without default"
    ENUM_SYMBOL_WITHOUT_DEFAULT = "enum symbol without enum default"
    TYPE_CHANGED = "type changed"
    TYPE_WIDENED = "type widened"
    NAME_CHANGED = "name changed"
    RESOLUTION_FAILED = "resolution failed"


@dataclass(frozen=True)
class Problem:
    """One incompatibility between the current schema and one released version."""

    schema: str
    version: int
    direction: Direction
    kind: ProblemKind
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.schema} ({self.direction} vs v{self.version}) {self.path}: {self.message}"


def check_compatibility(
    current: Mapping[str, Definition], releases: Sequence[Release]
) -> list[Problem]:
    """Problems of `current` against every release, in both directions; [] when compatible.

    Args:
        current: self-contained definitions of the current schemas, by full name.
        releases: the released sets, any order.
    """
    problems: list[Problem] = []
    for release in releases:
        for name, old in release.schemas.items():
            new = current.get(name)
            if new is None:
                problems.append(_removed(name, release.version))
            elif new != old:
                problems += check_pair(from_definition(new), from_definition(old), release.version)
    return problems


def check_pair(new: LoadedSchema, old: LoadedSchema, version: int) -> list[Problem]:
    """Both directions between a current schema and its released version `version`."""
    problems: list[Problem] = []
    for direction, writer, reader in (
        (Direction.BACKWARD, old, new),
        (Direction.FORWARD, new, old),
    ):
        found = _Comparison(new.full_name, version, direction, writer, reader).problems()
        if not found:
            # The sample run backs up the rules; it speaks only when they found nothing.
            found = list(_resolution_problems(new.full_name, version, direction, writer, reader))
        problems += found
    return problems


def _removed(name: str, version: int) -> Problem:
    return Problem(
        name,
        version,
        Direction.BACKWARD,
        ProblemKind.SCHEMA_REMOVED,
        name,
        f"released in v{version} but no longer in schemas/avro; a released schema stays",
    )


def _resolution_problems(
    name: str, version: int, direction: Direction, writer: LoadedSchema, reader: LoadedSchema
) -> Iterator[Problem]:
    for index, record in enumerate(samples(writer.parsed)):
        body = io.BytesIO()
        schemaless_writer(body, writer.parsed, record)
        body.seek(0)
        try:
            schemaless_reader(body, writer.parsed, reader.parsed)
        except Exception as exc:  # fastavro raises several types; each means "cannot resolve"
            side = "current" if direction is Direction.BACKWARD else f"v{version}"
            yield Problem(
                name,
                version,
                direction,
                ProblemKind.RESOLUTION_FAILED,
                name,
                f"sample record #{index} does not resolve to the {side} reader: {exc}",
            )
            return


class _Comparison:
    """Structural rules for one (writer, reader) pair, worded as changes from old to new."""

    def __init__(
        self,
        name: str,
        version: int,
        direction: Direction,
        writer: LoadedSchema,
        reader: LoadedSchema,
    ):
        self._name, self._version, self._direction = name, version, direction
        self._writer, self._reader = writer.parsed, reader.parsed
        self._writer_named = named_types(self._writer)
        self._reader_named = named_types(self._reader)
        self._compared: set[tuple[str, str]] = set()
        self._found: list[Problem] = []

    def problems(self) -> list[Problem]:
        self._compare(self._writer, self._reader, self._name.rsplit(".", 1)[-1])
        return self._found

    @property
    def _backward(self) -> bool:
        return self._direction is Direction.BACKWARD

    def _add(self, kind: ProblemKind, path: str, message: str) -> None:
        self._found.append(Problem(self._name, self._version, self._direction, kind, path, message))

    def _resolve(self, schema: Any, named: dict[str, Definition]) -> Any:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return named[schema]
        return schema

    def _compare(self, writer: Any, reader: Any, path: str) -> None:
        writer = self._resolve(writer, self._writer_named)
        reader = self._resolve(reader, self._reader_named)
        if isinstance(writer, list) or isinstance(reader, list):
            self._union(writer, reader, path)
        elif type_of(writer) != type_of(reader) or type_of(writer) not in NAMED | {"array", "map"}:
            self._primitive(writer, reader, path)
        elif type_of(writer) in NAMED:
            self._named(writer, reader, path)
        else:
            key = "items" if type_of(writer) == "array" else "values"
            self._compare(writer[key], reader[key], f"{path}[]")

    def _union(self, writer: Any, reader: Any, path: str) -> None:
        writer_branches = writer if isinstance(writer, list) else [writer]
        reader_branches = reader if isinstance(reader, list) else [reader]
        for branch in writer_branches:
            match = next((r for r in reader_branches if self._matches(branch, r)), None)
            if match is not None:
                self._compare(branch, match, path)
            else:
                self._unmatched_branch(writer, reader, branch, path)

    def _unmatched_branch(self, writer: Any, reader: Any, branch: Any, path: str) -> None:
        old, new = (writer, reader) if self._backward else (reader, writer)
        change = f"type changed from {_label(old)} to {_label(new)}"
        readers = reader if isinstance(reader, list) else [reader]
        if any((type_of(r), type_of(branch)) in PROMOTIONS for r in readers):
            self._add(
                ProblemKind.TYPE_WIDENED,
                path,
                f"{change}: an Avro promotion for new readers, but readers of v{self._version} "
                f"cannot read {_label(branch)}",
            )
        elif self._backward:
            self._add(
                ProblemKind.TYPE_CHANGED,
                path,
                f"{change}: records of v{self._version} holding {_label(branch)} no longer read",
            )
        else:
            self._add(
                ProblemKind.TYPE_CHANGED,
                path,
                f"{change}: readers of v{self._version} cannot read {_label(branch)}",
            )

    def _matches(self, writer: Any, reader: Any) -> bool:
        """Would resolution pick `reader` for data of `writer` (names and kinds, not depth)?"""
        writer = self._resolve(writer, self._writer_named)
        reader = self._resolve(reader, self._reader_named)
        w_type, r_type = type_of(writer), type_of(reader)
        if w_type in NAMED and w_type == r_type:
            return bool(writer["name"] == reader["name"] or writer["name"] in _aliases(reader))
        return w_type == r_type or (w_type, r_type) in PROMOTIONS

    def _primitive(self, writer: Any, reader: Any, path: str) -> None:
        old, new = (writer, reader) if self._backward else (reader, writer)
        w_type, r_type = type_of(writer), type_of(reader)
        if w_type == r_type:
            if _logical(writer) != _logical(reader):
                self._add(
                    ProblemKind.TYPE_CHANGED,
                    path,
                    f"logical type changed from {_label(old)} to {_label(new)}",
                )
        elif (w_type, r_type) in PROMOTIONS:
            return
        elif (r_type, w_type) in PROMOTIONS:
            self._add(
                ProblemKind.TYPE_WIDENED,
                path,
                f"{_label(old)} widened to {_label(new)}: an Avro promotion for new readers, but "
                f"readers of v{self._version} cannot read {_label(new)}",
            )
        else:
            self._add(
                ProblemKind.TYPE_CHANGED,
                path,
                f"type changed from {_label(old)} to {_label(new)} (not an Avro promotion)",
            )

    def _named(self, writer: Definition, reader: Definition, path: str) -> None:
        if writer["name"] != reader["name"] and writer["name"] not in _aliases(reader):
            old, new = (writer, reader) if self._backward else (reader, writer)
            self._add(
                ProblemKind.NAME_CHANGED,
                path,
                f"{old['type']} {old['name']} renamed to {new['name']} without an alias",
            )
            return
        if (writer["name"], reader["name"]) in self._compared:
            return
        self._compared.add((writer["name"], reader["name"]))
        if writer["type"] == "enum":
            self._enum(writer, reader, path)
        elif writer["type"] == "fixed" and writer["size"] != reader["size"]:
            self._add(ProblemKind.TYPE_CHANGED, path, f"fixed {writer['name']} changed size")
        elif writer["type"] != "fixed":
            self._record(writer, reader, path)

    def _record(self, writer: Definition, reader: Definition, path: str) -> None:
        writer_fields = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            source = next((writer_fields[n] for n in names if n in writer_fields), None)
            field_path = f"{path}.{field['name']}"
            if source is not None:
                self._compare(source["type"], field["type"], field_path)
            elif "default" not in field and self._backward:
                self._add(
                    ProblemKind.FIELD_ADDED_WITHOUT_DEFAULT,
                    field_path,
                    f"field added without a default; records of v{self._version} lack it",
                )
            elif "default" not in field:
                self._add(
                    ProblemKind.FIELD_REMOVED_WITHOUT_DEFAULT,
                    field_path,
                    f"field removed, and v{self._version} declares no default for it",
                )

    def _enum(self, writer: Definition, reader: Definition, path: str) -> None:
        if "default" in reader:
            return  # unknown symbols read as the reader's default
        for symbol in writer["symbols"]:
            if symbol in reader["symbols"]:
                continue
            if self._backward:
                message = (
                    f"symbol {symbol} removed from enum {reader['name']}, which has no default"
                )
            else:
                message = (
                    f"symbol {symbol} added to enum {reader['name']}, which has no default "
                    f"in v{self._version}"
                )
            self._add(ProblemKind.ENUM_SYMBOL_WITHOUT_DEFAULT, path, message)


def _aliases(definition: Definition) -> list[str]:
    return list(definition.get("aliases", ()))


def _logical(schema: Any) -> str | None:
    return schema.get("logicalType") if isinstance(schema, dict) else None


def _label(schema: Any) -> str:
    """A short name of a type for messages: `int`, `long (timestamp-millis)`, `enum X`."""
    if isinstance(schema, list):
        return "union [" + ", ".join(_label(branch) for branch in schema) + "]"
    if isinstance(schema, str):
        return schema
    kind = type_of(schema)
    if kind in NAMED:
        return f"{kind} {schema['name']}"
    logical = _logical(schema)
    return f"{kind} ({logical})" if logical else kind
