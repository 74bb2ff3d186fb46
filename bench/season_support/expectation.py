"""The clean expectation of a run: the same simulated events folded through the same rules in
this process, with no Kafka, no faults and no concurrency. Expected ids go into a ClickHouse
table (`recon_expected`) in batches, so comparing a full season never holds them in memory."""
# ruff: noqa: S608 - SQL names only our own table and column constants, never input

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from producers.simulator import SimulationPlan, simulate
from season_support.fold import DEAD_LETTER, Output, SeasonFold
from season_support.scales import tick_time
from sinks.clickhouse.tables import TABLE_OF_SCHEMA

EXPECTED_TABLE = "recon_expected"
BATCH = 100_000
# The column that identifies a row of each table (a record stored twice has the same value).
ID_COLUMN = {
    "tracking_events": "event_id",
    "return_lifecycle_events": "event_id",
    "client_events": "event_id",
    "delivery_events": "event_id",
    "client_status": "client_id",
    "notifications_requested": "notification_id",
    "triggers_fired": "trigger_id",
    "firm_alerts": "alert_id",
    "firm_settings": "firm_id",
}
STATUS_FIELDS = (
    "status",
    "identity_verified",
    "verification_method",
    "has_email",
    "active_link_id",
    "login_locked_until",
)


@dataclass
class Expectation:
    """What a correct run stores: ids per table (in ClickHouse), statuses, dead letters."""

    fold: SeasonFold
    produced: Counter[str] = field(default_factory=Counter)  # source records per schema
    rows: Counter[str] = field(default_factory=Counter)  # distinct ids per table
    statuses: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)  # (stage, type)


class IdWriter:
    """Buffers (table, id) pairs and inserts them in batches; `fresh` starts the table anew."""

    def __init__(self, client: Client, fresh: bool = True):
        self.client = client
        self.buffer: list[tuple[str, str]] = []
        if not fresh:
            return
        client.command(f"DROP TABLE IF EXISTS {EXPECTED_TABLE}")
        client.command(
            f"CREATE TABLE {EXPECTED_TABLE} (tbl LowCardinality(String), id String)"
            " ENGINE = MergeTree ORDER BY (tbl, id)"
        )

    def add(self, table: str, row_id: str) -> None:
        self.buffer.append((table, row_id))
        if len(self.buffer) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.client.insert(EXPECTED_TABLE, self.buffer, column_names=["tbl", "id"])
            self.buffer = []


def expect(plan: SimulationPlan, client: Client, source_only: bool = True) -> Expectation:
    """Fold the plan's records (and the run's one clock tick) and record what must be stored."""
    fold = SeasonFold()
    expectation = Expectation(fold)
    writer = IdWriter(client)
    for schema_name, _key, record in simulate(plan, source_only=source_only):
        expectation.produced[schema_name] += 1
        store_id(writer, schema_name, record)
        add_outputs(expectation, writer, fold.apply(schema_name, record))
    add_outputs(expectation, writer, fold.tick(tick_time(plan)))
    writer.flush()
    count_rows(expectation, client)
    return expectation


def count_rows(expectation: Expectation, client: Client) -> None:
    """Distinct expected ids per table, from what the writer stored."""
    rows = client.query(f"SELECT tbl, uniqExact(id) FROM {EXPECTED_TABLE} GROUP BY tbl").result_rows
    for table, count in rows:
        expectation.rows[table] = int(count)


def store_id(writer: IdWriter, schema_name: str, record: dict[str, Any]) -> None:
    table = TABLE_OF_SCHEMA[schema_name].name
    writer.add(table, str(record[ID_COLUMN[table]]))


def add_outputs(expectation: Expectation, writer: IdWriter, outputs: Iterable[Output]) -> None:
    for schema_name, _key, record in outputs:
        if schema_name == DEAD_LETTER:
            expectation.dead_letters[(record["stage"], record["error_type"])] += 1
            continue
        store_id(writer, schema_name, record)
        if TABLE_OF_SCHEMA[schema_name].name == "client_status":
            expectation.statuses[record["client_id"]] = status_key(record)


def status_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """The compared fields of a client status (timestamps as epoch milliseconds)."""
    values = []
    for name in STATUS_FIELDS:
        value = record[name]
        if hasattr(value, "timestamp"):
            value = int(value.timestamp() * 1000)
        values.append(value or None if not isinstance(value, bool) else value)
    return tuple(values)
