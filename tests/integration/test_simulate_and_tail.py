"""`ctrack simulate` then `ctrack tail`, as a user runs them against a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

from confluent_kafka import Producer

from ctrack.settings import KafkaSettings
from producers.event_producer import EventProducer
from producers.simulator import SimulationPlan, simulate
from schemas.catalogue import TRACKING_EVENT, TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from tests.factories import tracking_event

PLAN = SimulationPlan(seed=5, firms=2, clients_per_firm=5, returns=12, duration=timedelta(days=2))
PLAN_ARGS = ["--seed", "5", "--firms", "2", "--clients-per-firm", "5", "--returns", "12"]


def ctrack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctrack.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_simulated_season_tails_back_as_json(worker_env: dict[str, str]) -> None:
    expected = list(simulate(PLAN))
    tracking_keys = {key for schema, key, _ in expected if schema == TRACKING_EVENT}
    assert sum(schema == TRACKING_EVENT for schema, _, _ in expected) >= 20

    produced = ctrack("simulate", *PLAN_ARGS, "--days", "2", env=worker_env)
    assert produced.returncode == 0, produced.stderr
    assert f"{len(expected):,} records in" in produced.stdout

    tailed = ctrack("tail", "tracking", "--from-beginning", "--max", "20", "--json", env=worker_env)
    assert tailed.returncode == 0, tailed.stderr
    lines = tailed.stdout.splitlines()
    assert len(lines) == 20
    for line in lines:
        shown = json.loads(line)
        assert "error" not in shown
        assert shown["topic"] == f"{worker_env['CTRACK_TOPIC_PREFIX']}.tracking"
        assert shown["schema"] == TRACKING_EVENT
        record = shown["record"]
        assert record["return_id"] == shown["key"]
        assert record["return_id"] in tracking_keys
        assert datetime.fromisoformat(record["occurred_at"]) >= PLAN.start


def test_undecodable_records_are_shown_with_their_error(
    kafka: KafkaSettings, worker_env: dict[str, str]
) -> None:
    topic = TopicNames(kafka.topic_prefix).tracking
    raw = Producer({"bootstrap.servers": kafka.bootstrap})
    raw.produce(topic, key=b"R-junk", value=b"\xc3\x01not avro at all")
    assert raw.flush(30) == 0
    with EventProducer(kafka, AvroCodec()) as producer:
        producer.send_tracking(tracking_event(TrackingEventType.INITIAL_EMAIL_PROCESSED))

    as_json = ctrack("tail", "tracking", "--from-beginning", "--max", "2", "--json", env=worker_env)
    assert as_json.returncode == 0, as_json.stderr
    shown = sorted(
        (json.loads(line) for line in as_json.stdout.splitlines()), key=lambda s: s["key"]
    )
    assert [s["key"] for s in shown] == ["R-1", "R-junk"]
    assert shown[0]["record"]["event_type"] == "INITIAL_EMAIL_PROCESSED"
    assert "unknown schema fingerprint" in shown[1]["error"]

    readable = ctrack("tail", "tracking", "--from-beginning", "--max", "2", env=worker_env)
    assert readable.returncode == 0, readable.stderr
    assert "key=R-junk UNDECODABLE: UnknownSchemaError" in readable.stdout
    assert "TrackingEvent INITIAL_EMAIL_PROCESSED" in readable.stdout
