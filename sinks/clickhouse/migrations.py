"""Versioned, idempotent schema migrations (`ctrack db migrate`); never edit an applied one."""

from __future__ import annotations

from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

# Every event table: ReplacingMergeTree with the event id last in ORDER BY, so a record stored
# twice (a retried batch, a re-sent event) collapses on merge and reads once with FINAL; the
# dedup window makes ClickHouse honour the sink's per-offset-range insert_deduplication_token.
_EVENTS = "ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM({time}) ORDER BY ({order})"
_DEDUP = "SETTINGS non_replicated_deduplication_window = 1000"
_KAFKA = (
    "kafka_partition UInt16, kafka_offset UInt64, ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)"
)
_TS = "DateTime64(3, 'UTC')"
_ENUM = "LowCardinality(String)"
_TEXT = "String CODEC(ZSTD(3))"


def _event_table(name: str, columns: str, time: str, order: str) -> str:
    engine = _EVENTS.format(time=time, order=order)
    return f"CREATE TABLE IF NOT EXISTS {name} ({columns}, {_KAFKA}) {engine} {_DEDUP}"


def _latest_table(name: str, columns: str, order: str) -> str:
    """Latest state per key (compacted topics): the highest updated_at wins; not partitioned,
    so a key's versions always meet in one partition."""
    engine = f"ENGINE = ReplacingMergeTree(updated_at) ORDER BY ({order})"
    return f"CREATE TABLE IF NOT EXISTS {name} ({columns}, {_KAFKA}) {engine} {_DEDUP}"


EVENT_FAMILY_TABLES = (
    _event_table(
        "return_lifecycle_events",
        f"event_id UUID, event_type {_ENUM}, occurred_at {_TS}, firm_id String,"
        f" return_id String, client_id String, firm_user String, recipient_role {_ENUM},"
        " signature_required Bool, voucher_due_dates Array(Date), voucher_due_date Nullable(Date)",
        "occurred_at",
        "firm_id, return_id, occurred_at, event_id",
    ),
    _event_table(
        "client_events",
        f"event_id UUID, event_type {_ENUM}, occurred_at {_TS}, firm_id String,"
        f" client_id String, actor {_ENUM}, firm_user String, origin {_ENUM},"
        " email_hash String, email_masked String, phone_hash String, phone_masked String,"
        f" get_request_kind {_ENUM}, request_id String, invite_trigger {_ENUM},"
        f" link_id String, link_expires_at Nullable({_TS}), superseded_by String,"
        f" verification_method {_ENUM}, failure_reason {_ENUM}, status_from {_ENUM},"
        f" status_to {_ENUM}, message_id String, locked_until Nullable({_TS}),"
        " caused_by Nullable(UUID)",
        "occurred_at",
        "firm_id, client_id, occurred_at, event_id",
    ),
    _latest_table(
        "client_status",
        f"client_id String, firm_id String, status {_ENUM}, identity_verified Bool,"
        f" verification_method {_ENUM}, origin {_ENUM}, has_email Bool, active_link_id String,"
        f" active_link_expires_at Nullable({_TS}), login_locked_until Nullable({_TS}),"
        f" updated_at {_TS}, caused_by Nullable(UUID)",
        "firm_id, client_id",
    ),
    _event_table(
        "delivery_events",
        f"event_id UUID, provider {_ENUM}, provider_event_id String, channel {_ENUM},"
        f" status {_ENUM}, occurred_at {_TS}, received_at {_TS}, message_id String,"
        f" message_kind {_ENUM}, firm_id String, return_id String, client_id String,"
        f" recipient_role {_ENUM}, recipient_hash String, bounce_type {_ENUM},"
        f" bounce_classification {_ENUM}, machine_open Bool, error_code {_ENUM},"
        f" reason {_TEXT}",
        "occurred_at",
        "firm_id, message_id, occurred_at, event_id",
    ),
    _event_table(
        "firm_alerts",
        f"alert_id UUID, raised_at {_TS}, kind {_ENUM}, firm_id String, return_id String,"
        f" client_id String, recipient_role {_ENUM}, message_id String, summary {_TEXT},"
        " caused_by UUID",
        "raised_at",
        "firm_id, raised_at, alert_id",
    ),
    _event_table(
        "triggers_fired",
        f"trigger_id UUID, idempotency_key String, kind {_ENUM}, firm_id String,"
        f" subject_id String, due_at {_TS}, fired_at {_TS}, detail {_TEXT}",
        "fired_at",
        "firm_id, subject_id, fired_at, trigger_id",
    ),
    _event_table(
        "notifications_requested",
        f"notification_id UUID, requested_at {_TS}, channel {_ENUM}, message_kind {_ENUM},"
        f" firm_id String, client_id String, return_id String, recipient_role {_ENUM},"
        " link_id String, secret_ref String, caused_by Nullable(UUID)",
        "requested_at",
        "firm_id, notification_id",
    ),
    _latest_table(
        "firm_settings",
        f"firm_id String, updated_at {_TS}, updated_by String, sso_enabled Bool,"
        " ssn_verification_allowed Bool, automatic_invites_enabled Bool,"
        " automatic_invite_grace_days Int32, link_expiry_days Int32, max_otp_failures Int32,"
        " otp_lockout_minutes Int32, max_access_failures Int32,"
        " signing_reminder_interval_days Int32, voucher_reminder_days_before Int32,"
        " invitation_reminder_interval_days Int32",
        "firm_id",
    ),
)

# tracking_events is ordered by (firm_id, return_id, ...): a timeline by return_id alone
# (no firm) would scan everything without a skip index.
RETURN_ID_INDEXES = tuple(
    statement
    for table in ("tracking_events", "return_lifecycle_events", "delivery_events")
    for statement in (
        f"ALTER TABLE {table} ADD INDEX IF NOT EXISTS return_id_bloom return_id"
        " TYPE bloom_filter(0.01) GRANULARITY 1",
        f"ALTER TABLE {table} MATERIALIZE INDEX return_id_bloom",
    )
)

# Per firm per day: how many distinct subjects (messages, returns, events, clients) had each
# activity. uniqExact over the subject ids, not count(): a duplicated event (a retried batch
# read twice, a provider webhook delivered twice) must count once, and materialized views see
# every inserted block, duplicates included.
_DAILY_ACTIVITY_TABLE = """
CREATE TABLE IF NOT EXISTS firm_daily_activity (
    firm_id String,
    day Date,
    metric LowCardinality(String),
    subjects AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (firm_id, day, metric)
"""
_FROM_DELIVERY = """
CREATE MATERIALIZED VIEW IF NOT EXISTS firm_daily_activity_from_delivery TO firm_daily_activity
AS SELECT
    firm_id,
    toDate(occurred_at) AS day,
    multiIf(status = 'PROCESSED', 'emails_processed', status = 'DELIVERED', 'emails_delivered',
            status = 'OPEN', 'emails_opened', 'emails_bounced') AS metric,
    uniqExactState(message_id) AS subjects
FROM delivery_events
WHERE channel = 'EMAIL'
  AND (status IN ('PROCESSED', 'DELIVERED', 'BOUNCE') OR (status = 'OPEN' AND NOT machine_open))
GROUP BY firm_id, day, metric
"""
_FROM_TRACKING = """
CREATE MATERIALIZED VIEW IF NOT EXISTS firm_daily_activity_from_tracking TO firm_daily_activity
AS SELECT
    firm_id,
    toDate(occurred_at) AS day,
    multiIf(event_type = 'TAX_RETURN_ACCESSED', 'returns_accessed',
            event_type = 'AUTHENTICATION_FAILED', 'authentication_failures',
            event_type = 'ACCESS_LOCKED', 'lockouts',
            event_type = 'SIGNING_REMINDER_SENT', 'signing_reminders_sent',
            'voucher_reminders_sent') AS metric,
    uniqExactState(if(event_type = 'TAX_RETURN_ACCESSED', return_id, toString(event_id)))
        AS subjects
FROM tracking_events
WHERE event_type IN ('TAX_RETURN_ACCESSED', 'AUTHENTICATION_FAILED', 'ACCESS_LOCKED',
                     'SIGNING_REMINDER_SENT', 'VOUCHER_REMINDER_SENT')
GROUP BY firm_id, day, metric
"""
_FROM_CLIENT_EVENTS = """
CREATE MATERIALIZED VIEW IF NOT EXISTS firm_daily_activity_from_client_events
TO firm_daily_activity
AS SELECT
    firm_id,
    toDate(occurred_at) AS day,
    multiIf(event_type = 'INVITE_SENT', 'invites_sent',
            event_type = 'INVITATION_REMINDER_SENT', 'invitation_reminders_sent',
            'clients_connected') AS metric,
    uniqExactState(if(event_type = 'STATUS_CHANGED', client_id, toString(event_id)))
        AS subjects
FROM client_events
WHERE event_type IN ('INVITE_SENT', 'INVITATION_REMINDER_SENT')
   OR (event_type = 'STATUS_CHANGED' AND status_to = 'CONNECTED')
GROUP BY firm_id, day, metric
"""
DAILY_ACTIVITY = (_DAILY_ACTIVITY_TABLE, _FROM_DELIVERY, _FROM_TRACKING, _FROM_CLIENT_EVENTS)


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
    Migration(2, "every event family's table", EVENT_FAMILY_TABLES),
    Migration(3, "timeline by return_id alone: skip index", RETURN_ID_INDEXES),
    Migration(4, "per-firm daily activity aggregates", DAILY_ACTIVITY),
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
