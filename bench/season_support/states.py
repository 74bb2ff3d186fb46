"""Derived state as rows: the fold's dicts, the worker's changelog topics, and their digests."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from schemas.catalogue import CLIENT_STATE, LOCKOUT_STATE, RETURN_STATE, TableSpec, TopicNames
from season_support.fold import SeasonFold
from streams.client_status.state import to_row as client_row
from streams.returns.agent import to_row as return_row

Rows = dict[str, Any]
# The worker tables compared with the clean expectation, by catalogue table.
COMPARED: tuple[TableSpec, ...] = (LOCKOUT_STATE, CLIENT_STATE, RETURN_STATE)


def fold_rows(fold: SeasonFold) -> dict[str, Rows]:
    """The fold's state in the row shapes the worker's tables hold, by catalogue table name."""
    return {
        LOCKOUT_STATE.name: {
            subject: {"failures": s.consecutive_failures, "locked": s.locked}
            for subject, s in fold.locks.items()
        },
        CLIENT_STATE.name: {cid: client_row(s) for cid, s in fold.clients.items()},
        RETURN_STATE.name: {rid: return_row(s) for rid, s in fold.returns.items()},
    }


def digest(rows: Rows) -> str:
    """Order-independent fingerprint of a table's rows."""
    hasher = hashlib.sha256()
    for key in sorted(rows):
        hasher.update(json.dumps([key, rows[key]], sort_keys=True, default=str).encode())
    return hasher.hexdigest()[:16]


def fold_summary(fold: SeasonFold) -> dict[str, Any]:
    """Counts and digests of the fold's state (what the baseline reports at exit)."""
    tables = fold_rows(fold)
    return {
        "states": {
            name: {"rows": len(rows), "digest": digest(rows)} for name, rows in tables.items()
        },
        "locked": sum(1 for s in fold.locks.values() if s.locked),
        "rejections": sum(fold.rejections.values()),
    }


def read_changelog(bootstrap: str, names: TopicNames, app_id: str, table: TableSpec) -> Rows:
    """The latest row per key of a worker table, read from its changelog topic to the end."""
    topic = names.of(table.changelog(app_id))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"season-recon-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    rows: Rows = {}
    try:
        ends = {}
        for partition in range(table.source.partitions):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            if high > 0:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        done: set[int] = set()
        while len(done) < len(ends):
            for message in consumer.consume(num_messages=5000, timeout=1.0):
                partition = message.partition() or 0
                if message.error() is None:
                    _apply_change(rows, message.key(), message.value())
                    if (message.offset() or 0) + 1 >= ends[partition]:
                        done.add(partition)
                elif partition in ends:
                    done.add(partition)  # end of partition
    finally:
        consumer.close()
    return rows


def _apply_change(rows: Rows, key: bytes | None, value: bytes | None) -> None:
    if key is None:
        return
    name = _text(key)
    parsed = json.loads(value) if value else None
    if parsed is None:
        rows.pop(name, None)
    else:
        rows[name] = parsed


def _text(key: bytes) -> str:
    try:
        parsed = json.loads(key)
    except ValueError:
        return key.decode()
    return parsed if isinstance(parsed, str) else key.decode()


def compare_rows(expected: Rows, actual: Rows, examples: int = 3) -> dict[str, Any]:
    """How two tables differ: missing and extra keys, differing rows, a few examples."""
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    differ = [k for k in expected if k in actual and expected[k] != actual[k]]
    return {
        "expected": len(expected),
        "actual": len(actual),
        "missing": len(missing),
        "extra": len(extra),
        "different": len(differ),
        "identical": not (missing or extra or differ),
        "examples": [
            {"key": k, "expected": expected[k], "actual": actual[k]} for k in differ[:examples]
        ]
        + [{"key": k, "missing": True} for k in missing[:examples]],
    }


def as_jsonable(rows: Rows) -> Rows:
    """Rows with dataclass values expanded (for printing examples)."""
    return {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in rows.items()}
