"""Resolve, configure, start and stop a single-node KRaft Kafka broker on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from ctrack.settings import REPO_ROOT, StackSettings

INFRA_DIR = REPO_ROOT / "infra" / "kafka"
POM = INFRA_DIR / "pom.xml"
LOG4J_CONFIG = INFRA_DIR / "log4j2.properties"
BROKER_MAIN_CLASS = "kafka.Kafka"

_Progress = Callable[[str], None]


class StackError(Exception):
    """The local broker cannot be resolved, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class BrokerStatus:
    """What `ctrack stack status` reports."""

    bootstrap: str
    answers: bool
    pid: int | None
    started_by_us: bool


class LocalKafka:
    """One broker per data directory; every file it writes lives under `<data dir>/kafka`."""

    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.home = settings.kafka_dir
        self.lib_dir = settings.jars_dir
        self.log_dir = self.home / "logs"
        self.data_dir = self.home / "data"
        self.config_file = self.home / "server.properties"
        self.pid_file = self.home / "broker.pid"
        self.bootstrap = f"127.0.0.1:{settings.kafka_port}"

    # -- public commands -------------------------------------------------------------------
    def up(self, on_progress: _Progress | None = None) -> BrokerStatus:
        """Start the broker unless ours already runs; returns once it answers metadata requests."""
        say = on_progress or (lambda _msg: None)
        if (pid := self._live_pid()) is not None and self._answers():
            say(f"broker already running (pid {pid}) on {self.bootstrap}")
            return self.status()
        if self._answers():
            raise StackError(
                f"another broker (not started from {self.settings.data_dir}) already answers on "
                f"{self.bootstrap}: stop it, set CTRACK_KAFKA_PORT, or use it via "
                "KAFKA_BOOTSTRAP_SERVERS"
            )
        java = require_tool(
            "java", "a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)"
        )
        self._resolve_jars(say)
        self._write_config()
        self._format_storage(java, say)
        say(f"starting broker on {self.bootstrap} (heap {self.settings.kafka_heap})")
        process = self._spawn(java)
        self.pid_file.write_text(str(process.pid))
        self._wait_until_answering(process)
        say(f"broker answers on {self.bootstrap} (pid {process.pid})")
        return self.status()

    def down(self, timeout_s: float = 30.0) -> bool:
        """Stop the broker this data dir started; True if one was stopped."""
        pid = self._live_pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        if not _wait_for_exit(pid, timeout_s):
            os.kill(pid, signal.SIGKILL)
            _wait_for_exit(pid, 10)
        return True

    def status(self) -> BrokerStatus:
        pid = self._live_pid()
        return BrokerStatus(self.bootstrap, self._answers(), pid, pid is not None)

    # -- steps -----------------------------------------------------------------------------
    def _resolve_jars(self, say: _Progress) -> None:
        marker = self.lib_dir / f".resolved-{_file_digest(POM)}"
        if marker.exists():
            return
        mvn = require_tool("mvn", "Apache Maven (e.g. apt-get install maven) to fetch Kafka's jars")
        say("resolving Kafka jars from Maven Central (first start only)")
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        self.lib_dir.mkdir(parents=True)
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.lib_dir}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                "mvn could not resolve Kafka's jars: "
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
            )
        marker.touch()

    def _write_config(self) -> None:
        s = self.settings
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "message.max.bytes": str(8 * 1024 * 1024),
        }
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def _format_storage(self, java: str, say: _Progress) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        say("formatting KRaft storage (first start only)")
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [
                java,
                *self._jvm_flags(),
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                # `=` form: a base64 id may start with "-", which would read as an option.
                f"--cluster-id={cluster_id}",
                "-c",
                str(self.config_file),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")

    def _spawn(self, java: str) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        heap = self.settings.kafka_heap
        with (self.log_dir / "broker.out").open("ab") as out:
            return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [
                    java,
                    f"-Xmx{heap}",
                    f"-Xms{heap}",
                    "-XX:+UseG1GC",
                    *self._jvm_flags(),
                    BROKER_MAIN_CLASS,
                    str(self.config_file),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the CLI; `down` stops it by pid
                env=_broker_env(),
            )

    def _jvm_flags(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp",
            f"{self.lib_dir}/*",
        ]

    def _wait_until_answering(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.settings.kafka_start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise StackError(
                    f"broker exited with code {process.returncode}; see {self.log_dir}"
                )
            if self._answers():
                return
            time.sleep(0.3)
        raise StackError(
            f"broker did not answer within {self.settings.kafka_start_timeout_s}s; "
            f"see {self.log_dir}"
        )

    def _answers(self) -> bool:
        return broker_answers(self.bootstrap)

    def _live_pid(self) -> int | None:
        """The pid in our pid file, if that process is alive and really our broker."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return None
        return pid if BROKER_MAIN_CLASS in cmdline and str(self.config_file) in cmdline else None


def broker_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when a broker at `bootstrap` answers a metadata request."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "log_level": 0, "logger": _SILENT}
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return True


def require_tool(name: str, what_to_install: str) -> str:
    """Path of a command, or a StackError naming what to install."""
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` not found on PATH: install {what_to_install}.")
    return path


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)  # reap if it is our child
        except ChildProcessError:
            waited = 0
        if waited == pid or not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return True
        time.sleep(0.1)
    return False


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class _SilentLogger:
    def log(self, *_args: object, **_kwargs: object) -> None:
        """librdkafka logs connection refusals while the broker boots; they are expected."""


_SILENT = _SilentLogger()


def _broker_env() -> dict[str, str]:
    """The broker's environment, with at most two glibc malloc arenas (overridable): glibc gives
    busy threads arenas of their own (up to 8 per core), and `pmap` of the broker late in a full
    season showed five 64 MiB ones, about 300 MiB of its 979 MiB RSS beside the 512 MiB heap."""
    return {"MALLOC_ARENA_MAX": "2", **os.environ}
