"""Loads every `.avsc` of the contract once and indexes it by name and fingerprint."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import fingerprint, to_parsing_canonical_form

AVRO_DIR = Path(__file__).with_name("avro")


@dataclass(frozen=True)
class LoadedSchema:
    """One parsed record schema with the facts the codec needs."""

    full_name: str
    parsed: Any
    canonical: str
    fingerprint: bytes  # 8 bytes, CRC-64-AVRO, little-endian as the spec wants
    source: str  # the .avsc text, for registries and docs


@dataclass(frozen=True)
class SchemaSet:
    """All record schemas of the contract, parsed once."""

    by_name: dict[str, LoadedSchema] = field(default_factory=dict)
    by_fingerprint: dict[bytes, LoadedSchema] = field(default_factory=dict)

    def get(self, full_name: str) -> LoadedSchema:
        return self.by_name[full_name]


def load_schema_file(path: Path, named: dict[str, Any]) -> LoadedSchema:
    """Parse one `.avsc` (names it references must already be in `named`)."""
    text = path.read_text()
    parsed: Any = parse_schema(json.loads(text), named_schemas=named)
    canonical = to_parsing_canonical_form(parsed)
    return LoadedSchema(
        full_name=parsed["name"],
        parsed=parsed,
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        source=text,
    )


@cache
def contract_schemas(avro_dir: Path = AVRO_DIR) -> SchemaSet:
    """The contract's schemas, parsed once per process (files sorted so references resolve)."""
    named: dict[str, Any] = {}
    loaded = [load_schema_file(path, named) for path in sorted(avro_dir.glob("*.avsc"))]
    return SchemaSet(
        by_name={schema.full_name: schema for schema in loaded},
        by_fingerprint={schema.fingerprint: schema for schema in loaded},
    )
