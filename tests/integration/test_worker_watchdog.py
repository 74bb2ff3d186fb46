"""Two workers started in the same second share the work, and the stall watchdog, reading the
real faust worker, sees them waiting while they start and idle once caught up: neither is
ended for a stall while it has nothing to do (docs/BENCHMARKS.md, finding 5)."""

from __future__ import annotations

import time
from pathlib import Path

from ctrack.settings import KafkaSettings
from tests.conftest import WorkerFactory
from tests.integration.dynamic_password_helpers import eventually
from tests.integration.stream_helpers import access_locks, failures_per_return, send_tracking

# longer than a loaded machine takes to start two workers (a start-up moves nothing it can see)
STALL_S = 40.0


def test_two_workers_started_together_do_the_work_and_are_not_ended(
    kafka: KafkaSettings, workers: WorkerFactory, tmp_path: Path
) -> None:
    settings = {"CTRACK_WORKER_CLOCK": "external", "CTRACK_WORKER_STALL_S": str(STALL_S)}
    started = [workers.start(name, **settings) for name in ("a", "b")]
    failures = failures_per_return(40)
    returns = list(failures)
    send_tracking(kafka, (event for r in returns for event in failures[r]))

    locks = access_locks(kafka, 40, timeout_s=180)
    assert {str(r["caused_by"]) for r in locks} == {str(failures[r][2].event_id) for r in returns}

    logs = [tmp_path / f"{name}.log" for name in ("a", "b")]

    def idle_after_waiting() -> bool:
        for log in logs:
            text = log.read_text(errors="replace")
            waiting = text.rfind('"worker_waiting"')
            if waiting < 0 or text.rfind('"worker_idle"') < waiting:
                return False
        return True

    eventually(idle_after_waiting, timeout_s=60, what="both workers seen idle by the watchdog")
    time.sleep(STALL_S * 1.25)  # idle for longer than a stall: must not count as one
    assert [worker.poll() for worker in started] == [None, None], watchdog_lines(logs)
    assert not any('"worker_stalled"' in log.read_text(errors="replace") for log in logs)


def watchdog_lines(logs: list[Path]) -> str:
    """What the watchdogs said, for a failure's message."""
    return "\n".join(
        f"{log.stem}: {line}"
        for log in logs
        for line in log.read_text(errors="replace").splitlines()
        if '"worker_' in line
    )
