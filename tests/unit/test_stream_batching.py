"""What the batching agents rely on: touches the rules ignore, partition groups, and table
state seen through a batch (each key read once, each changed key written once)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas.tracking import RecipientRole, TrackingEventType
from streams.batches import WriteBack, by_partition
from streams.lockout import rules as lockout
from streams.reminders import rules as reminders
from tests.factories import tracking_event

T = TrackingEventType
lock_states = st.builds(
    lockout.LockoutState, consecutive_failures=st.integers(0, 5), locked=st.booleans()
)
return_states = st.none() | st.builds(
    reminders.ReturnState,
    firm_id=st.just("F-1"),
    return_id=st.just("R-1"),
    signature_required=st.booleans(),
    signed=st.booleans(),
    closed=st.booleans(),
    email_bounced=st.booleans(),
    unpaid_vouchers=st.frozensets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=2),
)


@given(
    st.sampled_from(sorted(set(T) - lockout.ACTED_ON)),
    lock_states,
    st.sampled_from(list(RecipientRole)),
)
def test_the_lockout_rule_ignores_every_touch_outside_acted_on(
    event_type: TrackingEventType, state: lockout.LockoutState, role: RecipientRole
) -> None:
    assert lockout.apply(state, tracking_event(event_type, role=role)) == (state, [])


@given(
    st.sampled_from(sorted(set(T) - reminders.TRACKING_ACTED_ON)),
    return_states,
    st.sampled_from(list(RecipientRole)),
)
def test_the_reminder_rule_ignores_every_touch_outside_acted_on(
    event_type: TrackingEventType, state: reminders.ReturnState | None, role: RecipientRole
) -> None:
    assert reminders.on_tracking(state, tracking_event(event_type, role=role)) == (state, [])


@dataclass
class _Message:
    partition: int
    offset: int


@dataclass
class _Event:
    message: _Message


def test_partition_groups_keep_arrival_order() -> None:
    arrivals = [(2, 10), (0, 5), (2, 11), (1, 7), (0, 6), (2, 12)]
    events = [_Event(_Message(p, o)) for p, o in arrivals]
    groups = by_partition(events)  # type: ignore[arg-type]  # stand-ins for faust events
    assert [[(e.message.partition, e.message.offset) for e in g] for g in groups] == [
        [(2, 10), (2, 11), (2, 12)],
        [(0, 5), (0, 6)],
        [(1, 7)],
    ]


class _Store(dict[str, Any]):
    """A table store: counts reads."""

    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


@dataclass
class _Table:
    data: _Store


class _Writer:
    """Encodes rows the way a store does (JSON)."""

    def encode(self, key: str, row: Any) -> tuple[bytes, bytes | None]:
        return key.encode(), None if row is None else json.dumps(row).encode()


def _write_back(rows: dict[str, Any]) -> tuple[WriteBack, _Store]:
    store = _Store(rows)
    return WriteBack(_Table(store), _Writer()), store  # type: ignore[arg-type]


def test_a_key_changed_many_times_in_a_batch_is_read_once_and_handed_over_once() -> None:
    table, store = _write_back({"a": {"n": 0}})
    for n in range(1, 6):
        table["a"] = {"n": table.get("a")["n"] + n}
    assert table.changes() == [(b"a", b'{"n": 15}')]
    assert store.reads == 1


def test_unchanged_and_missing_keys_are_not_handed_over() -> None:
    table, _ = _write_back({"a": {"n": 1}})
    table["a"] = {"n": 1}  # same row again
    assert table.get("missing") is None
    assert table.pop("missing", "gone") == "gone"
    assert table.changes() == []


def test_popped_keys_are_deleted_and_reads_see_the_batch() -> None:
    table, store = _write_back({"a": {"n": 1}, "b": {"n": 2}})
    assert table.pop("a") == {"n": 1}
    assert table.get("a", "none") == "none"
    table["c"] = {"n": 3}
    assert table["c"] == {"n": 3}
    assert table.changes() == [(b"a", None), (b"c", b'{"n": 3}')]
    assert dict(store) == {"a": {"n": 1}, "b": {"n": 2}}  # the journal writes, not the batch


def test_changes_are_handed_over_once() -> None:
    table, _ = _write_back({})
    table["a"] = {"n": 1}
    assert table.changes() == [(b"a", b'{"n": 1}')]
    assert table.changes() == []
    table["a"] = {"n": 2}
    assert table.changes() == [(b"a", b'{"n": 2}')]
