"""Creates and reconciles the catalogue's topics on a cluster (`ctrack topics create`)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from schemas.catalogue import ALL_TOPICS, TopicNames, TopicSpec


@dataclass(frozen=True)
class TopicChange:
    """One thing `ensure_topics` did (or found already right)."""

    topic: str
    action: str  # created | partitions-increased | config-updated | unchanged
    detail: str = ""


def ensure_topics(
    bootstrap: str,
    names: TopicNames,
    replication_factor: int = 1,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    timeout_s: float = 30.0,
) -> list[TopicChange]:
    """Create missing topics; bring partitions and configs of others up to the catalogue."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=timeout_s).topics
    changes: list[TopicChange] = []
    to_create: list[NewTopic] = []
    for spec in specs:
        name = names.of(spec)
        if name not in existing:
            to_create.append(
                NewTopic(name, spec.partitions, replication_factor, config=spec.config())
            )
            continue
        changes.extend(_reconcile(admin, name, spec, len(existing[name].partitions), timeout_s))
    if not to_create:
        return changes
    for name, future in admin.create_topics(to_create, operation_timeout=timeout_s).items():
        try:
            future.result()
            changes.append(TopicChange(name, "created"))
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won the race
                raise
            changes.append(TopicChange(name, "unchanged", "created concurrently"))
    return changes


def _reconcile(
    admin: AdminClient, name: str, spec: TopicSpec, partitions: int, timeout_s: float
) -> list[TopicChange]:
    changes = []
    if partitions < spec.partitions:
        admin.create_partitions([NewPartitions(name, spec.partitions)])[name].result(timeout_s)
        changes.append(
            TopicChange(name, "partitions-increased", f"{partitions} -> {spec.partitions}")
        )
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    current = admin.describe_configs([resource])[resource].result(timeout_s)
    drift = {k: v for k, v in spec.config().items() if current[k].value != v}
    if drift:
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in drift.items()
        ]
        admin.incremental_alter_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)]
        )[resource].result(timeout_s)
        changes.append(
            TopicChange(name, "config-updated", ", ".join(f"{k}={v}" for k, v in drift.items()))
        )
    return changes or [TopicChange(name, "unchanged")]


def wait_for_topics(bootstrap: str, topics: list[str], timeout_s: float = 60.0) -> None:
    """Block until the cluster's metadata lists every topic with its partitions."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout_s
    missing = set(topics)
    while missing and time.monotonic() < deadline:
        listed = admin.list_topics(timeout=10).topics
        missing = {t for t in missing if t not in listed or not listed[t].partitions}
        if missing:
            time.sleep(0.2)
    if missing:
        raise TimeoutError(f"topics not visible after {timeout_s}s: {sorted(missing)}")
