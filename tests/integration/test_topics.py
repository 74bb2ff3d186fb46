"""`ctrack topics create` creates the catalogue, then only reconciles drift."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from ctrack.topic_admin import ensure_topics
from schemas.catalogue import ALL_TOPICS, TRACKING, TopicNames


def test_create_is_idempotent_and_repairs_drift(kafka_bootstrap: str) -> None:
    names = TopicNames(f"t{uuid.uuid4().hex[:10]}")
    first = ensure_topics(kafka_bootstrap, names)
    assert sorted((c.topic, c.action) for c in first) == sorted(
        (names.of(s), "created") for s in ALL_TOPICS
    )
    assert {c.action for c in ensure_topics(kafka_bootstrap, names)} == {"unchanged"}

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        names.tracking,
        incremental_configs=[
            ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)
    # The broker applies an accepted change through its metadata log; on a busy machine a
    # describe right after can still show the old value, so wait until the drift is visible.
    described = ConfigResource(ConfigResource.Type.TOPIC, names.tracking)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            [configs] = [f.result(30) for f in admin.describe_configs([described]).values()]
        except KafkaException:  # the topic itself not known to that broker view yet
            configs = {}
        if "retention.ms" in configs and configs["retention.ms"].value == "1000":
            break
        time.sleep(0.1)
    repaired = {c.topic: c for c in ensure_topics(kafka_bootstrap, names)}
    assert repaired[names.tracking].action == "config-updated"
    assert repaired[names.tracking].detail == f"retention.ms={TRACKING.retention_ms}"
    metadata = admin.list_topics(names.tracking, timeout=10).topics[names.tracking]
    assert len(metadata.partitions) == TRACKING.partitions
