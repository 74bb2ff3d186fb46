"""Loads every record schema of the contract once and indexes it by name and fingerprint.

Shared named types (enums) live in their own `<namespace>.<Name>.avsc` files so fastavro's
`load_schema` can resolve references; each record is then kept fully expanded (self-contained),
which is what a schema registry and the single-object fingerprint both need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form

AVRO_DIR = Path(__file__).with_name("avro")
RELEASED_DIR = Path(__file__).with_name("released")


@dataclass(frozen=True)
class LoadedSchema:
    """One parsed record schema with the facts the codec needs."""

    full_name: str
    parsed: Any
    canonical: str
    fingerprint: bytes  # 8 bytes, CRC-64-AVRO, little-endian as the spec wants
    source: str  # self-contained JSON (references expanded), for registries and docs


@dataclass(frozen=True)
class SchemaSet:
    """All record schemas of the contract, parsed once."""

    by_name: dict[str, LoadedSchema] = field(default_factory=dict)
    by_fingerprint: dict[bytes, LoadedSchema] = field(default_factory=dict)

    def get(self, full_name: str) -> LoadedSchema:
        return self.by_name[full_name]


def from_definition(definition: dict[str, Any]) -> LoadedSchema:
    """A LoadedSchema from a self-contained schema definition (all named types inline)."""
    source = json.dumps(definition, sort_keys=True)
    parsed: Any = parse_schema(json.loads(source), named_schemas={})
    canonical = to_parsing_canonical_form(parsed)
    return LoadedSchema(
        full_name=parsed["name"],
        parsed=parsed,
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        source=source,
    )


def load_schema_file(path: Path) -> LoadedSchema:
    """Load one record `.avsc`, resolving references to sibling files."""
    definition: Any = load_schema(str(path), _write_hint=False)
    return from_definition(definition)


def record_schema_files(avro_dir: Path = AVRO_DIR) -> list[Path]:
    """The `.avsc` files that define records (the rest are shared named types)."""
    return [
        path
        for path in sorted(avro_dir.glob("*.avsc"))
        if json.loads(path.read_text()).get("type") == "record"
    ]


def schema_set(schemas: list[LoadedSchema]) -> SchemaSet:
    """Index schemas; when several share a name (older versions), the first one is the reader.

    The first one also wins a fingerprint: an unchanged released version then decodes with the
    current schema itself, without the slower resolution step.
    """
    by_name: dict[str, LoadedSchema] = {}
    by_fingerprint: dict[bytes, LoadedSchema] = {}
    for schema in schemas:
        by_name.setdefault(schema.full_name, schema)
        by_fingerprint.setdefault(schema.fingerprint, schema)
    return SchemaSet(by_name=by_name, by_fingerprint=by_fingerprint)


def release_files(released_dir: Path = RELEASED_DIR) -> list[Path]:
    """The released versions `v<N>.json`, oldest first."""
    return sorted(released_dir.glob("v*.json"), key=lambda path: int(path.stem[1:]))


def released_definitions(path: Path) -> dict[str, dict[str, Any]]:
    """The self-contained schema definitions of one release file, by full name."""
    definitions: dict[str, dict[str, Any]] = json.loads(path.read_text())["schemas"]
    return definitions


@cache
def contract_schemas(avro_dir: Path = AVRO_DIR, released_dir: Path = RELEASED_DIR) -> SchemaSet:
    """The contract's schemas, parsed once per process.

    Current schemas are the readers (`by_name`); every released version is also indexed by
    fingerprint, newest first, so records its writers produced still decode.
    """
    current = [load_schema_file(path) for path in record_schema_files(avro_dir)]
    released = [
        from_definition(definition)
        for path in reversed(release_files(released_dir))
        for definition in released_definitions(path).values()
    ]
    return schema_set(current + released)
