"""`ctrack serve`: the sink and the query API in ONE process on one chdb data dir.

The process is the real command. Events are produced while it runs and read back through its
API while its sink is still inserting, with several request threads at once (FastAPI runs the
routes in a thread pool: they share the sink's chdb client).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from ctrack.embedded import serve
from ctrack.settings import KafkaSettings, QueryApiSettings, SinkSettings
from producers.event_producer import EventProducer
from schemas import catalogue
from schemas.catalogue import TopicNames
from schemas.codec import AvroCodec
from schemas.tracking import TrackingEventType
from services.tracking_api.app import create_app
from sinks.clickhouse.sink import ClickHouseSink, InsertFailed
from tests.factories import BASE_TIME, tracking_event
from tests.integration.sink_offsets import NOT_COMMITTED, committed, end_offsets
from tests.integration.test_sink_insert_failure import detached

DEADLINE_S = 90.0
RETURNS = 30
DAY = str(BASE_TIME.date())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `ctrack serve` and the firm whose key it knows."""

    process: subprocess.Popen[bytes]
    url: str
    firm_id: str
    auth: dict[str, str]
    log: Path

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers=self.auth, timeout=30)

    def failures_stored(self) -> int:
        body = self.get("/v1/season", **{"from": DAY, "to": DAY}).json()
        return int(body["totals"]["authentication_failures"])


def serve_env(kafka: KafkaSettings, data_dir: Path, port: int, keys: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRACK_", "CLICKHOUSE_"))}
    return env | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CTRACK_TOPIC_PREFIX": kafka.topic_prefix,
        "CTRACK_DATA_DIR": str(data_dir),
        "CLICKHOUSE_DSN": f"chdb://{data_dir / 'clickhouse'}",
        "CTRACK_API_PORT": str(port),
        "CTRACK_API_KEYS": keys,
        "CTRACK_SINK_BATCH_MAX_ROWS": "500",  # many small inserts while the API reads
        "CTRACK_SINK_BATCH_MAX_SECONDS": "0.2",
    }


def start_serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ctrack.cli.main", "serve"], env=env, stdout=out, stderr=out
        )


@pytest.fixture
def served(kafka: KafkaSettings, tmp_path: Path) -> Iterator[Served]:
    firm_id, key, port = f"F-{uuid.uuid4().hex[:12]}", f"key-{uuid.uuid4().hex}", free_port()
    log = tmp_path / "serve.log"
    process = start_serve(serve_env(kafka, tmp_path, port, f"{firm_id}:{key}"), log)
    served = Served(
        process, f"http://127.0.0.1:{port}", firm_id, {"Authorization": f"Bearer {key}"}, log
    )
    deadline = time.monotonic() + DEADLINE_S
    while True:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "ctrack serve did not answer"
        try:
            if served.get("/v1/firm").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield served
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def produce_failures(kafka: KafkaSettings, firm_id: str, start: int, count: int) -> None:
    """`count` Authentication Failed events (ids start..), spread over RETURNS returns."""
    with EventProducer(kafka, AvroCodec()) as producer:
        for n in range(start, start + count):
            producer.send_tracking(
                tracking_event(
                    TrackingEventType.AUTHENTICATION_FAILED,
                    return_id=f"{firm_id}-R{n % RETURNS:02d}",
                    firm_id=firm_id,
                    minute=n % 600,
                )
            )


@dataclass
class Readers:
    """Request threads reading the API until told to stop; they count the answers' codes."""

    served: Served
    stop: threading.Event = field(default_factory=threading.Event)
    codes: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, worker: int) -> None:
        paths = [f"/v1/returns/{self.served.firm_id}-R{worker:02d}/timeline", "/v1/season"]
        with httpx.Client(base_url=self.served.url, headers=self.served.auth, timeout=30) as http:
            for n in range(2000):  # bounded, and stopped as soon as the test has its answer
                if self.stop.is_set():
                    return
                response = http.get(paths[n % 2], params={"from": DAY, "to": DAY})
                with self.lock:
                    self.codes[response.status_code] += 1


def wait_for_failures(served: Served, count: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while served.failures_stored() < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert served.failures_stored() == count


def test_one_process_stores_and_answers_at_the_same_time(
    kafka: KafkaSettings, served: Served
) -> None:
    readers = Readers(served)
    threads = [threading.Thread(target=readers.read, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        produce_failures(kafka, served.firm_id, 0, 3000)
        wait_for_failures(served, 3000)
        # the sink is still running: a second wave lands while the API keeps answering
        produce_failures(kafka, served.firm_id, 3000, 1000)
        wait_for_failures(served, 4000)
    finally:
        readers.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    # every concurrent read was answered: 200, or 404 for a return not stored yet; never 5xx
    assert set(readers.codes) <= {200, 404}, readers.codes
    assert readers.codes[200] >= len(threads)

    timeline = served.get(f"/v1/returns/{served.firm_id}-R07/timeline", limit="500").json()
    assert len(timeline["events"]) == 4000 // RETURNS + (1 if 4000 % RETURNS > 7 else 0)
    times = [event["occurred_at"] for event in timeline["events"]]
    assert times == sorted(times)

    # SIGTERM: the sink flushes and commits before the process exits, cleanly
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=60) == 0, served.log.read_text()[-3000:]
    assert "sink_failed" not in served.log.read_text()
    topic = TopicNames(kafka.topic_prefix).of(catalogue.TRACKING)
    assert [max(offset, 0) for offset in committed(kafka, topic)] == end_offsets(kafka, topic)


def test_a_refused_insert_stops_the_api_too(kafka: KafkaSettings, clickhouse: Client) -> None:
    """In-process (the session's chdb): the sink thread fails, so serve() stops the API and
    raises, rather than serving data that no longer grows."""
    firm = f"F-{uuid.uuid4().hex[:12]}"
    settings = SinkSettings(batch_max_seconds=0.2)
    sink = ClickHouseSink(clickhouse, kafka, settings, AvroCodec(), insert_attempts=2)
    app = create_app(clickhouse, QueryApiSettings(keys=f"{firm}:{'k' * 20}"))
    returned = threading.Event()

    def keep_producing() -> None:  # traffic, so a flush after the refused one settles it
        for n in range(600):  # bounded: at most a minute
            if returned.wait(0.1):
                return
            produce_failures(kafka, firm, n, 1)

    producer = threading.Thread(target=keep_producing)
    with detached(clickhouse):
        producer.start()
        try:
            with pytest.raises(InsertFailed, match="UNKNOWN_TABLE"):
                serve(sink, app, "127.0.0.1", free_port())
        finally:
            returned.set()
            producer.join(timeout=60)
    topic = TopicNames(kafka.topic_prefix).of(catalogue.TRACKING)
    assert set(committed(kafka, topic)) == {NOT_COMMITTED}


def test_a_taken_port_stops_the_process_and_its_sink(kafka: KafkaSettings, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        log = tmp_path / "serve.log"
        process = start_serve(serve_env(kafka, tmp_path, port, "F-1:" + "k" * 20), log)
        code = process.wait(timeout=DEADLINE_S)
    assert code != 0  # not left running with a sink and no API
    assert "address already in use" in log.read_text().lower()


def test_a_server_dsn_is_refused_in_favour_of_separate_processes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRACK_", "CLICKHOUSE_"))}
    env |= {"CLICKHOUSE_DSN": "http://default:@127.0.0.1:1/default", "COLUMNS": "200"}
    env["CTRACK_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "ctrack.cli.main", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "run `ctrack sink` and `ctrack api serve` as separate processes" in result.stderr
