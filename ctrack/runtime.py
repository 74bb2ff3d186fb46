"""Composition roots of the long-running processes: stream worker and ClickHouse sink."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ctrack.settings import (
    ClickHouseSettings,
    KafkaSettings,
    SchemaRegistrySettings,
    SinkSettings,
    StreamSettings,
)
from schemas.codec import AvroCodec, build_codec

if TYPE_CHECKING:  # the worker and the CLI's other commands do not load the sink
    from sinks.clickhouse.sink import ClickHouseSink, SinkStats


def process_codec() -> AvroCodec:
    """The codec for this process, per SCHEMA_REGISTRY_URL."""
    registry = SchemaRegistrySettings()
    auth = registry.basic_auth.get_secret_value() if registry.basic_auth else None
    return build_codec(registry.url, auth)


def run_worker() -> None:
    """Run the faust worker in the foreground until SIGTERM/SIGINT."""
    import faust

    from ctrack.topic_admin import ensure_topics, wait_for_topics
    from schemas.catalogue import ALL_TOPICS, TopicNames, changelog_topics
    from streams.bootstrap import build_app
    from streams.watchdog import end_if_stalled

    kafka, settings = KafkaSettings(), StreamSettings()
    names = TopicNames(kafka.topic_prefix)
    # faust declares changelogs itself, but on a cold cluster that can race and crash the agent.
    specs = ALL_TOPICS + changelog_topics(settings.app_id)
    ensure_topics(kafka.bootstrap, names, kafka.replication_factor, specs=specs)
    wait_for_topics(kafka.bootstrap, [names.of(spec) for spec in specs])
    app = build_app(kafka, settings, process_codec())
    if settings.stall_s <= app.conf.broker_session_timeout:
        # a dead worker holds the group that long; the watchdog would end the others too
        raise SystemExit(
            f"CTRACK_WORKER_STALL_S ({settings.stall_s:g}) must exceed the consumer session "
            f"timeout ({app.conf.broker_session_timeout:g} s)"
        )
    end_if_stalled(app, settings.stall_s)
    faust.Worker(app, loglevel="INFO", quiet=True).execute_from_commandline()


def build_sink() -> ClickHouseSink:
    """A sink wired to the configured Kafka and ClickHouse, with the schema migrated."""
    from sinks.clickhouse.connection import connect
    from sinks.clickhouse.migrations import migrate
    from sinks.clickhouse.sink import ClickHouseSink

    client = connect(ClickHouseSettings().resolved_dsn)
    migrate(client)
    return ClickHouseSink(client, KafkaSettings(), SinkSettings(), process_codec())


def run_sink_forever() -> SinkStats:
    """Run the sink until SIGTERM/SIGINT, then flush and commit what it holds."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return build_sink().run(stop.is_set)


def run_sink_until(done: Callable[[], bool]) -> SinkStats:
    """Run the sink until `done()` is true (checked between batches)."""
    return build_sink().run(done)
