"""Memory a tick's batch holds while it fires timers from crowded minutes, in one run: the wheel's
scans keeping every row read in the batch (the code before peek) vs peeking at rows
(`WriteBack.peek`: read, not kept), and a batch's changed rows encoded as orjson returns them
(each in a buffer of at least 4 KiB) vs copied to their exact length (`encode_kept`).

Usage: .venv/bin/python bench/tick_memory.py [--returns 50000] [--limit 2000]

One partition's share of a season's timers (bench/timer_index.py's: a signing reminder per
return, voucher reminders on 4 shared due dates, each date's reminders in one minute) is stored
as the worker stores it (orjson rows under orjson keys). Then one tick at the end of the
season fires them all, `--limit` per batch through fresh write-back tables (the continuation
ticks); each batch's changes are stored (copied, as RocksDB does) before the next. A batch
that reaches a crowded minute reads its whole index to order it. Reported: the most rows a
batch held, Python memory at the largest batch's peak (tracemalloc) and CPU for all batches.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from timer_index import START, VOUCHER_DATES, season  # bench/ is the script's path

from streams import table_codec
from streams.batches import WriteBack
from streams.timers.wheel import TimerWheel

PARTITION = 0


class _Store:
    """A table store's byte lookup, as `WriteBack` reads it."""

    def __init__(self, rows: dict[str, Any]):
        self.rows = {table_codec.encode(k): table_codec.encode(v) for k, v in rows.items()}

    def _get(self, key: bytes) -> bytes | None:
        return self.rows.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[bytes(memoryview(key))] = bytes(memoryview(value))  # a store's own copy


@dataclass
class _Table:
    data: _Store


@dataclass
class _Writer:
    """`TableWriter.encode` with the row encoder under test."""

    encode_row: Callable[[Any], bytes]

    def encode(self, key: str, row: Any) -> tuple[bytes, bytes | None]:
        return self.encode_row(key), None if row is None else self.encode_row(row)


class KeepingWriteBack(WriteBack):
    """The write-back before peek: a scan's reads stay in the batch."""

    def peek(self, key: str, default: Any = None) -> Any:
        return self.get(key, default)


def stored_season(returns: int) -> tuple[_Store, _Store]:
    timers: dict[str, Any] = {}
    buckets: dict[str, Any] = {}
    wheel = TimerWheel(timers, buckets)
    for timer in season(returns):
        wheel.schedule(timer, PARTITION)
    return _Store(timers), _Store(buckets)


def end_of_window(
    kind: type[WriteBack], encode_row: Callable[[Any], bytes], returns: int, limit: int
) -> dict[str, Any]:
    """Fire every timer of the season at one tick, `limit` per batch (the continuation
    ticks), each batch through fresh write-backs whose changes are then stored."""
    stores = stored_season(returns)
    now = max(VOUCHER_DATES) + timedelta(days=1)
    fired, batches, peak, held, cpu = 0, 0, 0, 0, 0.0
    while True:
        tracemalloc.start()
        started = time.process_time()
        timers = kind(_Table(stores[0]), _Writer(encode_row))  # type: ignore[arg-type]
        buckets = kind(_Table(stores[1]), _Writer(encode_row))  # type: ignore[arg-type]
        wheel = TimerWheel(timers, buckets)
        in_batch = 0
        while in_batch < limit and wheel.pop_next(now, PARTITION):
            in_batch += 1
        for store, table in zip(stores, (timers, buckets), strict=True):
            for key, value in table.changes():
                store.put(key, value)
        cpu += time.process_time() - started
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        held = max(held, len(timers._rows) + len(buckets._rows))
        fired, batches = fired + in_batch, batches + 1
        if in_batch < limit:
            return {"fired": fired, "batches": batches, "held": held, "peak": peak, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=50_000)
    parser.add_argument("--limit", type=int, default=2_000)
    args = parser.parse_args()
    console = Console()
    results = {}
    variants = (
        ("keep every row read", KeepingWriteBack, table_codec.encode),
        ("peek", WriteBack, table_codec.encode),
        ("peek, rows of exact size", WriteBack, table_codec.encode_kept),
    )
    for name, kind, encode_row in variants:
        with console.status(f"{args.returns:,} returns, {name}"):
            results[name] = end_of_window(kind, encode_row, args.returns, args.limit)
    table = Table(title=f"end-of-window tick, {args.limit:,} timers per batch")
    for column in ("variant", "fired", "batches", "most rows held", "peak MiB", "CPU s"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['fired']:,}",
            f"{r['batches']:,}",
            f"{r['held']:,}",
            f"{r['peak'] / 2**20:.1f}",
            f"{r['cpu']:.2f}",
        )
    console.print(table)
    kept, peeked = results["keep every row read"], results["peek"]
    exact = results["peek, rows of exact size"]
    console.print(
        f"peak memory: {kept['peak'] / peeked['peak']:.1f}x less with peek, "
        f"{peeked['peak'] / exact['peak']:.1f}x less again with rows of exact size; "
        f"most rows held: {kept['held'] / max(peeked['held'], 1):.1f}x fewer (season from "
        f"{START:%Y-%m-%d}, the largest batch)"
    )


if __name__ == "__main__":
    main()
