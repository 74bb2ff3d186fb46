"""Inserts framed Avro records (see `avro_frames.py`) with one INSERT ... SELECT per table.

ClickHouse parses the container, converts each field to its column's type (a null optional
becomes the column default, as the row converters in `rows.py` do), and checks every record
before anything is stored: its header is the expected one, its `ctrack_frame` is this batch's
mark (so it read exactly as many bytes as it has), and its text is valid UTF-8 (what our
Python decoder demands). One failed check fails the whole insert, which then stores nothing.
The check rides in the kafka_offset expression (`+ throwIf(...)`, always 0): as a WHERE
filter it cost about a third of the insert, as an expression nothing measurable.

Embedded (chdb): the container is written to a temporary file read with `file()`. Server
(http): the container is the request body, read with `input()`. Same SELECT either way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.avro_frames import FRAME_FIELD, HEADER_FIELD
from sinks.clickhouse.rows import KAFKA_COLUMNS
from sinks.clickhouse.tables import Table

_COLUMN_TYPES_SQL = """
SELECT name, type FROM system.columns
WHERE database = currentDatabase() AND table = {table:String}
"""


@dataclass(frozen=True)
class FrameFormat:
    """How one schema's frames are read into its table."""

    table: Table
    header: bytes  # the values' header: marker + fingerprint
    schema_json: str  # the frame record's schema
    text_columns: tuple[str, ...]  # columns fed by free-text fields: checked as UTF-8


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _literal(value: Any) -> str:
    """A setting's value in SQL: numbers as they are, anything else quoted."""
    return str(value) if isinstance(value, int) else _quoted(str(value))


class AvroLoader:
    """Runs the fast-path inserts on one client; column types are read once per table."""

    def __init__(self, client: Client):
        self.client = client
        self.embedded = client.uri.startswith("chdb://")
        self._types: dict[str, dict[str, str]] = {}

    def insert(self, fmt: FrameFormat, body: bytes, mark: int, settings: Mapping[str, Any]) -> None:
        """Insert a container of frames (`avro_frames.container`, with ctrack_frame = `mark`)
        into `fmt.table`; raises whatever ClickHouse raises (nothing is stored then)."""
        if not self.embedded:
            sql = self._sql(fmt, mark, "input({structure})", settings) + "\nFORMAT Avro"
            self.client.command(sql, data=body)
            return
        with tempfile.NamedTemporaryFile(prefix="ctrack-sink-", suffix=".avro") as file:
            file.write(body)
            file.flush()
            source = f"file({_quoted(file.name)}, 'Avro', {{structure}})"
            # settings in the statement: per-call settings cost chdb five more queries (SET)
            self.client.command(self._sql(fmt, mark, source, settings))

    def _sql(self, fmt: FrameFormat, mark: int, source: str, settings: Mapping[str, Any]) -> str:
        table = fmt.table
        types = self._column_types(table.name)
        structure = ", ".join(
            [f"{name} {types[name]}" for name in table.columns]
            + [f"{HEADER_FIELD} FixedString({len(fmt.header)})", f"{FRAME_FIELD} Int64"]
        )
        checks = " AND ".join(
            [f"{FRAME_FIELD} = {mark}", f"{HEADER_FIELD} = unhex('{fmt.header.hex()}')"]
            + [f"isValidUTF8({name})" for name in fmt.text_columns]
        )
        checked = f"kafka_offset + throwIf(NOT ({checks}), 'record does not frame as its schema')"
        values = ", ".join(checked if name == "kafka_offset" else name for name in table.columns)
        options = ", ".join(f"{name} = {_literal(value)}" for name, value in settings.items())
        return (
            f"INSERT INTO {table.name} ({', '.join(table.columns)})\n"  # noqa: S608 - our names
            f"SELECT {values}\nFROM {source.format(structure=_quoted(structure))}\n"
            f"SETTINGS {options}"
        )

    def _column_types(self, table: str) -> dict[str, str]:
        if table not in self._types:
            rows = self.client.query(_COLUMN_TYPES_SQL, parameters={"table": table}).result_rows
            if not rows:  # not there (yet, or detached): ask again next time
                raise LookupError(f"table {table} has no columns")
            self._types[table] = {str(name): str(kind) for name, kind in rows}
        return self._types[table]


def frame_columns_fit(table: Table, schema_fields: set[str]) -> bool:
    """Whether a table can take frames of a schema: it stores the read position and each of
    its other columns is a field of the schema with the same name."""
    stored = set(table.columns) - set(KAFKA_COLUMNS)
    return set(KAFKA_COLUMNS) <= set(table.columns) and stored <= schema_fields
