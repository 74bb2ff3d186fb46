"""Shared fixtures: one real broker per test session, a real chdb engine, per-test topics."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from hypothesis import settings as hypothesis_settings

from ctrack.settings import REPO_ROOT, KafkaSettings, StackSettings
from ctrack.stack.local_kafka import LocalKafka
from ctrack.topic_admin import ensure_topics, wait_for_topics
from schemas.catalogue import ALL_TOPICS, TopicNames
from sinks.clickhouse.connection import connect
from sinks.clickhouse.migrations import migrate

# Properties, not timings: hypothesis's per-example deadline fails a correct example on a
# machine busy with the broker and other tests (speed is measured by bench/, not here).
hypothesis_settings.register_profile("ctrack", deadline=None)
hypothesis_settings.load_profile("ctrack")

TEST_KAFKA_PORT = int(os.environ.get("CTRACK_TEST_KAFKA_PORT", "19092"))
# Far from the broker port, so runs on adjacent broker ports never collide on a controller port.
CONTROLLER_PORT_OFFSET = 10_000
# One data dir per port, so test runs on different ports never share (or stop) a broker.
TEST_DATA_DIR = REPO_ROOT / ".ctrack-data" / f"test-{TEST_KAFKA_PORT}"


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return (
            subprocess.run(
                [docker, "info"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


def stack_settings_for_tests() -> StackSettings:
    """The project's own test broker: own data dir and ports, jars shared with `make demo`."""
    return StackSettings(
        data_dir=TEST_DATA_DIR,
        kafka_port=TEST_KAFKA_PORT,
        kafka_controller_port=TEST_KAFKA_PORT + CONTROLLER_PORT_OFFSET,
        kafka_jars_dir=StackSettings().jars_dir,
    )


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS, else testcontainers' Kafka (Docker), else `ctrack stack`."""
    if external := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield external
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        # cp-kafka 8.x is Apache Kafka 4.x; testcontainers' KRaft mode knows this image.
        with KafkaContainer("confluentinc/cp-kafka:8.0.0").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = LocalKafka(stack_settings_for_tests())
    started = broker.status().pid is None
    if started:  # the test broker's topics are only this session's: start from none
        shutil.rmtree(TEST_DATA_DIR, ignore_errors=True)
    broker.up()
    yield broker.bootstrap
    if started:
        broker.down()


@pytest.fixture
def kafka(kafka_bootstrap: str) -> Iterator[KafkaSettings]:
    """Settings for a fresh topic namespace: this test's own topics, groups and changelogs,
    listed by the broker before the test starts and deleted after it."""
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:10]}"
    )
    names = TopicNames(settings.topic_prefix)
    ensure_topics(kafka_bootstrap, names)
    # a busy broker can answer "created" before it serves the topic: producers would give up
    wait_for_topics(kafka_bootstrap, [names.of(spec) for spec in ALL_TOPICS])
    yield settings
    _delete_topics(kafka_bootstrap, f"{settings.topic_prefix}.")


def _delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete the topics named `prefix`* (a test's own and its workers' changelogs), so the
    session's broker does not slow down under thousands of partitions of finished tests."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [name for name in admin.list_topics(timeout=30).topics if name.startswith(prefix)]
    if not topics:
        return
    for topic, future in admin.delete_topics(topics, operation_timeout=30).items():
        try:
            future.result(timeout=60)
        except KafkaException as exc:  # already gone: some tests delete their own topics
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                warnings.warn(f"test topic {topic} not deleted: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Client:
    """One embedded ClickHouse per test process (chdb allows one data dir per process)."""
    client = connect(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    migrate(client)
    return client


@pytest.fixture
def worker_env(kafka: KafkaSettings, tmp_path: Path) -> dict[str, str]:
    """Environment of a `ctrack` subprocess bound to this test's topics and a private data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRACK_", "CLICKHOUSE_"))}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CTRACK_TOPIC_PREFIX": kafka.topic_prefix,
        "CTRACK_DATA_DIR": str(tmp_path / "data"),
    }
    return env


class WorkerFactory:
    """Starts real `ctrack worker` processes on this test's topics; stops them at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        """A worker with its own table store (data dir) and extra environment."""
        worker_env = self.env | {"CTRACK_DATA_DIR": str(self.log_dir / name)} | env
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "ctrack.cli.main", "worker"],
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerFactory]:
    factory = WorkerFactory(worker_env, tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture
def stream_worker(workers: WorkerFactory) -> subprocess.Popen[bytes]:
    """One real worker on this test's topics (wall clock)."""
    return workers.start()


# Tables whose tests insert the same event twice on purpose and check it is stored twice.
DEDUPED_TABLES = ("tracking_events", "client_events", "client_status", "delivery_events")


@pytest.fixture
def paused_merges(clickhouse: Client) -> Iterator[None]:
    """Hold background merges, which may collapse a test's deliberate duplicates at any time;
    queries still deduplicate at read time (FINAL)."""
    for table in DEDUPED_TABLES:
        clickhouse.command(f"SYSTEM STOP MERGES {table}")
    yield
    for table in DEDUPED_TABLES:
        clickhouse.command(f"SYSTEM START MERGES {table}")
