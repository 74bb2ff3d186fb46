"""Typed settings from the environment, one class per adapter: the one place for each."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / ".ctrack-data"


class _Frozen(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class StackSettings(_Frozen):
    """Where the local single-node broker lives and how it runs (`ctrack stack`)."""

    model_config = SettingsConfigDict(
        env_prefix="CTRACK_", frozen=True, extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        DEFAULT_DATA_DIR, description="Root of all local state: jars, broker logs, chdb."
    )
    kafka_port: int = Field(
        9092, description="PLAINTEXT port of the local broker (127.0.0.1 only)."
    )
    kafka_controller_port: int = Field(
        9093, description="KRaft controller port of the local broker."
    )
    kafka_heap: str = Field("512m", description="Maximum JVM heap of the local broker (-Xmx).")
    kafka_start_timeout_s: float = Field(
        90.0, description="How long `stack up` waits for the broker."
    )
    kafka_jars_dir: Path | None = Field(
        None, description="Where resolved broker jars are cached (default <data_dir>/kafka/lib)."
    )

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def jars_dir(self) -> Path:
        return self.kafka_jars_dir or self.kafka_dir / "lib"


class KafkaSettings(_Frozen):
    """How every Kafka client connects, and the namespace of our topics."""

    bootstrap_servers: str | None = Field(
        None,
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="External cluster; when unset, the local broker started by `ctrack stack up`.",
    )
    topic_prefix: str = Field(
        "ctrack",
        validation_alias="CTRACK_TOPIC_PREFIX",
        description="Prefix of every topic name; tests use their own to stay apart.",
    )
    local_port: int = Field(9092, validation_alias="CTRACK_KAFKA_PORT")
    replication_factor: int = Field(
        1,
        validation_alias="CTRACK_REPLICATION_FACTOR",
        description="Of topics we create (3 on a cluster).",
    )
    max_record_bytes: int = Field(
        1024 * 1024,
        gt=0,
        validation_alias="CTRACK_MAX_RECORD_BYTES",
        description="A record value larger than this is poison: consumers dead-letter it with "
        "the reason instead of storing it.",
    )

    @property
    def uses_external_cluster(self) -> bool:
        return bool(self.bootstrap_servers)

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"127.0.0.1:{self.local_port}"


class SchemaRegistrySettings(_Frozen):
    """Confluent Schema Registry; when unset, Avro single-object encoding is used."""

    url: str | None = Field(None, validation_alias="SCHEMA_REGISTRY_URL")
    basic_auth: SecretStr | None = Field(
        None, validation_alias="SCHEMA_REGISTRY_BASIC_AUTH", description="user:password, if any."
    )


class ClickHouseSettings(_Frozen):
    """Which ClickHouse engine the sink and queries use."""

    dsn: str | None = Field(
        None,
        validation_alias="CLICKHOUSE_DSN",
        description="chdb:///path (embedded, default under the data dir) or http(s)://host:8123/db.",
    )
    data_dir: Path = Field(DEFAULT_DATA_DIR, validation_alias="CTRACK_DATA_DIR")

    @property
    def resolved_dsn(self) -> str:
        return self.dsn or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"


class StreamSettings(_Frozen):
    """The faust stream worker."""

    model_config = SettingsConfigDict(
        env_prefix="CTRACK_WORKER_", frozen=True, extra="ignore", populate_by_name=True
    )

    app_id: str = Field("ctrack-streams", description="Consumer group and changelog prefix.")
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        validation_alias="CTRACK_DATA_DIR",
        description="Tables are stored (rocksdict) under <data_dir>/streams/<app_id>.",
    )
    web_port: int = Field(6066, description="faust web (metrics) port.")
    web_enabled: bool = Field(False, description="Serve faust's web endpoints (metrics).")
    clock: str = Field(
        "wall",
        description="wall: the worker ticks its own timers every tick_interval_s; external: "
        "only ticks produced onto the clock topic by someone else (tests, replays) move time.",
    )
    tick_interval_s: float = Field(1.0, description="Seconds between clock ticks (wall clock).")
    batch_max_events: int = Field(
        4000,
        ge=1,
        description="An agent processes at most this many already-arrived events as one batch.",
    )
    batch_gather_s: float = Field(
        0.05,
        ge=0,
        description="An agent that is behind waits this long for more events before a batch "
        "(larger batches, cheaper per event); a caught-up agent never waits.",
    )
    timers_per_tick: int = Field(
        2000,
        ge=1,
        description="A clock tick fires at most this many due timers per partition; the rest "
        "fire on continuation ticks (bounds a batch's journal record after a long pause).",
    )
    producer_linger_s: float = Field(
        0.005,
        ge=0,
        description="The worker's producer gathers records this long per partition before "
        "sending (fewer, larger requests; adds to latency).",
    )
    fetch_max_wait_ms: int = Field(
        10,
        ge=0,
        description="How long the broker may hold the worker's fetch for new data (faust's own "
        "1,500 ms delays busy partitions behind idle ones; see streams/prompt_fetch.py).",
    )
    stall_s: float = Field(
        120.0,
        gt=0,
        description="A worker that has work (tables to recover, records past its committed "
        "offsets) and moves nothing for this long exits (status 75) for its supervisor to "
        "start it again (see streams/watchdog.py). Must exceed the consumer session timeout "
        "(60 s): the worker refuses to start otherwise.",
    )
    store_write_buffer_bytes: int = Field(
        2 * 1024**2,
        ge=64 * 1024,
        description="RocksDB memtable size per table partition (the worker opens one database "
        "per table and partition, about 70): a memtable is flushed to disk at this size.",
    )
    store_block_cache_bytes: int = Field(
        128 * 1024**2,
        ge=1024**2,
        description="RocksDB memory of the whole worker: one block cache shared by every "
        "table partition, holding data, index and filter blocks and (charged to it) the "
        "memtables, whatever the number of partitions or files.",
    )
    store_memtable_bytes: int = Field(
        64 * 1024**2,
        ge=1024**2,
        description="Part of the block cache the worker's memtables may hold together; past "
        "it RocksDB flushes memtables early (writes never wait).",
    )
    uvloop: bool = Field(
        True,
        description="Run the worker on uvloop (its event loop in C: cheaper loop turns, socket "
        "writes and callbacks than asyncio's own).",
    )

    @model_validator(mode="after")
    def _memtables_fit_the_cache(self) -> StreamSettings:
        if self.store_memtable_bytes > self.store_block_cache_bytes:
            raise ValueError(
                "CTRACK_WORKER_STORE_MEMTABLE_BYTES must not exceed "
                "CTRACK_WORKER_STORE_BLOCK_CACHE_BYTES (memtables are charged to the cache)"
            )
        return self

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "streams" / self.app_id


class SinkSettings(_Frozen):
    """The ClickHouse sink's batching."""

    model_config = SettingsConfigDict(
        env_prefix="CTRACK_SINK_", frozen=True, extra="ignore", populate_by_name=True
    )

    group_id: str = Field("ctrack-sink", description="Consumer group of the sink.")
    batch_max_rows: int = Field(50_000, description="Flush a partition's batch at this many rows.")
    batch_max_seconds: float = Field(1.0, description="Flush at least this often.")


DEVELOPMENT_PII_KEY = "ctrack-development-only-pii-hash-key"


class PrivacySettings(_Frozen):
    """Keys that protect personal data; a placeholder key is refused outside development."""

    environment: str = Field(
        "development", validation_alias="CTRACK_ENV", description="development | production"
    )
    pii_hash_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_PII_KEY),
        validation_alias="CTRACK_PII_HASH_KEY",
        description="HMAC key for hashing emails, phones and SSN digits (>= 16 bytes).",
    )

    def hash_key(self) -> bytes:
        """The key; refuses the development placeholder unless CTRACK_ENV=development."""
        key = self.pii_hash_key.get_secret_value()
        if key == DEVELOPMENT_PII_KEY and self.environment != "development":
            raise ValueError(
                "set CTRACK_PII_HASH_KEY: the development key is refused in production"
            )
        return key.encode()


class WebhookSettings(_Frozen):
    """Provider webhook ingest (`ctrack webhooks serve`): secrets, limits, where it listens."""

    model_config = SettingsConfigDict(
        env_prefix="CTRACK_WEBHOOK_", frozen=True, extra="ignore", populate_by_name=True
    )

    sendgrid_public_key: str | None = Field(
        None,
        validation_alias="SENDGRID_WEBHOOK_PUBLIC_KEY",
        description="SendGrid's Event Webhook verification key (base64 DER SubjectPublicKeyInfo, "
        "as SendGrid shows it); unset = the SendGrid endpoint refuses every request.",
    )
    twilio_auth_token: SecretStr | None = Field(
        None,
        validation_alias="TWILIO_AUTH_TOKEN",
        description="Twilio auth token that signs status callbacks; unset = the Twilio endpoint "
        "refuses every request.",
    )
    max_body_bytes: int = Field(
        1024 * 1024, gt=0, description="Larger request bodies are rejected (413) unread."
    )
    timestamp_tolerance_s: float = Field(
        300.0, gt=0, description="SendGrid signatures older (or newer) than this are stale."
    )
    public_url: str | None = Field(
        None,
        description="Base URL Twilio calls (and signs), e.g. https://hooks.example.com; unset = "
        "the URL of the request as this process sees it.",
    )
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(8090, description="Port the HTTP server listens on.")
    flush_timeout_s: float = Field(
        10.0, gt=0, description="How long a request waits for Kafka to acknowledge its records."
    )
    dedupe_cache_size: int = Field(
        100_000, gt=0, description="Event ids remembered in-process to skip redelivered events."
    )


class QueryApiSettings(_Frozen):
    """The tracking query API (`ctrack api serve`): firms' API keys and where it listens."""

    model_config = SettingsConfigDict(
        env_prefix="CTRACK_API_", frozen=True, extra="ignore", populate_by_name=True
    )

    keys: SecretStr = Field(
        SecretStr(""),
        validation_alias="CTRACK_API_KEYS",
        description="firm_id:key,firm_id:key - each key (>= 16 characters) belongs to exactly "
        "one firm; unset = every request is refused (401).",
    )
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(8091, description="Port the HTTP server listens on.")

    def firm_keys(self) -> list[tuple[str, str]]:
        """The (firm_id, key) pairs; refuses malformed entries, short keys and shared keys."""
        pairs: list[tuple[str, str]] = []
        for entry in filter(None, (e.strip() for e in self.keys.get_secret_value().split(","))):
            firm_id, _, key = entry.partition(":")
            if not firm_id.strip() or len(key.strip()) < 16:
                raise ValueError("CTRACK_API_KEYS entries are firm_id:key, keys >= 16 characters")
            pairs.append((firm_id.strip(), key.strip()))
        if len({key for _, key in pairs}) != len(pairs):
            raise ValueError("CTRACK_API_KEYS: a key may belong to one firm only")
        return pairs


DEVELOPMENT_AUTH_KEY = "ctrack-development-only-auth-secret-key"


class AuthSettings(_Frozen):
    """The dynamic password service (`ctrack auth serve`): secrets, limits, where it listens.

    Firms authenticate with the same per-firm keys as the query API (CTRACK_API_KEYS).
    """

    model_config = SettingsConfigDict(
        env_prefix="CTRACK_AUTH_", frozen=True, extra="ignore", populate_by_name=True
    )

    environment: str = Field("development", validation_alias="CTRACK_ENV")
    secret_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_AUTH_KEY),
        description="Master secret (>= 32 characters): link tokens, one-time password secrets "
        "and the contact sealing key are derived from it (HKDF), one per purpose.",
    )
    secret_key_id: str = Field("k1", description="Names the secret key (recorded on sealed data).")
    public_url: str = Field(
        "http://127.0.0.1:8092", description="Base URL of client links in invites and emails."
    )
    data_dir: Path = Field(
        DEFAULT_DATA_DIR / "auth",
        validation_alias="CTRACK_AUTH_DATA_DIR",
        description="Where the service keeps its durable state.",
    )
    otp_digits: int = Field(6, ge=6, le=8, description="Digits of a one-time password.")
    otp_validity_s: int = Field(300, gt=0, description="A one-time password expires after this.")
    otp_max_sends: int = Field(5, gt=0, description="At most this many codes per window...")
    otp_send_window_s: int = Field(600, gt=0, description="...of this many seconds, per client.")
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds.")
    port: int = Field(8092, description="Port the HTTP server listens on.")

    def master_key(self) -> bytes:
        """The key; refuses the development placeholder unless CTRACK_ENV=development."""
        key = self.secret_key.get_secret_value()
        if key == DEVELOPMENT_AUTH_KEY and self.environment != "development":
            raise ValueError(
                "set CTRACK_AUTH_SECRET_KEY: the development key is refused in production"
            )
        if len(key) < 32:
            raise ValueError("CTRACK_AUTH_SECRET_KEY must be at least 32 characters")
        return key.encode()


class NotificationSettings(_Frozen):
    """The notification dispatcher (`ctrack notify run`): providers per channel and their keys."""

    model_config = SettingsConfigDict(
        env_prefix="CTRACK_NOTIFY_", frozen=True, extra="ignore", populate_by_name=True
    )

    email_provider: str = Field("local", description="local | smtp | sendgrid")
    sms_provider: str = Field("local", description="local | twilio")
    group_id: str = Field("ctrack-dispatcher", description="Consumer group of the dispatcher.")
    outbox_dir: Path = Field(
        DEFAULT_DATA_DIR / "outbox",
        validation_alias="CTRACK_NOTIFY_OUTBOX_DIR",
        description="Local provider: where each message is written (one file per message).",
    )
    email_from: str = Field("no-reply@ctrack.local", description="Sender address of emails.")
    smtp_host: str = Field("127.0.0.1")
    smtp_port: int = Field(587)
    smtp_username: str | None = Field(None)
    smtp_password: SecretStr | None = Field(None)
    smtp_starttls: bool = Field(True)
    sendgrid_api_key: SecretStr | None = Field(None, validation_alias="SENDGRID_API_KEY")
    twilio_account_sid: str | None = Field(None, validation_alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(None, validation_alias="TWILIO_AUTH_TOKEN")
    twilio_from: str | None = Field(None, validation_alias="TWILIO_FROM_NUMBER")
    status_callback_url: str | None = Field(
        None, description="Public URL of the webhook ingest, passed to providers for callbacks."
    )
    data_dir: Path = Field(
        DEFAULT_DATA_DIR,
        validation_alias="CTRACK_DATA_DIR",
        description="The send ledger (notification ids already sent) lives in <data_dir>/notify.",
    )
    contact_wait_s: float = Field(
        300.0,
        gt=0,
        description="How long a notification waits for its client's contact on client-contacts "
        "before it goes to the dead-letter topic.",
    )
    send_attempts: int = Field(
        3, ge=1, description="Tries per send when the provider surely sent nothing (refused)."
    )
    retry_backoff_s: float = Field(0.5, ge=0, description="Pause before a retry, doubling.")
    provider_timeout_s: float = Field(10.0, gt=0, description="Timeout of one provider call.")
    sendgrid_api_url: str = Field(
        "https://api.sendgrid.com", description="Base URL of SendGrid's v3 API."
    )
    twilio_api_url: str = Field("https://api.twilio.com", description="Base URL of Twilio's API.")

    @property
    def ledger_path(self) -> Path:
        return self.data_dir / "notify" / "ledger.db"
