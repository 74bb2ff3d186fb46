"""Released schema sets: `schemas/released/v<N>.json`, written once and never changed.

Each file holds {"version": N, "schemas": {full name: self-contained definition}}. The codec
indexes every released version so records written with it keep decoding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.schema_set import (
    AVRO_DIR,
    RELEASED_DIR,
    load_schema_file,
    record_schema_files,
    release_files,
    released_definitions,
)

Definition = dict[str, Any]


@dataclass(frozen=True)
class Release:
    """One released schema set: self-contained definitions by full name."""

    version: int
    schemas: dict[str, Definition]


def load_releases(released_dir: Path = RELEASED_DIR) -> list[Release]:
    """Every release in `released_dir`, oldest first."""
    return [
        Release(int(path.stem[1:]), released_definitions(path))
        for path in release_files(released_dir)
    ]


def current_definitions(avro_dir: Path = AVRO_DIR) -> dict[str, Definition]:
    """The self-contained definition of every record schema in `avro_dir`, by full name."""
    loaded = (load_schema_file(path) for path in record_schema_files(avro_dir))
    return {schema.full_name: json.loads(schema.source) for schema in loaded}


def next_release(current: Mapping[str, Definition], releases: Sequence[Release]) -> Release | None:
    """The release to write, or None when `current` equals the newest release."""
    if releases and releases[-1].schemas == dict(current):
        return None
    version = releases[-1].version + 1 if releases else 1
    return Release(version, dict(current))


def write_release(release: Release, released_dir: Path = RELEASED_DIR) -> Path:
    """Write `v<version>.json`; refuses to overwrite a released version."""
    path = released_dir / f"v{release.version}.json"
    if path.exists():
        raise FileExistsError(f"{path} is released already; releases are never rewritten")
    released_dir.mkdir(parents=True, exist_ok=True)
    schemas = {name: _sorted_keys(release.schemas[name]) for name in sorted(release.schemas)}
    body = {"version": release.version, "schemas": schemas}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    return path


def _sorted_keys(definition: Definition) -> Definition:
    """The definition with keys in one order, so a release file's diff shows only changes."""
    ordered: Definition = json.loads(json.dumps(definition, sort_keys=True))
    return ordered
