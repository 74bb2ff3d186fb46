"""What scheduling a season's timers writes to the timer index, per batch, with the minute's keys
in chunks (`CHUNK_KEYS`) vs one list per minute (the layout before chunks), in one run.

Usage: .venv/bin/python bench/timer_index.py [--returns 100000] [--batch 4000]

One partition's share of a season: each return schedules a signing reminder (spread over the
season's minutes) and voucher reminders on the shared due dates (one minute each: the crowded
buckets). Batches work like the worker's (streams/batches.py `WriteBack`): at the end of each
batch every changed index row is encoded (orjson, as the table codec does) once; those bytes go
to the store, the changelog and the journal record. Reported: bytes encoded for the index in
all, the largest row and the largest batch (a journal record holds a batch's rows, <= 16 MiB).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from streams.outputs import TriggerKind
from streams.timers.wheel import CHUNK_KEYS, Timer, TimerWheel

START = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)
VOUCHER_DATES = [datetime(2026, m, 15, 9, 0, tzinfo=UTC) for m in (4, 6, 9)] + [
    datetime(2027, 1, 15, 9, 0, tzinfo=UTC)
]
ONE_LIST = 10**9  # chunk size that never fills: every minute is one list


def season(returns: int, seed: int = 7) -> list[Timer]:
    rng = random.Random(seed)
    timers = []
    for n in range(returns):
        subject = f"R-{n:07}"
        spread = START + timedelta(minutes=rng.randrange(75 * 24 * 60))
        timers.append(Timer(TriggerKind.SIGNING_REMINDER, subject, "F-1", spread))
        for due in rng.sample(VOUCHER_DATES, rng.randint(0, 4)):
            reminder = due - timedelta(days=7)
            detail = due.date().isoformat()
            timers.append(Timer(TriggerKind.VOUCHER_REMINDER, subject, "F-1", reminder, detail))
    return timers


class Touched(dict[str, Any]):
    """A dict that remembers which keys a batch set or removed (and their old values)."""

    def __init__(self) -> None:
        super().__init__()
        self.old: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.old.setdefault(key, dict.get(self, key))
        super().__setitem__(key, value)

    def pop(self, key: str, default: Any = None) -> Any:
        self.old.setdefault(key, dict.get(self, key))
        return super().pop(key, default)


def run(timers: list[Timer], batch: int, chunk_keys: int) -> dict[str, float]:
    """Schedule `timers` in batches; the bytes of the index rows each batch changed."""
    rows: dict[str, Any] = {}
    index = Touched()
    total = largest_row = largest_batch = 0
    started = time.process_time()
    for at in range(0, len(timers), batch):
        wheel = TimerWheel(rows, index, chunk_keys)
        for timer in timers[at : at + batch]:
            wheel.schedule(timer, 0)
        changed = [
            orjson.dumps(index.get(key)) for key, old in index.old.items() if index.get(key) != old
        ]
        index.old.clear()
        written = sum(map(len, changed))
        total += written
        largest_batch = max(largest_batch, written)
        largest_row = max([largest_row, *map(len, changed)])
    return {
        "seconds": time.process_time() - started,
        "total": total,
        "largest_row": largest_row,
        "largest_batch": largest_batch,
        "rows": len(index),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=4000, help="timers scheduled per batch")
    args = parser.parse_args()
    timers = season(args.returns)
    one_list = run(timers, args.batch, ONE_LIST)
    chunked = run(timers, args.batch, CHUNK_KEYS)
    table = Table(title=f"timer index, {len(timers):,} timers of {args.returns:,} returns")
    columns = ("layout", "index bytes written", "largest row", "largest batch", "rows", "CPU s")
    for column in columns:
        table.add_column(column, justify="right")
    for name, result in (("one list per minute", one_list), (f"chunks of {CHUNK_KEYS}", chunked)):
        table.add_row(
            name,
            f"{result['total'] / 2**20:,.1f} MiB",
            f"{result['largest_row'] / 2**10:,.1f} KiB",
            f"{result['largest_batch'] / 2**10:,.1f} KiB",
            f"{result['rows']:,}",
            f"{result['seconds']:.1f}",
        )
    console = Console()
    console.print(table)
    console.print(f"bytes written, one list / chunks: {one_list['total'] / chunked['total']:.1f}x")


if __name__ == "__main__":
    main()
