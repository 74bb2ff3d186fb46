"""Dead-letter ids: stable for a retry of the same record, distinct for different records."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.dead_letter import Rejected, dead_letter_record

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ERROR = ValueError("bad")


def _id(rejected: Rejected, stage: str = "sink") -> str:
    return str(
        dead_letter_record(rejected, stage=stage, error=ERROR, failed_at=NOW)["dead_letter_id"]
    )


def test_kafka_records_are_named_by_their_coordinates() -> None:
    first = Rejected("t", 0, 5, None, b"x")
    assert _id(first) == _id(Rejected("t", 0, 5, b"k", b"other bytes"))
    assert _id(first) != _id(Rejected("t", 0, 6, None, b"x"))
    assert _id(first) != _id(first, stage="worker")


def test_records_without_coordinates_get_distinct_ids() -> None:
    """Off Kafka (partition and offset -1) the payload, or the given identity, names it."""
    one, two = Rejected("/hooks", -1, -1, None, b"a"), Rejected("/hooks", -1, -1, None, b"b")
    assert _id(one) != _id(two)
    assert _id(one) == _id(Rejected("/hooks", -1, -1, None, b"a"))
    named = Rejected("/hooks", -1, -1, None, b"a", identity="body-hash-1")
    assert _id(named) != _id(one)
    assert _id(named) == _id(Rejected("/hooks", -1, -1, None, b"zz", identity="body-hash-1"))
