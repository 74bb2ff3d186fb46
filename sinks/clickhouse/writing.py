"""Inserts one flush of the sink: fast-path containers and Python-decoded rows, retried.

Each insert carries a deduplication token naming the flush's offset ranges, the table and the
path (`avro`, `rows`, `checked`), so a token always stands for the same rows: a retried insert
is dropped by ClickHouse, and rows stored twice anyway collapse in the ReplacingMergeTree
tables and read once with FINAL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from clickhouse_connect.driver.client import Client
from confluent_kafka import Message

from sinks.clickhouse.avro_frames import Frames, container
from sinks.clickhouse.avro_loading import AvroLoader
from sinks.clickhouse.batching import Flush
from sinks.clickhouse.errors import InsertFailed
from sinks.clickhouse.records import SinkStats
from sinks.clickhouse.routing import Route
from sinks.clickhouse.rows import Row
from sinks.clickhouse.tables import TABLE_OF_SCHEMA, Table

log = structlog.get_logger(__name__)
# async_insert=0: an insert returns once stored (offsets are committed after it);
# optimize_on_insert=0: do not collapse repeats inside each inserted block (about a quarter
# of a fast-path insert): queries read with FINAL or count distinct ids anyway
INSERT_SETTINGS = {"async_insert": 0, "optimize_on_insert": 0}
CheckedReader = Callable[[Route, Message], tuple[Table, Row]]
_TABLES = {table.name: table for table in TABLE_OF_SCHEMA.values()}


@dataclass(frozen=True)
class Writes:
    """A flush ready to insert: each fast-path table's container (and its frames, kept for
    the fallback), and the rows decoded in Python, per table."""

    flush: Flush
    containers: dict[str, tuple[bytes, list[Frames]]]
    rows: dict[str, list[Row]]


class FlushWriter:
    """Writes flushes to ClickHouse; `stats` counts what was stored."""

    def __init__(
        self,
        client: Client,
        framed: dict[str, Route],
        read_checked: CheckedReader,
        stats: SinkStats,
        *,
        attempts: int,
        backoff_s: float,
    ):
        """`framed`: the fast-path route of each table; `read_checked` decodes a message
        ClickHouse refused (with every logical type checked) into a row or a dead letter;
        `attempts` tries per insert, `backoff_s` doubling between them."""
        self.client = client
        self._loader = AvroLoader(client)
        self._framed = framed
        self._read_checked = read_checked
        self._stats = stats
        self._attempts = attempts
        self._backoff_s = backoff_s

    def prepare(self, flush: Flush) -> Writes:
        """A flush's inserts: one container per fast-path table, rows gathered per table.

        Meant for the consuming thread: built on the inserting thread, the containers cost it
        many waits for the GIL (about 10 ms per flush measured) while the consumer runs.
        """
        rows: dict[str, list[Row]] = {}
        frames: dict[str, list[Frames]] = {}
        for batch in flush.batches.values():
            for table_name, table_rows in batch.rows.items():
                rows.setdefault(table_name, []).extend(table_rows)
            for table_name, partition_frames in batch.frames.items():
                if partition_frames.messages:  # opened for a partition that sent none
                    frames.setdefault(table_name, []).append(partition_frames)
        containers = {
            name: (container(self._framed[name].frames_format.schema_json, parts), parts)
            for name, parts in frames.items()
        }
        return Writes(flush, containers, rows)

    def write(self, writes: Writes) -> None:
        """Insert a flush: each table's frames, then the rows decoded in Python. Raises
        InsertFailed when an insert still fails after the retries."""
        flush = writes.flush
        for table_name, (body, frames) in writes.containers.items():
            self._insert_frames(flush, self._framed[table_name], body, frames)
        for table_name, table_rows in writes.rows.items():
            self.insert_rows(table_name, table_rows, flush.dedup_token(table_name, "rows"))

    def insert_rows(self, table_name: str, rows: list[Row], token: str) -> None:
        """Insert rows (column-oriented) into a table, retrying with backoff."""
        table = _TABLES[table_name]
        columns = list(zip(*rows, strict=True))
        for attempt in range(1, self._attempts + 1):
            try:
                self.client.insert(
                    table.name,
                    columns,
                    column_names=table.columns,
                    column_oriented=True,
                    settings={"insert_deduplication_token": token, **INSERT_SETTINGS},
                )
                break
            except Exception as exc:  # noqa: BLE001 - any failed write is retried, then raised
                if attempt == self._attempts:
                    raise InsertFailed(
                        f"{table.name}: insert of {len(rows)} rows failed {attempt} times: {exc}"
                    ) from exc
                log.warning("insert_retry", table=table.name, attempt=attempt, error=str(exc))
                time.sleep(self._backoff_s * 2 ** (attempt - 1))
        self._stats.written(table.name, len(rows))

    def _insert_frames(self, flush: Flush, route: Route, body: bytes, frames: list[Frames]) -> None:
        """One fast-path insert; when ClickHouse refuses it, decode each record in Python
        instead (naming the bad ones in dead letters) and insert those rows."""
        name = route.table.name
        settings = {"insert_deduplication_token": flush.dedup_token(name, "avro")}
        try:
            self._loader.insert(route.frames_format, body, flush.mark, settings | INSERT_SETTINGS)
        except Exception as exc:  # noqa: BLE001 - any refusal: the slow path decides per record
            log.warning("fast_insert_refused", table=name, error=str(exc)[:500])
            self._stats.fallbacks += 1
            self._insert_checked(flush, route, frames)
            return
        count = sum(len(batch.messages) for batch in frames)
        self._stats.fast_rows += count
        self._stats.written(name, count)

    def _insert_checked(self, flush: Flush, route: Route, frames: list[Frames]) -> None:
        rows: dict[str, list[Row]] = {}
        for message in (message for batch in frames for message in batch.messages):
            table, row = self._read_checked(route, message)
            rows.setdefault(table.name, []).append(row)
        for table_name, table_rows in rows.items():
            token = flush.dedup_token(f"{table_name}<-{route.table.name}", "checked")
            self.insert_rows(table_name, table_rows, token)
