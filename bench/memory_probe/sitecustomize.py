"""A memory probe for the stream worker of a benchmark run (diagnosis only, never in production).

Python imports `sitecustomize` at start-up from its path, so with this folder on PYTHONPATH
(which `bench/season.py` passes to the processes it starts) every `ctrack worker` gets a
thread that, each second, appends one JSON line to MEMORY_PROBE_OUT: its RSS, glibc's malloc
arenas (`mallinfo2`: memory outside Python's own small-object arenas) and, once tracing,
Python's traced memory. Tracing starts when the file MEMORY_PROBE_TRACE_AT exists (create it
when the phase to look at begins: tracemalloc slows the worker several times over, so tracing
from the start distorts what it measures); from then on, whenever RSS has grown by more than
30 MiB, the line also lists the allocation sites grown most since the previous snapshot.

    MEMORY_PROBE_OUT=/tmp/probe.jsonl MEMORY_PROBE_TRACE_AT=/tmp/probe.start \\
    PYTHONPATH=bench/memory_probe .venv/bin/python bench/season.py --scale large --no-baseline
    # when the console shows "clock tick sent":  touch /tmp/probe.start
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

_JUMP_BYTES = 30 * 2**20
_FRAMES = 16
_MIB = 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _glibc_mallinfo2() -> Any:
    """glibc's `mallinfo2`, looked up once (None: not glibc, or older than 2.33)."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    return mallinfo2


def _malloc_mib(mallinfo2: Any) -> dict[str, int]:
    """glibc's view: arenas, mmapped chunks, in use and free inside the arenas (MiB)."""
    if mallinfo2 is None:
        return {}
    info = mallinfo2()
    return {
        "arena": info.arena // _MIB,
        "mmap": info.hblkhd // _MIB,
        "in_use": info.uordblks // _MIB,
        "free": info.fordblks // _MIB,
    }


def _grown(now: tracemalloc.Snapshot, before: tracemalloc.Snapshot) -> list[dict[str, Any]]:
    return [
        {
            "mib": round(stat.size_diff / _MIB, 1),
            "blocks": stat.count_diff,
            "at": [str(frame) for frame in stat.traceback],
        }
        for stat in now.compare_to(before, "traceback")[:12]
    ]


def _sample_forever(out_path: Path, trace_at: Path | None) -> None:
    mallinfo2 = _glibc_mallinfo2()
    last_rss = _rss_bytes()
    snapshot: tracemalloc.Snapshot | None = None
    with out_path.open("a") as out:
        while True:
            time.sleep(1.0)
            rss = _rss_bytes()
            line: dict[str, Any] = {"t": time.time(), "rss_mib": rss // _MIB}
            line["malloc_mib"] = _malloc_mib(mallinfo2)
            if not tracemalloc.is_tracing() and trace_at is not None and trace_at.exists():
                tracemalloc.start(_FRAMES)
                snapshot, last_rss, line["tracing_started"] = tracemalloc.take_snapshot(), rss, True
            if tracemalloc.is_tracing():
                line["traced_mib"] = tracemalloc.get_traced_memory()[0] // _MIB
                if snapshot is not None and rss - last_rss > _JUMP_BYTES:
                    now = tracemalloc.take_snapshot()
                    line["grown"], snapshot, last_rss = _grown(now, snapshot), now, rss
            out.write(json.dumps(line) + "\n")
            out.flush()


def _start() -> None:
    out = os.environ.get("MEMORY_PROBE_OUT")
    if out is None or "worker" not in sys.argv:
        return
    trace_at = os.environ.get("MEMORY_PROBE_TRACE_AT")
    threading.Thread(
        target=_sample_forever,
        args=(Path(out), Path(trace_at) if trace_at else None),
        daemon=True,
        name="memory-probe",
    ).start()


_start()
