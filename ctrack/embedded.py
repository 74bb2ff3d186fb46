"""Composition root of `ctrack serve`: the sink and the query API in one process, one client.

chdb lets one process open a data directory, so with embedded ClickHouse the process that
writes must also answer the queries. The sink runs in a thread of its own (its Kafka consumer
is used from that thread only) and uvicorn serves the API and the dashboard from the main
thread. Both share one clickhouse-connect client: its chdb backend runs every engine call under
a per-client lock, so a query waits for an insert in flight and never interleaves with it (a
second lock of ours would only repeat that one).
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sinks.clickhouse.sink import ClickHouseSink, SinkStats

log = structlog.get_logger(__name__)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class NotEmbedded(ValueError):
    """The DSN names a ClickHouse server: the sink and the API run as separate processes."""


@dataclass
class _SinkOutcome:
    """How the sink thread ended: its stats, or the error that stopped it."""

    stats: SinkStats | None = None
    error: BaseException | None = None


def serve_from_environment() -> SinkStats:
    """Build the sink and the API on the configured chdb data dir and serve until SIGTERM/SIGINT.

    Raises NotEmbedded for an http(s):// DSN, and the sink's error when it stops on one
    (InsertFailed: nothing after the last commit was acknowledged).
    """
    from ctrack.runtime import process_codec
    from ctrack.settings import ClickHouseSettings, KafkaSettings, QueryApiSettings, SinkSettings
    from services.tracking_api.app import create_app
    from sinks.clickhouse.connection import connect
    from sinks.clickhouse.migrations import migrate
    from sinks.clickhouse.sink import ClickHouseSink

    dsn = ClickHouseSettings().resolved_dsn
    if not dsn.startswith("chdb://"):
        raise NotEmbedded(
            "CLICKHOUSE_DSN names a ClickHouse server: run `ctrack sink` and `ctrack api serve` "
            "as separate processes (they scale apart); `ctrack serve` is for chdb:// data dirs"
        )
    client = connect(dsn)
    migrate(client)
    api = QueryApiSettings()
    sink = ClickHouseSink(client, KafkaSettings(), SinkSettings(), process_codec())
    return serve(sink, create_app(client, api), api.host, api.port)


def serve(sink: ClickHouseSink, app: FastAPI, host: str, port: int) -> SinkStats:
    """Run `sink` in a thread and serve `app` on host:port until a signal or a sink failure.

    Either way the sink stops through its own shutdown (flush, then commit) before this
    returns; a sink failure stops the server and is raised here.
    """
    import uvicorn

    stop = threading.Event()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port))
    outcome = _SinkOutcome()

    def run_sink() -> None:
        try:
            outcome.stats = sink.run(stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            log.error("sink_failed", error=str(exc))
            outcome.error = exc
        finally:
            server.should_exit = True  # the API alone would serve data that no longer grows

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        server.should_exit = True

    # uvicorn swaps in its own handlers while it serves, then restores these and re-raises
    # the signal it caught: without them that re-raise would kill us before the sink flushed.
    previous = {signum: signal.signal(signum, on_signal) for signum in _STOP_SIGNALS}
    sink_thread = threading.Thread(target=run_sink, name="ctrack-sink")
    sink_thread.start()
    log.info("starting", host=host, port=port, topics=len(sink.topics))
    try:
        server.run()
    finally:
        stop.set()
        sink_thread.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.stats is not None  # noqa: S101 - the sink returned, so it has stats
    return outcome.stats
