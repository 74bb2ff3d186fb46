"""Fault runs: the season pipeline with a fault injected mid-run, each ending with the
reconciliation report (zero lost, zero duplicates visible, identical derived state, triggers
once, every poison record dead-lettered with its reason).

Run: .venv/bin/python bench/faults.py [--scale tiny] [--only broker,worker,sink,poison]
     (or `make bench-faults`)

Scenarios (each a fresh topic prefix and chdb on the same broker; the producer is paced with
--rate so faults land while records flow):
- broker: SIGKILL the broker while the season is being produced, restart it 3 s later;
- worker: SIGKILL the stream worker, restart it 2 s later; then add a second worker (rebalance);
- sink: SIGKILL the sink + query API process mid-batch, restart it 2 s later;
- poison: a burst of undecodable bytes, unknown schema fingerprints, illegal transitions and
  oversized payloads mixed into the season.
Consumers that die are restarted by the run's supervisor (as a process manager would) and the
restarts are reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from rich.console import Console
from rich.table import Table
from season_support.pipeline import Broker, Phase, SeasonRun, Trigger
from season_support.poison import (
    ILLEGAL,
    OVERSIZED,
    UNDECODABLE,
    UNKNOWN_SCHEMA,
    illegal_transitions,
    oversized_tracking,
    undecodable,
    unknown_fingerprint,
)
from season_support.reconcile import Poison
from season_support.report import checks_table, reconciliation_table
from season_support.scales import SCALES

from schemas.catalogue import CLIENT_EVENTS, TRACKING
from schemas.codec import AvroCodec

RESULTS = Path(__file__).resolve().parent / "results"
POISON_EACH = 20
console = Console(width=None if sys.stdout.isatty() else 150)


def consumed_at_least(label: str, records: int) -> Any:
    return lambda phase: phase.consumed(label) >= records


def produced_at_least(records: int) -> Any:
    return lambda phase: phase.produced() >= records


def kill_broker(phase: Phase) -> None:
    phase.run.broker.kill()
    phase.note("broker killed (SIGKILL)")
    time.sleep(3)
    phase.run.broker.local.up()  # type: ignore[union-attr]  # killable only when ours
    phase.note("broker restarted")


def kill_and_restart(name: str, pause_s: float) -> Any:
    def action(phase: Phase) -> None:
        proc = phase.procs[name]
        proc.held = True
        proc.kill()
        phase.note(f"{name} killed (SIGKILL)")
        time.sleep(pause_s)
        proc.restart()
        proc.held = False
        phase.note(f"{name} restarted")

    return action


def add_second_worker(phase: Phase) -> None:
    phase.add_worker()


class PoisonBurst:
    """Produces the poison records and remembers where each landed."""

    def __init__(self) -> None:
        self.sent: list[Poison] = []
        self.refused: list[dict[str, str]] = []

    def __call__(self, phase: Phase) -> None:
        run = phase.run
        producer = Producer(
            {"bootstrap.servers": run.broker.bootstrap, "message.max.bytes": 16 * 2**20}
        )
        codec = AvroCodec()
        names = phase.names
        tracking, clients = names.of(TRACKING), names.of(CLIENT_EVENTS)
        burst: list[tuple[str, str, bytes, bytes]] = []
        for n, payload in enumerate(undecodable(POISON_EACH)):
            burst.append((UNDECODABLE, (tracking, clients)[n % 2], b"P-%d" % n, payload))
        for n, payload in enumerate(unknown_fingerprint(POISON_EACH)):
            burst.append((UNKNOWN_SCHEMA, (tracking, clients)[n % 2], b"U-%d" % n, payload))
        for schema, client_id, record in illegal_transitions(run.plan, POISON_EACH):
            value = codec.encode(schema, record, topic=clients)
            burst.append((ILLEGAL, clients, client_id.encode(), value))
        # 2 MiB of valid Avro: on the topic, over the record limit; 9 MiB: the broker refuses it
        schema, return_id, record = oversized_tracking(run.plan)
        big = codec.encode(schema, record, topic=tracking)
        burst.append((OVERSIZED, tracking, return_id.encode(), big))
        burst.append((OVERSIZED, tracking, b"O-9", b"\xc3\x01" + b"x" * 9 * 2**20))
        for kind, topic, key, value in burst:
            producer.produce(topic, value=value, key=key, on_delivery=self._landed(kind))
            producer.poll(0)
        producer.flush(60)
        phase.note(
            f"poison burst: {len(self.sent)} records on the topics, {len(self.refused)} refused"
        )

    def _landed(self, kind: str) -> Any:
        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                self.refused.append({"kind": kind, "error": error.str()})
                return
            self.sent.append(
                Poison(kind, message.topic() or "", message.partition() or 0, message.offset() or 0)
            )

        return report


def scenarios(run: SeasonRun, poison: PoisonBurst) -> dict[str, list[Trigger]]:
    third = max(1, _expected_records(run) // 3)
    return {
        "broker": [Trigger("broker SIGKILL + restart", produced_at_least(third), kill_broker)],
        "worker": [
            Trigger(
                "worker SIGKILL + restart",
                consumed_at_least("worker", third),
                kill_and_restart("worker-1", 2),
            ),
            Trigger(
                "second worker added (rebalance)",
                consumed_at_least("worker", 2 * third),
                add_second_worker,
            ),
        ],  # fmt: skip
        "sink": [
            Trigger(
                "sink SIGKILL mid-batch + restart",
                consumed_at_least("sink", third),
                kill_and_restart("sink", 2),
            ),
        ],  # fmt: skip
        "poison": [Trigger("poison burst", produced_at_least(third), poison)],
    }


def _expected_records(run: SeasonRun) -> int:
    return run.scale.source_events


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    parser.add_argument("--rate", type=float, default=400.0, help="produce events/s")
    parser.add_argument("--only", default="broker,worker,sink,poison")
    args = parser.parse_args()
    out = RESULTS / f"faults-{args.scale}-{datetime.now():%Y%m%d-%H%M%S}"
    results: dict[str, Any] = {}
    broker = Broker()
    broker.up()
    try:
        for name in args.only.split(","):
            results[name] = run_scenario(name, args.scale, args.rate, out / name)
            (out / "faults.json").write_text(json.dumps(results, indent=1, default=str))
    finally:
        broker.down()
    summary = Table(title="Fault runs")
    for column in (
        "scenario",
        "faults",
        "restarts",
        "lost",
        "dup. visible",
        "state",
        "once",
        "poison",
        "passed",
    ):
        summary.add_column(column)
    for name, result in results.items():
        report = result["reconciliation"]
        checks = report["checks"]
        summary.add_row(
            name,
            "; ".join(
                f"{e['t']:.0f}s {e['event']}" for e in result["events"] if "fault" in e["event"]
            ),
            str(result["restarts"]),
            str(sum(t["missing"] for t in report["tables"])),
            str(sum(t["duplicates_visible"] for t in report["tables"])),
            "identical"
            if checks["worker_state_identical"] and checks["client_statuses_identical"]
            else "DIFFERENT",
            "yes" if checks["triggers_at_most_once"] else "NO",
            "all" if checks["every_poison_record_dead_lettered"] else "NOT ALL",
            "pass" if report["passed"] else "FAIL",
        )
    console.print(summary)
    console.print(f"results: {out / 'faults.json'}")
    return 0 if all(r["reconciliation"]["passed"] for r in results.values()) else 1


def run_scenario(name: str, scale: str, rate: float, out: Path) -> dict[str, Any]:
    run = SeasonRun(SCALES[scale], out, rate=rate, baseline=False,
                    prefix=f"fault-{name}-{datetime.now():%H%M%S}")  # fmt: skip
    poison = PoisonBurst()
    run.prepare()
    phase = run.pipeline(scenarios(run, poison)[name])
    spec = run.reconcile_spec()
    if poison.sent or poison.refused:
        spec |= {"poison": [p.__dict__ for p in poison.sent], "illegal": POISON_EACH}
    analysis = run.analyse(phase, spec)
    report = analysis["reconciliation"]
    console.print(reconciliation_table(report, f"Fault run '{name}': stored vs clean expectation"))
    console.print(checks_table(report))
    if "poison" in report["dead_letters"]:
        console.print_json(
            data={"poison": report["dead_letters"]["poison"], "refused_by_broker": poison.refused}
        )
    return {
        "events": phase.events,
        "restarts": phase.restarts,
        "refused": poison.refused,
        "ingest_lag": analysis["ingest_lag"],
        "rule_lag": analysis["rule_lag"],
        "reconciliation": report,
    }


if __name__ == "__main__":
    sys.exit(main())
