"""Benchmark: local broker cold start (fresh data dir) vs warm start (formatted, jars cached).

Run: .venv/bin/python bench/stack_startup.py [--runs N]
Prints a table and the warm/cold ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ctrack.settings import StackSettings
from ctrack.stack.local_kafka import LocalKafka

PORT = 19392


def timed_up(settings: StackSettings) -> float:
    broker = LocalKafka(settings)
    start = time.perf_counter()
    broker.up()
    elapsed = time.perf_counter() - start
    broker.down()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    jars = StackSettings().jars_dir
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            settings = StackSettings(
                data_dir=Path(tmp),
                kafka_port=PORT,
                kafka_controller_port=PORT + 1,
                kafka_jars_dir=jars,
            )
            cold.append(timed_up(settings))  # format + first start
            warm.append(timed_up(settings))  # already formatted
    table = Table(title="Local Kafka broker start-up (seconds until it answers metadata)")
    table.add_column("start")
    table.add_column("median", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    for name, values in (("cold (format + start)", cold), ("warm (restart)", warm)):
        table.add_row(
            name, f"{statistics.median(values):.2f}", f"{min(values):.2f}", f"{max(values):.2f}"
        )
    console = Console()
    console.print(table)
    console.print(
        f"warm/cold ratio: {statistics.median(warm) / statistics.median(cold):.2f} "
        f"({args.runs} runs each; jars already cached in {jars})"
    )


if __name__ == "__main__":
    main()
