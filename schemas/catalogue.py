"""The topic catalogue: every topic, its key, partitions, retention, cleanup and value schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DAY_MS = 24 * 60 * 60 * 1000

TRACKING_EVENT = "ctrack.tracking.TrackingEvent"
DEAD_LETTER = "ctrack.deadletter.DeadLetter"


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

    def config(self) -> dict[str, str]:
        """Topic-level configs to create or reconcile."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


TRACKING = TopicSpec(
    name="tracking",
    value_schema=TRACKING_EVENT,
    key="return_id (UTF-8): every touch on one return is ordered",
    partitions=6,
    retention_ms=400 * DAY_MS,
    cleanup_policy="delete",
    description="Client Tracking events of delivered returns, in the glossary's terms.",
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

ALL_TOPICS: tuple[TopicSpec, ...] = (TRACKING, DEAD_LETTERS)


@dataclass(frozen=True)
class TableSpec:
    """A stream worker's state table; its changelog is co-partitioned with its source topic."""

    name: str
    source: TopicSpec
    description: str

    def changelog(self, worker_app_id: str) -> TopicSpec:
        """The compacted changelog faust keeps: `<prefix>.<app id>-<table>-changelog`."""
        return TopicSpec(
            name=f"{worker_app_id}-{self.name}-changelog",
            value_schema="faust JSON",
            key=f"table key (same partition as the {self.source.name} record that changed it)",
            partitions=self.source.partitions,
            retention_ms=-1,
            cleanup_policy="compact",
            description=f"Changelog of the worker table {self.name}: {self.description}",
        )


LOCKOUT_STATE = TableSpec(
    name="lockout-state",
    source=TRACKING,
    description="consecutive authentication failures and lock per return recipient",
)
ALL_TABLES: tuple[TableSpec, ...] = (LOCKOUT_STATE,)


def changelog_topics(worker_app_id: str) -> tuple[TopicSpec, ...]:
    """Changelog topics of a worker; created up front so faust never races for them."""
    return tuple(table.changelog(worker_app_id) for table in ALL_TABLES)


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
