"""One season run: broker, topics, then per phase (the pipeline, then the baseline) the
processes, the simulated season, the run's one clock tick, draining, and the analysis.

Pipeline phase: `ctrack simulate` -> broker -> `ctrack worker` x N -> `ctrack serve` (sink +
query API in one process, chdb) -> analysis. Baseline phase: the same season again on topics
of its own, consumed by the plain confluent-kafka baseline. Faults are hooks called while a
phase runs.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Producer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ctrack.settings import KafkaSettings, StackSettings, StreamSettings
from ctrack.stack.local_kafka import LocalKafka
from ctrack.topic_admin import ensure_topics
from schemas.catalogue import (
    ALL_TOPICS,
    CLIENT_EVENTS,
    CLOCK,
    DELIVERY,
    FIRM_SETTINGS_TOPIC,
    RETURN_LIFECYCLE,
    TICK,
    TRACKING,
    TopicNames,
    changelog_topics,
)
from schemas.codec import AvroCodec
from season_support.monitor import ApiProbe, Group, Monitor
from season_support.processes import Proc, base_env, ctrack, support, wait_until
from season_support.scales import SEASON_DAYS, Scale, tick_time
from sinks.clickhouse.tables import TABLE_OF_SCHEMA

SOURCE_TOPICS = (FIRM_SETTINGS_TOPIC, CLIENT_EVENTS, TRACKING, RETURN_LIFECYCLE, DELIVERY)
WORKER_INPUTS = (*SOURCE_TOPICS, CLOCK)
SINK_TOPICS = tuple(spec for spec in ALL_TOPICS if spec.value_schema in TABLE_OF_SCHEMA)
IDLE_SAMPLES = 20  # 10 s without any change
STALL_S = 180  # a phase with no progress for this long has failed
console = Console(stderr=True)


class Broker:
    """The run's broker: our own `ctrack stack` (killable), or KAFKA_BOOTSTRAP_SERVERS."""

    name = "broker"

    def __init__(self) -> None:
        self.kafka = KafkaSettings()
        self.local = None if self.kafka.uses_external_cluster else LocalKafka(StackSettings())
        self.peak_rss = 0
        self.started_here = False

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def port(self) -> int:
        return int(self.bootstrap.rsplit(":", 1)[1].split(",")[0])

    def up(self) -> None:
        if self.local is not None:
            self.started_here = self.local.status().pid is None
            self.local.up()

    def pid(self) -> int | None:
        return self.local.status().pid if self.local else None

    def kill(self) -> None:
        pid = self.pid()
        if pid is None:
            raise RuntimeError("the broker is external (KAFKA_BOOTSTRAP_SERVERS): not killed")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not psutil.pid_exists(pid) or _zombie(pid), 30)

    def down(self) -> None:
        if self.local is not None and self.started_here:
            self.local.down()

    def sample_rss(self) -> int:
        pid = self.pid()
        try:
            rss = int(psutil.Process(pid).memory_info().rss) if pid else 0
        except psutil.Error:
            return 0
        self.peak_rss = max(self.peak_rss, rss)
        return rss


def _zombie(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True


Hook = Callable[["Phase"], None]


@dataclass
class Trigger:
    """Call `action` once `when(phase)` is true (checked every half second while running)."""

    label: str
    when: Callable[[Phase], bool]
    action: Hook
    fired_at: float | None = None


@dataclass
class Phase:
    """One pass of the season through either the pipeline or the baseline."""

    name: str
    prefix: str
    run: SeasonRun
    procs: dict[str, Proc] = field(default_factory=dict)
    monitor: Monitor | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    producer_done_at: float | None = None
    restarts: int = 0
    wall_start: float = 0.0  # wall-clock time of the monitor's t = 0

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.prefix)

    def note(self, what: str) -> None:
        t = self.monitor.now() if self.monitor else 0.0
        self.events.append({"t": round(t, 2), "event": what})
        console.log(f"[{self.name}] {what}")

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.run.broker.bootstrap,
                "CTRACK_TOPIC_PREFIX": self.prefix,
                "CTRACK_WORKER_CLOCK": "external",  # the run's clock is its one final tick
                **extra,
            }
        )

    def lag(self, label: str) -> int | None:
        sample = self.monitor.latest if self.monitor else None
        return sample.lag.get(label) if sample else None

    def consumed(self, label: str) -> int:
        sample = self.monitor.latest if self.monitor else None
        return sample.consumed.get(label, 0) if sample else 0

    def produced(self) -> int:
        sample = self.monitor.latest if self.monitor else None
        if sample is None:
            return 0
        return sum(sample.ends.get(self.names.of(spec), 0) for spec in SOURCE_TOPICS)

    def add_worker(self) -> Proc:
        n = sum(1 for name in self.procs if name.startswith("worker"))
        name = f"worker-{n + 1}"
        data = self.run.out / self.name / name
        settings = {"CTRACK_DATA_DIR": str(data)}
        if self.run.timers_per_tick is not None:
            settings["CTRACK_WORKER_TIMERS_PER_TICK"] = str(self.run.timers_per_tick)
        proc = ctrack(name, ["worker"], self.env(**settings), self.run.logs)
        self.procs[name] = proc.start()
        self.note(f"{name} started (pid {proc.pid})")
        return proc


class SeasonRun:
    """Everything of one run: settings, broker, results folder, both phases."""

    def __init__(
        self,
        scale: Scale,
        out: Path,
        *,
        seed: int = 7,
        workers: int = 1,
        rate: float = 0.0,
        source_only: bool = True,
        baseline: bool = True,
        prefix: str | None = None,
        timers_per_tick: int | None = None,
    ):
        self.scale, self.out, self.seed = scale, out, seed
        self.timers_per_tick = timers_per_tick  # None: the worker's default
        self.workers, self.rate = workers, rate
        self.source_only, self.with_baseline = source_only, baseline
        self.plan = scale.plan(seed)
        self.prefix = prefix or f"season{datetime.now():%m%d%H%M%S}"
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.broker = Broker()
        self.app_id = StreamSettings().app_id
        self.api_keys = {firm: secrets.token_hex(12) for firm in self._firm_ids()}

    def _firm_ids(self) -> list[str]:
        return [f"S{self.seed}-F{n:04d}" for n in range(self.scale.firms)]

    # -- phases ----------------------------------------------------------------------------
    def prepare(self) -> None:
        self.broker.up()
        for prefix in self.prefixes():
            names = TopicNames(prefix)
            specs = ALL_TOPICS + changelog_topics(self.app_id)
            ensure_topics(self.broker.bootstrap, names, 1, specs)

    def prefixes(self) -> list[str]:
        return [self.prefix, f"{self.prefix}-base"] if self.with_baseline else [self.prefix]

    def pipeline(self, triggers: list[Trigger] | None = None) -> Phase:
        phase = Phase("pipeline", self.prefix, self)
        dsn = f"chdb://{self.out / 'pipeline' / 'chdb'}"
        keys = ",".join(f"{firm}:{key}" for firm, key in self.api_keys.items())
        api_port = str(_free_port())
        sink_env = phase.env(CLICKHOUSE_DSN=dsn, CTRACK_API_KEYS=keys, CTRACK_API_PORT=api_port)
        # `ctrack serve`: sink and query API in one process (chdb: one process per data dir)
        phase.procs["sink"] = ctrack("sink", ["serve"], sink_env, self.logs)
        names = phase.names
        groups = [
            Group("worker", names.app_id(self.app_id), _topics(names, WORKER_INPUTS)),
            Group("sink", f"{self.prefix}-ctrack-sink", _topics(names, SINK_TOPICS)),
        ]
        api = ApiProbe(f"http://127.0.0.1:{api_port}", self.api_keys, self._known_clients)
        self._run_phase(phase, groups, api, triggers or [], start_consumers=self._pipeline_up)
        return phase

    def baseline(self) -> Phase:
        phase = Phase("baseline", f"{self.prefix}-base", self)
        dsn = f"chdb://{self.out / 'baseline' / 'chdb'}"
        summary = str(self.out / "baseline" / "summary.json")
        env = phase.env(CLICKHOUSE_DSN=dsn)
        baseline = support("baseline", "baseline", env, self.logs, (summary,))
        group = Group("baseline", f"{phase.prefix}-baseline", _topics(phase.names, WORKER_INPUTS))

        def start(phase: Phase) -> None:
            phase.procs["baseline"] = baseline.start()

        self._run_phase(phase, [group], None, [], start_consumers=start)
        return phase

    def _pipeline_up(self, phase: Phase) -> None:
        for _ in range(self.workers):
            phase.add_worker()

    def _known_clients(self) -> list[tuple[str, str]]:
        firms = self._firm_ids()
        return [(firms[n % len(firms)], f"{firms[n % len(firms)]}-C{n // len(firms) + 1:06d}")
                for n in range(min(200, self.plan.clients))]  # fmt: skip

    def _run_phase(
        self,
        phase: Phase,
        groups: list[Group],
        api: ApiProbe | None,
        triggers: list[Trigger],
        start_consumers: Hook,
    ) -> None:
        (self.out / phase.name).mkdir(parents=True, exist_ok=True)
        topics = [(phase.names.of(spec), spec) for spec in ALL_TOPICS]
        # a full season runs for hours: sample less often so the timelines stay small
        every_s = 2.0 if self.scale.source_events > 2_000_000 else 0.5
        monitor = Monitor(
            self.broker.bootstrap, topics, groups, lambda: self._procs(phase), api, every_s
        )
        phase.monitor = monitor
        phase.wall_start = time.time() - monitor.now()
        monitor.start()
        for proc in phase.procs.values():
            proc.start()
        simulate = ctrack("simulate-" + phase.name, self._simulate_args(), phase.env(), self.logs)
        phase.procs["simulate"] = simulate.start()
        phase.note("season produced from now on")
        # workers read firm settings first (global table), so start them once those are in
        wait_until(lambda: _sum_ends(phase, FIRM_SETTINGS_TOPIC) >= self.scale.firms, 120)
        start_consumers(phase)
        labels = [g.label for g in groups]
        try:
            with Live(console=console, refresh_per_second=2) as live:
                self._until(phase, live, triggers, labels)
                self._send_tick(phase)
                self._until(phase, live, triggers, labels)
        finally:
            for name, proc in phase.procs.items():
                proc.held = True
                code = proc.stop()
                phase.note(f"{name} stopped (exit {code})")
            monitor.stop()

    def _simulate_args(self) -> list[str]:
        plan = self.plan
        args = ["simulate", f"--firms={plan.firms}", f"--clients-per-firm={plan.clients_per_firm}"]
        args += [f"--returns={plan.returns}", f"--seed={plan.seed}", f"--days={SEASON_DAYS}"]
        args += [f"--rate={self.rate}"]
        return [*args, "--source-only"] if self.source_only else args

    def _until(
        self,
        phase: Phase,
        live: Live,
        triggers: list[Trigger],
        labels: list[str],
    ) -> None:
        """Run triggers and restart crashed consumers until the producer is done and every
        group has read everything (three samples in a row); fails after STALL_S without
        progress."""
        monitor = phase.monitor
        assert monitor is not None  # noqa: S101
        drained_in_a_row, progress, progressed_at = 0, -1, time.monotonic()
        while drained_in_a_row < 3:
            time.sleep(0.5)
            latest = monitor.latest
            moved = sum(latest.consumed.values()) + sum(latest.ends.values()) if latest else 0
            if moved != progress:
                progress, progressed_at = moved, time.monotonic()
            elif time.monotonic() - progressed_at > STALL_S:
                raise RuntimeError(
                    f"{phase.name}: no progress for {STALL_S} s"
                    f" (lag {latest.lag if latest else '?'}, monitor errors {monitor.errors}:"
                    f" {monitor.last_error})"
                )
            live.update(self._view(phase))
            simulate = phase.procs["simulate"]
            if phase.producer_done_at is None and not simulate.alive():
                phase.producer_done_at = monitor.now()
                phase.note(f"producer finished (exit {simulate.popen.returncode})")  # type: ignore[union-attr]
            for trigger in triggers:
                if trigger.fired_at is None and trigger.when(phase):
                    trigger.fired_at = monitor.now()
                    phase.note(f"fault: {trigger.label}")
                    trigger.action(phase)
            self._supervise(phase)
            pending = [t for t in triggers if t.fired_at is None]
            done = phase.producer_done_at is not None and not pending
            fresh = monitor.latest is not None and monitor.now() - monitor.latest.t < 3
            if done and fresh and all(_settled(monitor, label) for label in labels):
                drained_in_a_row += 1
            else:
                drained_in_a_row = 0

    def _supervise(self, phase: Phase) -> None:
        """Like a process manager: a consumer that died is started again (and counted)."""
        for name, proc in phase.procs.items():
            if name != "simulate" and proc.popen is not None and not proc.alive():
                if proc.held:
                    continue
                phase.note(f"{name} exited (code {proc.popen.returncode}); restarting it")
                phase.restarts += 1
                proc.restart()

    def _send_tick(self, phase: Phase) -> None:
        """The run's clock: one tick at the end of the window on every clock partition."""
        codec = AvroCodec()
        producer = Producer(
            {"bootstrap.servers": self.broker.bootstrap, "enable.idempotence": True}
        )
        topic = phase.names.of(CLOCK)
        value = codec.encode(TICK, {"now": tick_time(self.plan), "sender": "season"}, topic=topic)
        for partition in range(CLOCK.partitions):
            producer.produce(topic, value=value, partition=partition)
        producer.flush(30)
        phase.note("clock tick sent (end of the window): due timers fire")

    def _procs(self, phase: Phase) -> list[Any]:
        return [self.broker, *phase.procs.values()]

    def _view(self, phase: Phase) -> Table:
        monitor = phase.monitor
        assert monitor is not None  # noqa: S101
        sample = monitor.latest
        table = Table(title=f"season {self.scale.name}: {phase.name} ({monitor.now():.0f} s)")
        for column in ("produced", "lag", "consumed", "memory MiB", "API"):
            table.add_column(column)
        lag = ", ".join(f"{k} {v:,}" for k, v in (sample.lag.items() if sample else []))
        done = ", ".join(f"{k} {v:,}" for k, v in (sample.consumed.items() if sample else []))
        rss = ", ".join(
            f"{k} {v / 2**20:.0f}" for k, v in (sample.rss.items() if sample else []) if v
        )
        api = monitor.api
        probes = f"{api.ok} ok / {api.failed} failed" if api else "-"
        if monitor.errors:
            probes += f" (monitor errors {monitor.errors}: {monitor.last_error[:60]})"
        table.add_row(f"{phase.produced():,}", lag, done, rss, probes)
        return table

    # -- after a phase ---------------------------------------------------------------------
    def analyse(self, phase: Phase, reconcile: dict[str, Any] | None) -> dict[str, Any]:
        assert phase.monitor is not None  # noqa: S101
        job = {
            "chdb_dir": str(self.out / phase.name / "chdb"),
            "prefix": phase.prefix,
            "wall_start": phase.wall_start,
            "timelines": {f"{t}\t{p}": line for (t, p), line in phase.monitor.timelines.items()},
            "reconcile": reconcile,
        }
        job_path, out_path = (
            self.out / phase.name / "job.json",
            self.out / phase.name / "analysis.json",
        )
        job_path.write_text(json.dumps(job))
        analyse = support(f"analyse-{phase.name}", "analyse", base_env({}), self.logs,
                          (str(job_path), str(out_path)))  # fmt: skip
        analyse.start()
        code = analyse.wait(timeout_s=6 * 3600)
        if code != 0:
            raise RuntimeError(f"analysis failed; see {analyse.log}")
        result: dict[str, Any] = json.loads(out_path.read_text())
        return result

    def reconcile_spec(self, **extra: Any) -> dict[str, Any]:
        return {
            "scale": self.scale.name,
            "seed": self.seed,
            "source_only": self.source_only,
            "bootstrap": self.broker.bootstrap,
            "app_id": self.app_id,
            **extra,
        }


def _free_port() -> int:
    """A port nobody listens on now (the query API's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settled(monitor: Monitor, label: str) -> bool:
    """A group has read everything, or (the sink) has stopped moving for IDLE_SAMPLES: the
    sink commits a batch's offsets when the next batch is flushed, so an idle sink may keep
    its last batch uncommitted until it is stopped (stopping flushes and commits)."""
    recent = monitor.samples[-IDLE_SAMPLES:]
    if not recent or recent[-1].lag.get(label) == 0:
        return bool(recent)
    if label != "sink" or len(recent) < IDLE_SAMPLES:
        return False
    return len({(s.lag.get(label), s.consumed.get(label)) for s in recent}) == 1


def _topics(names: TopicNames, specs: tuple[Any, ...]) -> tuple[tuple[str, int], ...]:
    return tuple((names.of(spec), spec.partitions) for spec in specs)


def _sum_ends(phase: Phase, spec: Any) -> int:
    sample = phase.monitor.latest if phase.monitor else None
    return sample.ends.get(phase.names.of(spec), 0) if sample else 0
