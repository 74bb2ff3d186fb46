"""`ctrack demo`: the whole slice on one machine, from an empty data directory to a timeline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client
from rich.console import Console
from rich.table import Table

from ctrack.runtime import build_sink, process_codec
from ctrack.settings import ClickHouseSettings, KafkaSettings, StackSettings, StreamSettings
from producers.demo_scenario import demo_events, expected_locks
from producers.event_producer import EventProducer
from schemas.catalogue import TopicNames
from services.timeline.query import TimelineEntry, return_timeline
from sinks.clickhouse.connection import connect

DEADLINE_S = 180.0


def run_demo(out: Console, console: Console, keep_broker: bool = True) -> int:
    """Returns the process exit code: 0 when the timeline shows the lock."""
    from ctrack.cli.main import render_timeline
    from ctrack.stack.local_kafka import LocalKafka, StackError
    from ctrack.topic_admin import ensure_topics

    kafka, stack = KafkaSettings(), StackSettings()
    local = None if kafka.uses_external_cluster else LocalKafka(stack)
    try:
        if local is not None:
            local.up(on_progress=lambda msg: console.print(f"• {msg}"))
        ensure_topics(kafka.bootstrap, TopicNames(kafka.topic_prefix), kafka.replication_factor)
        console.print("• topics ready; starting the stream worker")
        worker = start_worker(stack)
        try:
            return _run_story(out, console, kafka, render_timeline, worker)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    except StackError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return 1
    finally:
        if local is not None and not keep_broker:
            local.down()


def _run_story(
    out: Console,
    console: Console,
    kafka: KafkaSettings,
    render: Callable[[str, list[TimelineEntry]], Table],
    worker: subprocess.Popen[bytes],
) -> int:
    run_id = uuid.uuid4().hex[:8]
    events = list(demo_events(run_id, datetime.now(UTC).replace(microsecond=0)))
    with EventProducer(kafka, process_codec()) as producer:
        for event in events:
            producer.send_tracking(event)
    console.print(f"• produced {len(events)} tracking events for run {run_id}")
    client = connect(ClickHouseSettings().resolved_dsn)
    return_ids = sorted({event.return_id for event in events})
    wanted = len(events) + expected_locks()
    deadline = time.monotonic() + DEADLINE_S
    sink = build_sink()
    with console.status("waiting for the worker's Access Locked and the sink to store everything"):
        sink.run(
            lambda: (
                worker.poll() is not None
                or _stored(client, return_ids) >= wanted
                or time.monotonic() > deadline
            )
        )
    if worker.poll() is not None:
        console.print(f"[red]the stream worker exited ({worker.returncode}); see its log[/red]")
        return 1
    stored = _stored(client, return_ids)
    for return_id in return_ids:
        out.print(render(return_id, return_timeline(client, return_id)))
    if stored < wanted:
        console.print(f"[red]only {stored} of {wanted} events stored within {DEADLINE_S}s[/red]")
        return 1
    console.print(f"• {stored} events stored in ClickHouse; try: ctrack timeline {return_ids[0]}")
    return 0


def _stored(client: Client, return_ids: list[str]) -> int:
    query = "SELECT count() FROM tracking_events FINAL WHERE return_id IN {ids:Array(String)}"
    return int(client.query(query, parameters={"ids": return_ids}).result_rows[0][0])


def start_worker(stack: StackSettings, log_name: str = "worker.log") -> subprocess.Popen[bytes]:
    """`ctrack worker` in the background, its output in `<data dir>/logs/<log_name>`."""
    log_path = stack.data_dir / "logs" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    StreamSettings().store_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "ctrack.cli.main", "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
