"""Samples the run while it goes: topic end offsets, consumer-group offsets, memory, API probes.

End offsets are kept per partition as a timeline, which later dates each stored row's
produce time (offset -> when the broker had it). Group offsets give each stage's progress and
its lag. A background thread samples; the main thread reads `latest` for the live view.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition

from schemas.catalogue import TopicSpec
from season_support.processes import Proc

Timeline = list[tuple[float, int]]  # (seconds since start, end offset)


@dataclass(frozen=True)
class Group:
    """A consumer group to follow: its name and the topics (full names, partitions) it reads."""

    label: str
    group_id: str
    topics: tuple[tuple[str, int], ...]


@dataclass
class Sample:
    t: float
    ends: dict[str, int]  # topic -> sum of end offsets
    consumed: dict[str, int]  # group label -> sum of committed offsets
    lag: dict[str, int]  # group label -> sum of (end - committed)
    rss: dict[str, int]  # process name -> resident bytes


@dataclass
class ApiProbe:
    """The live query service: GET one client's history now and then, time it."""

    base_url: str
    keys: dict[str, str]  # firm_id -> API key
    client_ids: Callable[[], Sequence[tuple[str, str]]]  # (firm_id, client_id) known to exist
    ok: int = 0
    failed: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def probe(self, n: int) -> None:
        known = self.client_ids()
        if not known:
            return
        firm_id, client_id = known[n % len(known)]
        started = time.perf_counter()
        try:
            response = httpx.get(
                f"{self.base_url}/clients/{client_id}/history",
                headers={"Authorization": f"Bearer {self.keys[firm_id]}"},
                timeout=5.0,
            )
        except httpx.HTTPError:
            self.failed += 1
            return
        if response.status_code in (200, 404):  # 404: not stored yet, still an answer
            self.ok += 1
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
        else:
            self.failed += 1


class Monitor:
    """Background sampler; `start()`, read `samples`/`latest`, `stop()`."""

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[tuple[str, TopicSpec]],
        groups: Sequence[Group],
        processes: Callable[[], Sequence[Proc]],
        api: ApiProbe | None = None,
        every_s: float = 0.5,
    ):
        self.started = time.monotonic()
        self.topics = list(topics)
        self.groups = list(groups)
        self.processes = processes
        self.api = api
        self.every_s = every_s
        self.samples: list[Sample] = []
        self.timelines: dict[tuple[str, int], Timeline] = {}
        self.errors = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="monitor", daemon=True)
        common = {"bootstrap.servers": bootstrap, "enable.auto.commit": False}
        self._ends = Consumer({**common, "group.id": f"season-ends-{uuid.uuid4().hex[:8]}"})
        self._groups = {g.label: Consumer({**common, "group.id": g.group_id}) for g in groups}

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def now(self) -> float:
        return time.monotonic() - self.started

    def start(self) -> Monitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for consumer in (self._ends, *self._groups.values()):
            consumer.close()

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                self._sample()
                if self.api is not None and n % max(1, round(1 / self.every_s)) == 0:
                    self.api.probe(n)
            except Exception as exc:  # noqa: BLE001 - e.g. the broker is down on purpose
                self.errors += 1
                self.last_error = repr(exc)
            n += 1
            self._stop.wait(self.every_s)

    def _sample(self) -> None:
        t = self.now()
        ends_by_tp: dict[tuple[str, int], int] = {}
        for topic, spec in self.topics:
            for partition in range(spec.partitions):
                tp = TopicPartition(topic, partition)
                _low, high = self._ends.get_watermark_offsets(tp, timeout=2, cached=False)
                ends_by_tp[(topic, partition)] = high
                timeline = self.timelines.setdefault((topic, partition), [])
                if not timeline or timeline[-1][1] != high:
                    timeline.append((t, high))
        ends: dict[str, int] = {}
        for (topic, _partition), high in ends_by_tp.items():
            ends[topic] = ends.get(topic, 0) + high
        consumed, lag = {}, {}
        for group in self.groups:
            wanted = [TopicPartition(t, p) for t, count in group.topics for p in range(count)]
            committed = self._groups[group.label].committed(wanted, timeout=5)
            done = sum(max(tp.offset, 0) for tp in committed)
            end = sum(ends_by_tp.get((tp.topic, tp.partition), 0) for tp in committed)
            consumed[group.label], lag[group.label] = done, max(end - done, 0)
        rss = {proc.name: proc.sample_rss() for proc in self.processes()}
        self.samples.append(Sample(t, ends, consumed, lag, rss))

    def series(self) -> list[dict[str, Any]]:
        """Samples as plain dicts (the results JSON)."""
        return [
            {"t": round(s.t, 2), "ends": s.ends, "consumed": s.consumed, "lag": s.lag, "rss": s.rss}
            for s in self.samples
        ]


def produce_time(timeline: Timeline, offset: int) -> float | None:
    """When the record at `offset` was on the broker: the first sample whose end passed it,
    interpolated linearly from the sample before (None if never seen)."""
    previous_t, previous_end = 0.0, 0
    for t, end in timeline:
        if end > offset:
            if previous_end >= end:
                return t
            share = (offset + 1 - previous_end) / (end - previous_end)
            return previous_t + max(0.0, min(1.0, share)) * (t - previous_t)
        previous_t, previous_end = t, end
    return None
