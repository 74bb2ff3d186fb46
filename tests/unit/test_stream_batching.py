"""What the batching agents rely on: touches the rules ignore, partition groups, table state
seen through a batch (each key read once, each changed key written once), and records handed
to the agents without a race of tasks unless the hand-over has to wait."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.tracking import RecipientRole, TrackingEventType
from streams import table_codec
from streams.batches import WriteBack, by_partition, in_partition_of
from streams.consumer_drain import deliver
from streams.lockout import rules as lockout
from streams.outputs import TriggerKind
from streams.reminders import rules as reminders
from streams.timers.wheel import Timer, TimerWheel
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
class _Consumed:
    partition: int
    offset: int


def test_partition_groups_keep_arrival_order() -> None:
    arrivals = [(2, 10), (0, 5), (2, 11), (1, 7), (0, 6), (2, 12)]
    records = [_Consumed(p, o) for p, o in arrivals]
    groups = by_partition(records)  # type: ignore[arg-type]  # stand-ins for consumed records
    assert [[(r.partition, r.offset) for r in g] for g in groups] == [
        [(2, 10), (2, 11), (2, 12)],
        [(0, 5), (0, 6)],
        [(1, 7)],
    ]


class _Store:
    """A table store: rows by key in partition 0's database, read as a store's database is
    (coded keys and rows); counts reads."""

    def __init__(self, rows: dict[str, Any]):
        self.rows = rows
        self.reads = 0

    def _db_for_partition(self, partition: int) -> _Store:
        assert partition == 0
        return self

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        row = self.rows.get(table_codec.decode(key))
        return None if row is None else table_codec.encode(row)


@dataclass
class _Table:
    data: _Store


class _Writer:
    """Encodes rows the way a store does (JSON)."""

    def encode(self, key: str, row: Any) -> tuple[bytes, bytes | None]:
        return key.encode(), None if row is None else json.dumps(row).encode()


def _write_back(rows: dict[str, Any]) -> tuple[WriteBack, _Store]:
    """A batch's view of a table, made as the agents make it: inside a partition's event."""
    store = _Store(rows)
    with in_partition_of(_Consumed(0, 0)):  # type: ignore[arg-type]  # a stand-in
        return WriteBack(_Table(store), _Writer()), store  # type: ignore[arg-type]


def test_a_write_back_is_made_inside_a_partition() -> None:
    with pytest.raises(RuntimeError, match="in_partition_of"):
        WriteBack(_Table(_Store({})), _Writer())  # type: ignore[arg-type]


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
    assert store.rows == {"a": {"n": 1}, "b": {"n": 2}}  # the journal writes, not the batch


def test_changes_are_handed_over_once() -> None:
    table, _ = _write_back({})
    table["a"] = {"n": 1}
    assert table.changes() == [(b"a", b'{"n": 1}')]
    assert table.changes() == []
    table["a"] = {"n": 2}
    assert table.changes() == [(b"a", b'{"n": 2}')]


def test_peeked_rows_are_read_each_time_and_not_kept() -> None:
    table, store = _write_back({"a": {"n": 1}})
    assert table.peek("a") == {"n": 1}
    assert table.peek("a") == {"n": 1}
    assert table.peek("missing", "none") == "none"
    assert store.reads == 3  # nothing kept: a scan of many rows leaves the batch small
    assert table.changes() == []


def test_peek_sees_the_batch_changes() -> None:
    table, store = _write_back({"a": {"n": 1}, "b": {"n": 2}})
    table["a"] = {"n": 5}
    table.pop("b")
    assert table.peek("a") == {"n": 5}
    assert table.peek("b", "gone") == "gone"
    assert store.reads == 2  # the two loads; the peeks read the batch


def test_a_tick_across_empty_minutes_keeps_only_the_rows_it_changes() -> None:
    """A tick after a long pause walks every minute since the last one (a day here); the
    empty ones are peeked at, not kept in the batch (they would be, by tens of thousands)."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    timers: dict[str, Any] = {}
    buckets: dict[str, Any] = {}
    for n, minutes in enumerate((0, 700, 1_440)):
        due = start + timedelta(minutes=minutes)
        TimerWheel(timers, buckets).schedule(
            Timer(TriggerKind.AUTOMATIC_INVITE, f"C-{n}", "F", due), 0
        )
    timer_rows, _ = _write_back(timers)
    bucket_rows, store = _write_back(buckets)
    wheel = TimerWheel(timer_rows, bucket_rows)
    fired = []
    while timer := wheel.pop_next(start + timedelta(days=1), 0):
        fired.append(timer.subject_id)
    assert fired == ["C-0", "C-1", "C-2"]
    assert store.reads > 1_440  # every minute was looked at
    assert len(bucket_rows._rows) < 20  # the cursor, floor and the three minutes' rows


def test_timers_scheduled_into_a_minute_read_its_index_once_per_batch() -> None:
    due = datetime(2026, 4, 8, 9, tzinfo=UTC)
    timers: dict[str, Any] = {}
    buckets: dict[str, Any] = {}
    reminder = TriggerKind.VOUCHER_REMINDER
    TimerWheel(timers, buckets).schedule(Timer(reminder, "R-x", "F", due, "d"), 0)
    timer_rows, _ = _write_back(timers)
    bucket_rows, store = _write_back(buckets)
    wheel = TimerWheel(timer_rows, bucket_rows)
    for n in range(1_000):  # a minute an earlier batch opened, two chunks' worth of timers
        wheel.schedule(Timer(reminder, f"R-{n}", "F", due, "d"), 0)
    assert store.reads < 10  # the head, cursor, floor and chunks: each once, not per timer


class _RacingConsumer:
    """The slice of faust's consumer `deliver` uses: `wait_first` races like mode's (tasks,
    first one done wins, the others cancelled)."""

    def __init__(self) -> None:
        self.suspend_flow = asyncio.Event()
        self.races = 0

    async def wait_first(self, *coros: Any) -> None:
        self.races += 1
        tasks = [asyncio.ensure_future(coro) for coro in coros]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()


def test_a_delivery_that_never_waits_is_not_raced() -> None:
    async def scenario() -> tuple[list[str], int]:
        consumer, delivered = _RacingConsumer(), []

        async def callback(message: str) -> None:
            delivered.append(message)

        for message in ("a", "b"):
            await deliver(consumer, callback, message)
        return delivered, consumer.races

    assert asyncio.run(scenario()) == (["a", "b"], 0)


def test_a_delivery_that_waits_finishes_in_the_race() -> None:
    async def scenario() -> tuple[list[str], int]:
        consumer, delivered = _RacingConsumer(), []
        room = asyncio.get_running_loop().create_future()

        async def callback(message: str) -> None:
            await asyncio.sleep(0)
            delivered.append(await room)

        asyncio.get_running_loop().call_later(0.01, room.set_result, "after waiting")
        await deliver(consumer, callback, "a")
        return delivered, consumer.races

    assert asyncio.run(scenario()) == (["after waiting"], 1)


def test_a_waiting_delivery_is_abandoned_when_the_flow_is_suspended() -> None:
    async def scenario() -> tuple[list[str], int]:
        consumer, outcome = _RacingConsumer(), []

        async def callback(message: str) -> None:
            try:
                await asyncio.get_running_loop().create_future()  # never done
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        asyncio.get_running_loop().call_later(0.01, consumer.suspend_flow.set)
        await deliver(consumer, callback, "a")
        await asyncio.sleep(0)  # the cancelled delivery unwinds
        return outcome, consumer.races

    assert asyncio.run(scenario()) == (["cancelled"], 1)


def test_an_error_in_a_delivery_reaches_the_consumer_loop() -> None:
    async def callback(message: str) -> None:
        raise ValueError(message)

    async def scenario() -> None:
        await deliver(_RacingConsumer(), callback, "bad record")

    with pytest.raises(ValueError, match="bad record"):
        asyncio.run(scenario())
