"""The timer wheel: due timers fire once, moves and cancels are honoured, cost is O(due)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.outputs import TriggerKind
from streams.timers.wheel import CHUNK_KEYS, Timer, TimerWheel

K = TriggerKind
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class CountingDict(dict[str, Any]):
    """A dict that counts reads, to show a tick touches only what is due."""

    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        CountingDict.reads += 1
        return super().get(key, default)


def wheel() -> tuple[TimerWheel, dict[str, Any], dict[str, Any]]:
    timers: dict[str, Any] = {}
    buckets: dict[str, Any] = {}
    return TimerWheel(timers, buckets), timers, buckets


def timer(minutes: float, subject: str = "C-1", kind: K = K.LINK_EXPIRY, detail: str = "") -> Timer:
    return Timer(kind, subject, "F-1", T0 + timedelta(minutes=minutes), detail)


def test_a_timer_fires_once_when_due() -> None:
    w, timers, _ = wheel()
    w.pop_due(T0, 0)
    w.schedule(timer(5), 0)
    assert w.pop_due(T0 + timedelta(minutes=4), 0) == []
    assert w.pop_due(T0 + timedelta(minutes=5), 0) == [timer(5)]
    assert w.pop_due(T0 + timedelta(minutes=50), 0) == []
    assert timers == {}


def test_timers_scheduled_before_the_first_tick_fire() -> None:
    w, _, _ = wheel()
    w.schedule(timer(5), 0)
    w.schedule(timer(-30, subject="C-0"), 0)
    assert [t.subject_id for t in w.pop_due(T0 + timedelta(days=2), 0)] == ["C-0", "C-1"]


def test_rescheduling_moves_and_cancel_forgets() -> None:
    w, _, _ = wheel()
    w.pop_due(T0, 0)
    w.schedule(timer(5), 0)
    w.schedule(timer(30), 0)  # same identity: moved
    w.schedule(timer(6, subject="C-2"), 0)
    w.cancel(K.LINK_EXPIRY, "C-2", 0)
    assert w.pop_due(T0 + timedelta(minutes=10), 0) == []
    assert w.pop_due(T0 + timedelta(minutes=30), 0) == [timer(30)]


def test_overdue_timers_fire_on_the_next_tick() -> None:
    w, _, _ = wheel()
    w.pop_due(T0, 0)
    w.schedule(timer(-60 * 24), 0)  # due yesterday: scheduled late (e.g. replay)
    assert w.pop_due(T0 + timedelta(seconds=1), 0) == [timer(-60 * 24)]


def test_partitions_are_independent() -> None:
    w, _, _ = wheel()
    for partition in (0, 1):
        w.pop_due(T0, partition)
        w.schedule(timer(1, subject=f"C-{partition}"), partition)
    assert w.pop_due(T0 + timedelta(minutes=2), 1) == [timer(1, subject="C-1")]
    assert w.pop_due(T0 + timedelta(minutes=2), 0) == [timer(1, subject="C-0")]


def test_idempotency_key_names_item_and_due_time() -> None:
    assert timer(5, detail="L1").idempotency_key != timer(6, detail="L1").idempotency_key
    assert timer(5, detail="L1").trigger_id == timer(5, detail="L1").trigger_id
    assert Timer.from_row(timer(5).to_row()) == timer(5)


def test_a_tick_reads_only_due_buckets_not_all_pending_timers() -> None:
    timers, buckets = CountingDict(), CountingDict()
    w = TimerWheel(timers, buckets)
    w.pop_due(T0, 0)
    for day in range(1, 2001):  # 2000 timers, far in the future
        w.schedule(timer(60 * 24 * day, subject=f"C-{day}"), 0)
    w.schedule(timer(1, subject="soon"), 0)
    CountingDict.reads = 0
    assert [t.subject_id for t in w.pop_due(T0 + timedelta(minutes=1), 0)] == ["soon"]
    assert CountingDict.reads < 10


def test_a_tick_after_a_long_pause_reads_each_empty_minute_once() -> None:
    timers, buckets = CountingDict(), CountingDict()
    w = TimerWheel(timers, buckets)
    w.pop_due(T0, 0)
    w.schedule(timer(10_000, subject="a week later"), 0)
    CountingDict.reads = 0
    fired = w.pop_next(T0 + timedelta(minutes=10_000), 0)
    assert fired is not None and fired.subject_id == "a week later"
    assert CountingDict.reads < 10_000 + 20  # one lookup per minute walked, plus the due one's


@given(
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 20)), max_size=80),
    st.lists(st.integers(1, 120), min_size=1, max_size=20),
)
def test_every_timer_fires_exactly_once_at_or_after_its_due_time(
    schedule: list[tuple[int, int]], ticks: list[int]
) -> None:
    w, _, _ = wheel()
    expected = {}
    for minutes, subject in schedule:
        t = timer(minutes, subject=f"C-{subject}")
        w.schedule(t, 0)
        expected[t.key] = t  # last schedule of an identity wins
    now, fired = T0, []
    for step in ticks:
        now += timedelta(minutes=step)
        for t in w.pop_due(now, 0):
            assert t.due_at <= now
            fired.append(t)
    fired += w.pop_due(T0 + timedelta(days=2), 0)
    assert sorted(t.key for t in fired) == sorted(expected)
    assert {t.key: t for t in fired} == expected


def test_one_at_a_time_a_moved_timer_waits_and_a_newly_due_one_fires_in_its_turn() -> None:
    w, _, _ = wheel()
    w.pop_due(T0, 0)
    w.schedule(timer(1, subject="A"), 0)
    w.schedule(timer(5, subject="B"), 0)
    w.schedule(timer(8, subject="D"), 0)
    now = T0 + timedelta(minutes=10)
    first = w.pop_next(now, 0)
    assert first is not None and first.subject_id == "A"
    w.schedule(timer(100, subject="B"), 0)  # what firing A did: B moved past now
    w.schedule(timer(3, subject="C"), 0)  # and C due before D
    assert [t.subject_id for t in iter(lambda: w.pop_next(now, 0), None)] == ["C", "D"]
    assert [t.subject_id for t in w.pop_due(T0 + timedelta(minutes=100), 0)] == ["B"]


@given(
    st.lists(st.tuples(st.integers(-30, 500), st.integers(0, 40), st.booleans()), max_size=80),
    st.lists(st.tuples(st.integers(0, 40), st.integers(-60, 400)), max_size=30),
)
def test_popping_one_at_a_time_fires_in_due_order_and_honours_moves_made_meanwhile(
    schedule: list[tuple[int, int, bool]], moves: list[tuple[int, int]]
) -> None:
    """Against a plain model: after each pop, a move (reschedule) of some subject; the wheel
    always hands out the pending timer with the earliest due time that is due."""
    w, _, _ = wheel()
    w.pop_due(T0 - timedelta(hours=2), 0)
    pending: dict[str, Timer] = {}
    for minutes, subject, shared_minute in schedule:
        t = timer(0 if shared_minute else minutes, subject=f"C-{subject}")  # many in one bucket
        w.schedule(t, 0)
        pending[t.key] = t
    now = T0 + timedelta(minutes=300)
    moves_left = list(moves)
    while (popped := w.pop_next(now, 0)) is not None:
        due_now = [t for t in pending.values() if t.due_at <= now]
        assert popped == min(due_now, key=lambda t: (t.due_at, t.key))
        del pending[popped.key]
        if moves_left:
            subject, minutes = moves_left.pop()
            moved = timer(minutes, subject=f"C-{subject}")
            w.schedule(moved, 0)
            pending[moved.key] = moved
    assert all(t.due_at > now for t in pending.values())


def test_a_crowded_minute_is_indexed_in_small_rows_and_still_fires_every_timer_once() -> None:
    """The voucher reminders of one due date share a minute: thousands of keys in one bucket."""
    w, timers, buckets = wheel()
    w.pop_due(T0, 0)
    crowd = [timer(30, subject=f"C-{n:05}") for n in range(CHUNK_KEYS * 3 + 7)]
    for t in crowd:
        w.schedule(t, 0)
    index_rows = [row for row in buckets.values() if isinstance(row, list)]
    assert len(index_rows) == 4 and max(map(len, index_rows)) == CHUNK_KEYS
    w.cancel(K.LINK_EXPIRY, "C-00003", 0)  # leaves its chunk, the others untouched
    w.schedule(timer(90, subject="C-00004"), 0)  # moves out of the minute
    fired = w.pop_due(T0 + timedelta(minutes=30), 0)
    assert [t.subject_id for t in fired] == sorted(
        t.subject_id for t in crowd if t.subject_id not in {"C-00003", "C-00004"}
    )
    assert set(timers) == {timer(90, subject="C-00004").key}
    assert w.pop_due(T0 + timedelta(minutes=90), 0) == [timer(90, subject="C-00004")]
    assert timers == {} and set(buckets) == {"0:cursor"}


def test_a_bucket_indexed_before_chunks_is_read_and_changed_as_chunk_zero() -> None:
    """Tables written before chunks hold one list per bucket and timer rows without a chunk."""
    w, timers, buckets = wheel()
    w.pop_due(T0, 0)
    old = [timer(5, subject=f"C-{n}") for n in range(3)]
    for t in old:
        w.schedule(t, 0)
    for key in timers:
        del timers[key]["chunk"]
    bucket = timers[old[0].key]["bucket"]
    buckets[f"0:{bucket}"] = [t.key for t in old]
    buckets.pop(f"0:{bucket}/0")
    w.cancel(K.LINK_EXPIRY, "C-1", 0)
    w.schedule(timer(5, subject="C-9"), 0)
    fired = w.pop_due(T0 + timedelta(minutes=5), 0)
    assert [t.subject_id for t in fired] == ["C-0", "C-2", "C-9"]
    assert timers == {}


@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 900)), max_size=120),
    st.integers(1, 7),
)
def test_a_fresh_wheel_per_batch_pops_in_due_order_like_one_wheel(
    schedule: list[tuple[int, int]], per_batch: int
) -> None:
    """The worker makes a wheel per batch over the same tables: a drain split over batches
    (continuation ticks) hands out the same timers in the same order as one wheel."""
    timers: dict[str, Any] = {}
    buckets: dict[str, Any] = {}
    TimerWheel(timers, buckets).pop_due(T0, 0)
    expected: dict[str, Timer] = {}
    for minutes, subject in schedule:
        t = timer(minutes // 30, subject=f"C-{subject}")  # few minutes: crowded buckets
        TimerWheel(timers, buckets).schedule(t, 0)
        expected[t.key] = t
    now, fired = T0 + timedelta(minutes=5), []
    while True:
        batch = TimerWheel(timers, buckets)
        popped = [t for _ in range(per_batch) if (t := batch.pop_next(now, 0)) is not None]
        fired += popped
        if len(popped) < per_batch:
            break
    assert fired == sorted(expected.values(), key=lambda t: (t.due_at, t.key))
    assert timers == {} and set(buckets) == {"0:cursor"}
