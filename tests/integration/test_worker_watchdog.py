"""Two workers started in the same second share the work. The stall watchdog, reading the real
faust worker, sees each waiting while it starts and idle once caught up, and never ends an idle
worker. A worker that stalls with records waiting (finding 5 in docs/BENCHMARKS.md, seen
again in CI) is ended with status 75; the test restarts it, as docker-compose and the season
run do, and the work still completes."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from ctrack.settings import KafkaSettings
from streams.watchdog import EXIT_STALLED
from tests.conftest import WorkerFactory
from tests.integration.dynamic_password_helpers import eventually
from tests.integration.stream_helpers import access_locks, failures_per_return, send_tracking

# the shortest a worker takes: longer than the consumer session timeout (60 s)
STALL_S = 61.0
NAMES = ("a", "b")


class Supervisor:
    """Restarts a worker the watchdog ended; anything else ending a worker fails the test."""

    def __init__(self, workers: WorkerFactory, settings: dict[str, str]):
        self.workers, self.settings = workers, settings
        self.running = {name: workers.start(name, **settings) for name in NAMES}

    def check(self) -> None:
        for name, process in self.running.items():
            if process.poll() is None:
                continue
            assert process.returncode == EXIT_STALLED, f"worker {name} exited {process.returncode}"
            self.running[name] = self.workers.start(name, **self.settings)

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return list(self.running.values())


def test_two_workers_started_together_do_the_work_and_are_not_ended_while_idle(
    kafka: KafkaSettings, workers: WorkerFactory, tmp_path: Path
) -> None:
    settings = {"CTRACK_WORKER_CLOCK": "external", "CTRACK_WORKER_STALL_S": str(STALL_S)}
    supervisor = Supervisor(workers, settings)
    failures = failures_per_return(40)
    returns = list(failures)
    send_tracking(kafka, (event for r in returns for event in failures[r]))

    def all_locked() -> list[dict[str, object]] | None:
        supervisor.check()
        locks = access_locks(kafka, len(returns), timeout_s=10)  # what is there after 10 s
        return locks if len({str(r["caused_by"]) for r in locks}) >= len(returns) else None

    locks = eventually(all_locked, timeout_s=300, what="every return locked")
    assert {str(r["caused_by"]) for r in locks} == {str(failures[r][2].event_id) for r in returns}

    logs = [tmp_path / f"{name}.log" for name in NAMES]

    def idle_after_waiting() -> bool:
        supervisor.check()
        for log in logs:
            text = log.read_text(errors="replace")
            waiting = text.rfind('"worker_waiting"')
            if waiting < 0 or text.rfind('"worker_idle"') < waiting:
                return False
        return True

    # a stall costs STALL_S to see, then the consumer session timeout (60 s) before the group
    # lets the ended worker go: two of them fit
    eventually(idle_after_waiting, timeout_s=300, what="both workers seen idle by the watchdog")
    idle_since = watchdog_lines(logs)
    time.sleep(STALL_S * 1.1)  # idle for longer than a stall: must not count as one
    assert [p.poll() for p in supervisor.processes()] == [None, None], watchdog_lines(logs)
    assert watchdog_lines(logs) == idle_since  # no line since: neither waited nor stalled

    # a worker ended for a stall had records waiting on the partitions it named
    for stall in stalls(logs):
        assert stall["waiting"] and stall["behind"], stall
        assert records_were_waiting(kafka, stall["behind"]), stall


def watchdog_lines(logs: list[Path]) -> list[str]:
    """What the watchdogs said, in order per worker."""
    return [
        f"{log.stem}: {line}"
        for log in logs
        for line in log.read_text(errors="replace").splitlines()
        if '"worker_' in line
    ]


def stalls(logs: list[Path]) -> list[dict[str, object]]:
    return [
        json.loads(line.split(": ", 1)[1])
        for line in watchdog_lines(logs)
        if '"worker_stalled"' in line
    ]


def records_were_waiting(kafka: KafkaSettings, behind: object) -> bool:
    """Whether the broker holds records past the committed offset of each partition named
    ("topic[partition] committed/read/highwater fetching|paused[,flow-stopped]")."""
    assert isinstance(behind, list)
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "watchdog-check"})
    try:
        for entry in behind:
            name, offsets, _fetching = entry.split(" ")
            topic, partition = name[:-1].split("[")
            committed, _read, highwater = offsets.split("/")
            _, end = consumer.get_watermark_offsets(TopicPartition(topic, int(partition)), 10)
            if not int(committed) < int(highwater) <= end:
                return False
    finally:
        consumer.close()
    return True
