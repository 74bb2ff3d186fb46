"""The topic catalogue: every topic, its key, partitions, retention, cleanup and value schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DAY_MS = 24 * 60 * 60 * 1000

TRACKING_EVENT = "ctrack.tracking.TrackingEvent"
RETURN_LIFECYCLE_EVENT = "ctrack.returns.ReturnLifecycleEvent"
FIRM_SETTINGS = "ctrack.firms.FirmSettings"
CLIENT_EVENT = "ctrack.clients.ClientEvent"
CLIENT_STATUS = "ctrack.clients.ClientStatus"
CLIENT_CONTACT = "ctrack.clients.ClientContact"
DELIVERY_EVENT = "ctrack.delivery.DeliveryEvent"
NOTIFICATION_REQUESTED = "ctrack.notifications.NotificationRequested"
TRIGGER_FIRED = "ctrack.triggers.TriggerFired"
FIRM_ALERT = "ctrack.alerts.FirmAlert"
DEAD_LETTER = "ctrack.deadletter.DeadLetter"
TICK = "ctrack.streams.Tick"

# Topics keyed by return_id or client_id share a partition count so workers can co-partition.
KEYED_PARTITIONS = 6


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract. `name` is relative to the deployment's topic prefix."""

    name: str
    value_schema: str
    key: str
    partitions: int
    retention_ms: int  # -1 keeps forever
    cleanup_policy: Literal["delete", "compact"]
    description: str
    is_dead_letter: bool = False
    max_message_bytes: int | None = None  # None: the broker's default (1 MiB)

    def config(self) -> dict[str, str]:
        """Topic-level configs to create or reconcile."""
        config = {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}
        if self.max_message_bytes is not None:
            config["max.message.bytes"] = str(self.max_message_bytes)
        return config


TRACKING = TopicSpec(
    name="tracking",
    value_schema=TRACKING_EVENT,
    key="return_id (UTF-8): every touch on one return is ordered",
    partitions=KEYED_PARTITIONS,
    retention_ms=400 * DAY_MS,
    cleanup_policy="delete",
    description="Client Tracking events of delivered returns, in the glossary's terms.",
)
RETURN_LIFECYCLE = TopicSpec(
    name="return-lifecycle",
    value_schema=RETURN_LIFECYCLE_EVENT,
    key="return_id (UTF-8), co-partitioned with tracking",
    partitions=KEYED_PARTITIONS,
    retention_ms=400 * DAY_MS,
    cleanup_policy="delete",
    description="Firm-side facts about returns: delivered (vouchers, signature), recalled, "
    "reprocessed, unlocked, signed, payment recorded, deleted.",
)
FIRM_SETTINGS_TOPIC = TopicSpec(
    name="firm-settings",
    value_schema=FIRM_SETTINGS,
    key="firm_id (UTF-8); compacted, the latest settings per firm",
    partitions=3,
    retention_ms=-1,
    cleanup_policy="compact",
    description="Each firm's current settings: rule parameters (grace period, link expiry, "
    "lockout, reminder intervals), SSO, SSN verification.",
)
CLIENT_EVENTS = TopicSpec(
    name="client-events",
    value_schema=CLIENT_EVENT,
    key="client_id (UTF-8): one client's onboarding steps are ordered",
    partitions=KEYED_PARTITIONS,
    retention_ms=400 * DAY_MS,
    cleanup_policy="delete",
    description="Dynamic Password flow: clients added, get requests, invites, links, one-time "
    "passwords, SSN checks, identity verification, messages.",
)
CLIENT_STATUS_TOPIC = TopicSpec(
    name="client-status",
    value_schema=CLIENT_STATUS,
    key="client_id (UTF-8); compacted, the latest status per client",
    partitions=KEYED_PARTITIONS,
    retention_ms=-1,
    cleanup_policy="compact",
    description="Current status (Not Invited, Not Enrolled, Connected, ...) and lock state.",
)
CLIENT_CONTACTS = TopicSpec(
    name="client-contacts",
    value_schema=CLIENT_CONTACT,
    key="client_id (UTF-8); compacted, the latest contact per client, null = erased",
    partitions=KEYED_PARTITIONS,
    retention_ms=-1,
    cleanup_policy="compact",
    description="Internal: clients' email and mobile number, sealed with AES-GCM, for the "
    "dynamic password service and the notification dispatcher only.",
)
DELIVERY = TopicSpec(
    name="delivery",
    value_schema=DELIVERY_EVENT,
    key="message_id (UTF-8): one message's statuses are ordered",
    partitions=KEYED_PARTITIONS,
    retention_ms=90 * DAY_MS,
    cleanup_policy="delete",
    description="Email (SendGrid/SMTP) and SMS (Twilio) provider statuses per message.",
)
NOTIFICATIONS = TopicSpec(
    name="notifications",
    value_schema=NOTIFICATION_REQUESTED,
    key="client_id or return_id (UTF-8)",
    partitions=KEYED_PARTITIONS,
    retention_ms=7 * DAY_MS,
    cleanup_policy="delete",
    description="Outbox of messages to send; the dispatcher sends each notification_id once.",
)
TRIGGERS = TopicSpec(
    name="triggers",
    value_schema=TRIGGER_FIRED,
    key="subject_id: client_id or return_id (UTF-8)",
    partitions=KEYED_PARTITIONS,
    retention_ms=30 * DAY_MS,
    cleanup_policy="delete",
    description="Timers that came due (automatic invites, link expiry, reminders, auto-unlock).",
)
ALERTS = TopicSpec(
    name="alerts",
    value_schema=FIRM_ALERT,
    key="firm_id (UTF-8)",
    partitions=3,
    retention_ms=90 * DAY_MS,
    cleanup_policy="delete",
    description="Things a firm user should act on, e.g. 'taxpayer did not receive email'.",
)
CLOCK = TopicSpec(
    name="clock",
    value_schema=TICK,
    key="none: one tick per partition",
    partitions=KEYED_PARTITIONS,
    retention_ms=DAY_MS // 24,
    cleanup_policy="delete",
    description="Internal: ticks that drive the workers' timers, co-partitioned with the "
    "keyed topics so each partition's timers fire inside that partition.",
)
DEAD_LETTERS = TopicSpec(
    name="dead-letter",
    value_schema=DEAD_LETTER,
    key="the rejected record's own key",
    partitions=3,
    retention_ms=30 * DAY_MS,
    cleanup_policy="delete",
    description="Records that could not be decoded or applied, with the reason.",
    is_dead_letter=True,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    TRACKING,
    RETURN_LIFECYCLE,
    FIRM_SETTINGS_TOPIC,
    CLIENT_EVENTS,
    CLIENT_STATUS_TOPIC,
    CLIENT_CONTACTS,
    DELIVERY,
    NOTIFICATIONS,
    TRIGGERS,
    ALERTS,
    CLOCK,
    DEAD_LETTERS,
)
TOPIC_OF_SCHEMA: dict[str, TopicSpec] = {spec.value_schema: spec for spec in ALL_TOPICS}


@dataclass(frozen=True)
class TableSpec:
    """A stream worker's state table; its changelog is co-partitioned with its source topic."""

    name: str
    source: TopicSpec
    description: str
    value_encoding: str = "faust JSON"
    max_message_bytes: int | None = None

    def changelog(self, worker_app_id: str) -> TopicSpec:
        """The compacted changelog faust keeps: `<prefix>.<app id>-<table>-changelog`."""
        return TopicSpec(
            name=f"{worker_app_id}-{self.name}-changelog",
            value_schema=self.value_encoding,
            key=f"table key (same partition as the {self.source.name} record that changed it)",
            partitions=self.source.partitions,
            retention_ms=-1,
            cleanup_policy="compact",
            description=f"Changelog of the worker table {self.name}: {self.description}",
            max_message_bytes=self.max_message_bytes,
        )


LOCKOUT_STATE = TableSpec(
    name="lockout-state",
    source=TRACKING,
    description="consecutive authentication failures and lock per return recipient",
)
FIRM_SETTINGS_TABLE = TableSpec(
    name="firm-settings",
    source=FIRM_SETTINGS_TOPIC,
    description="every firm's current settings, on every worker (global table)",
)
CLIENT_STATE = TableSpec("client-state", CLIENT_EVENTS, "Dynamic Password state per client")
CLIENT_TIMERS = TableSpec("client-timers", CLIENT_EVENTS, "pending timers per client")
CLIENT_TIMER_BUCKETS = TableSpec(
    "client-timer-buckets", CLIENT_EVENTS, "client timer keys by partition and minute, in chunks"
)
RETURN_STATE = TableSpec("return-state", RETURN_LIFECYCLE, "reminder state per return")
RETURN_TIMERS = TableSpec("return-timers", RETURN_LIFECYCLE, "pending reminders per return")
RETURN_TIMER_BUCKETS = TableSpec(
    "return-timer-buckets", RETURN_LIFECYCLE, "return timer keys by partition and minute, in chunks"
)
MESSAGE_ROLLUP = TableSpec("message-rollup", DELIVERY, "latest delivery status per message")
# A journal record holds every row one batch changed on one partition (streams/journal.py).
JOURNAL_MAX_BYTES = 16 * 1024 * 1024


def _journal(name: str, source: TopicSpec, agent: str) -> TableSpec:
    return TableSpec(
        name,
        source,
        f"per partition, every row the {agent} agent's last batch changed and the input offsets "
        "it applied; written before the rows, so a restart finds state consistent with them",
        value_encoding="ctrack journal frame (streams/journal.py)",
        max_message_bytes=JOURNAL_MAX_BYTES,
    )


RETURNS_JOURNAL = _journal("returns-journal", RETURN_LIFECYCLE, "returns")
CLIENTS_JOURNAL = _journal("clients-journal", CLIENT_EVENTS, "client-status")
DELIVERY_JOURNAL = _journal("delivery-journal", DELIVERY, "delivery-rollup")
ALL_TABLES: tuple[TableSpec, ...] = (
    LOCKOUT_STATE,
    FIRM_SETTINGS_TABLE,
    CLIENT_STATE,
    CLIENT_TIMERS,
    CLIENT_TIMER_BUCKETS,
    RETURN_STATE,
    RETURN_TIMERS,
    RETURN_TIMER_BUCKETS,
    MESSAGE_ROLLUP,
    RETURNS_JOURNAL,
    CLIENTS_JOURNAL,
    DELIVERY_JOURNAL,
)


def changelog_topics(worker_app_id: str) -> tuple[TopicSpec, ...]:
    """Internal topics of a worker (table changelogs and faust's assignor topic), created up
    front so faust never races the cluster for them."""
    leader = TopicSpec(
        name=f"{worker_app_id}-__assignor-__leader",
        value_schema="faust internal",
        key="faust internal",
        partitions=1,
        retention_ms=-1,
        cleanup_policy="delete",
        description="faust's group-leader election topic (internal).",
    )
    return (*(table.changelog(worker_app_id) for table in ALL_TABLES), leader)


@dataclass(frozen=True)
class TopicNames:
    """Full topic names of one deployment (prefix + catalogue name)."""

    prefix: str

    def of(self, spec: TopicSpec) -> str:
        return f"{self.prefix}.{spec.name}"

    def app_id(self, worker_app_id: str) -> str:
        """faust's app id (consumer group); its changelogs are `<app id>-<table>-changelog`."""
        return f"{self.prefix}.{worker_app_id}"

    @property
    def tracking(self) -> str:
        return self.of(TRACKING)

    @property
    def dead_letter(self) -> str:
        return self.of(DEAD_LETTERS)
