"""Versioned, idempotent schema migrations (`ctrack db migrate`)."""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "tracking events and dead letters",
        (
            """
            CREATE TABLE IF NOT EXISTS tracking_events (
                event_id UUID,
                event_type LowCardinality(String),
                occurred_at DateTime64(3, 'UTC'),
                firm_id String,
                return_id String,
                recipient_role LowCardinality(String),
                actor LowCardinality(String),
                client_id String,
                firm_user String,
                detail String CODEC(ZSTD(3)),
                failure_reason LowCardinality(String),
                kba_round UInt8,
                caused_by Nullable(UUID),
                kafka_partition UInt16,
                kafka_offset UInt64,
                ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
            )
            ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(occurred_at)
            ORDER BY (firm_id, return_id, occurred_at, event_id)
            SETTINGS non_replicated_deduplication_window = 1000
            """,
            """
            CREATE TABLE IF NOT EXISTS dead_letters (
                dead_letter_id UUID,
                failed_at DateTime64(3, 'UTC'),
                stage LowCardinality(String),
                error_type LowCardinality(String),
                reason String CODEC(ZSTD(3)),
                source_topic LowCardinality(String),
                source_partition Int32,
                source_offset Int64,
                source_key String,
                payload String CODEC(ZSTD(3)),
                ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
            )
            ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(failed_at)
            ORDER BY (source_topic, dead_letter_id)
            SETTINGS non_replicated_deduplication_window = 1000
            """,
        ),
    ),
)

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""


def migrate(client: Client) -> list[Migration]:
    """Apply every migration not yet recorded; returns those applied now."""
    client.command(_LEDGER)
    applied = {
        row[0] for row in client.query("SELECT version FROM schema_migrations FINAL").result_rows
    }
    done = []
    for migration in MIGRATIONS:
        if migration.version in applied:
            continue
        for statement in migration.statements:
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
        )
        done.append(migration)
    return done
