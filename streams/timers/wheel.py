"""A timer wheel over two key-value stores (faust tables seen through a batch in the worker,
dicts in tests).

Timers live in `timers` (timer key -> row) and are indexed by `buckets`: a minute's bucket
("<partition>:<minute>" -> number of chunks) lists its timer keys in chunks of at most
`CHUNK_KEYS` ("<partition>:<minute>/<chunk>" -> [timer keys]), and a timer's row names its
bucket and chunk. A minute can hold hundreds of thousands of timers (the voucher reminders of
one due date); chunks keep each row small, so scheduling into that minute rewrites one chunk,
not the minute's whole list (a row the worker's journal would have to carry, per batch, in a
16 MiB record). A per-partition cursor records the last bucket processed. A tick walks the
buckets from the cursor to now and pops the timers that are due, so its cost is the number of
buckets elapsed plus the timers due, never all pending timers.
A timer scheduled at or before the cursor (overdue) lands in the cursor's bucket and fires on
the next tick; before the first tick, the earliest scheduled bucket is where ticking starts.
Timers are plain rows, so they survive restarts and move with their partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from heapq import heapify, heappop, heappush
from typing import Any, Protocol
from uuid import UUID, uuid5

from schemas.tracking import DERIVED_EVENT_NAMESPACE
from streams.outputs import TriggerKind

BUCKET_SECONDS = 60
CHUNK_KEYS = 500  # timer keys per index row


class Rows(Protocol):
    """The slice of a key-value store the wheel uses (dict, faust table, batch write-back)."""

    def get(self, key: str, default: Any, /) -> Any: ...

    def pop(self, key: str, default: Any, /) -> Any: ...

    def __setitem__(self, key: str, value: Any, /) -> None: ...


@dataclass(frozen=True, slots=True)
class Timer:
    """One pending timer."""

    kind: TriggerKind
    subject_id: str
    firm_id: str
    due_at: datetime
    detail: str = ""

    @property
    def key(self) -> str:
        """Identity: scheduling the same key again moves the timer."""
        return timer_key(self.kind, self.subject_id, self.detail)

    @property
    def idempotency_key(self) -> str:
        """Fires at most once per (item, due time)."""
        return f"{self.kind}:{self.subject_id}:{self.detail}:{_millis(self.due_at)}"

    @property
    def trigger_id(self) -> UUID:
        return uuid5(DERIVED_EVENT_NAMESPACE, f"trigger:{self.idempotency_key}")

    def to_row(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "subject_id": self.subject_id,
            "firm_id": self.firm_id,
            "due_at": _millis(self.due_at),
            "detail": self.detail,
        }

    @staticmethod
    def from_row(row: dict[str, Any]) -> Timer:
        return Timer(
            TriggerKind(row["kind"]),
            row["subject_id"],
            row["firm_id"],
            datetime.fromtimestamp(row["due_at"] / 1000, UTC),
            row["detail"],
        )


def timer_key(kind: TriggerKind, subject_id: str, detail: str = "") -> str:
    return f"{kind}|{subject_id}|{detail}"


def bucket_of(when: datetime) -> int:
    return int(when.timestamp()) // BUCKET_SECONDS


class TimerWheel:
    """Schedule, cancel and pop due timers of one partition's stores."""

    def __init__(self, timers: Rows, buckets: Rows, chunk_keys: int = CHUNK_KEYS):
        self._timers = timers
        # scans read rows without keeping them where the store can (a batch's write-back)
        self._peek_timer = getattr(timers, "peek", timers.get)
        self._buckets = buckets
        self._peek_bucket = getattr(buckets, "peek", buckets.get)
        self._chunk_keys = chunk_keys
        # `pop_next`'s due timers of the buckets it is draining, as heaps of (due ms, key), for
        # one `now` (kept in memory only: rebuilt from the rows whenever they are missing)
        self._draining: dict[tuple[int, int], list[tuple[int, str]]] = {}
        self._draining_now: int | None = None

    def schedule(self, timer: Timer, partition: int) -> None:
        """Add or move a timer (same kind, subject and detail)."""
        self._unindex(timer.key, partition)
        cursor = self._cursor(partition)
        bucket = bucket_of(timer.due_at) if cursor is None else max(bucket_of(timer.due_at), cursor)
        floor = self._buckets.get(_floor_key(partition), None)
        if cursor is None and (floor is None or bucket < floor):
            self._buckets[_floor_key(partition)] = bucket  # first tick starts here
        chunks = self._chunk_count(partition, bucket)
        chunk = max(chunks - 1, 0)
        keys = self._buckets.get(_chunk_key(partition, bucket, chunk), None) or []
        if len(keys) >= self._chunk_keys:
            chunk, keys = chunks, []
        self._buckets[_chunk_key(partition, bucket, chunk)] = [*keys, timer.key]
        if chunk >= chunks:
            self._buckets[_bucket_key(partition, bucket)] = chunk + 1
        self._timers[timer.key] = {**timer.to_row(), "bucket": bucket, "chunk": chunk}
        draining = self._draining.get((partition, bucket))
        now_ms = self._draining_now
        if draining is not None and now_ms is not None and _millis(timer.due_at) <= now_ms:
            heappush(draining, (_millis(timer.due_at), timer.key))  # due: fires in its turn

    def cancel(self, kind: TriggerKind, subject_id: str, partition: int, detail: str = "") -> None:
        key = timer_key(kind, subject_id, detail)
        self._unindex(key, partition)
        self._timers.pop(key, None)

    def pop_due(self, now: datetime, partition: int) -> list[Timer]:
        """Remove and return every timer of `partition` due at `now`, oldest first."""
        end = bucket_of(now)
        start = self._cursor(partition)
        if start is None:
            floor = self._buckets.pop(_floor_key(partition), None)
            start = end if floor is None else min(int(floor), end)
        due: list[Timer] = []
        for bucket in range(start, end + 1):
            due.extend(self._pop_bucket(partition, bucket, now))
        self._buckets[_cursor_key(partition)] = end
        return sorted(due, key=lambda t: (t.due_at, t.key))

    def pop_next(self, now: datetime, partition: int) -> Timer | None:
        """Remove and return the oldest timer of `partition` due at `now`, if any. Popping one
        at a time and acting on it before the next is what makes a tick's outcome independent
        of how many timers it fires: a timer that an earlier one moved or cancelled is not
        fired, one that an earlier one scheduled at or before `now` fires in its turn. Each
        bucket's due timers are read once into a heap, so draining a bucket of k timers costs
        O(k log k), however many share its minute (voucher reminders of one due date)."""
        now_ms = _millis(now)
        if now_ms != self._draining_now:
            self._draining, self._draining_now = {}, now_ms
        end = bucket_of(now)
        start = self._cursor(partition)
        if start is None:
            floor = self._buckets.pop(_floor_key(partition), None)
            start = end if floor is None else min(int(floor), end)
        for bucket in range(start, end + 1):
            draining = self._draining.get((partition, bucket))
            if draining is None:
                if not self._chunk_count(partition, bucket, peek=True):
                    continue  # an empty minute, as most of a long pause's are: one read, not three
                draining = self._draining[(partition, bucket)] = self._due_heap(
                    partition, bucket, now_ms
                )
            while draining:
                due_ms, key = heappop(draining)
                row = self._timers.get(key, None)
                if row is None or row["bucket"] != bucket or row["due_at"] != due_ms:
                    continue  # moved or cancelled since it was read
                self._timers.pop(key, None)
                self._buckets[_cursor_key(partition)] = bucket
                return Timer.from_row(row)
            self._keep_waiting(partition, bucket)
            del self._draining[(partition, bucket)]
        self._buckets[_cursor_key(partition)] = end
        return None

    def _due_heap(self, partition: int, bucket: int, now_ms: int) -> list[tuple[int, str]]:
        """The bucket's timers due at `now_ms`, as a heap of (due ms, key)."""
        heap = []
        for _, keys in self._chunks(partition, bucket):
            for key in keys:
                row = self._peek_timer(key, None)
                if row is not None and row["bucket"] == bucket and row["due_at"] <= now_ms:
                    heap.append((row["due_at"], key))
        heapify(heap)
        return heap

    def _keep_waiting(self, partition: int, bucket: int) -> None:
        """A drained bucket's index keeps only the timers still in it (those not due yet)."""
        kept = False
        for chunk, keys in self._chunks(partition, bucket):
            waiting = [
                k for k in keys if (row := self._peek_timer(k, None)) and row["bucket"] == bucket
            ]
            kept = kept or bool(waiting)
            self._keep_chunk(partition, bucket, chunk, keys, waiting)
        if not kept:
            self._drop_bucket(partition, bucket)

    def _pop_bucket(self, partition: int, bucket: int, now: datetime) -> list[Timer]:
        due: list[Timer] = []
        kept = False
        for chunk, keys in self._chunks(partition, bucket):
            waiting: list[str] = []
            for key in keys:
                row = self._timers.get(key, None)
                if row is None or row["bucket"] != bucket:
                    continue  # cancelled or moved
                timer = Timer.from_row(row)
                if timer.due_at <= now:
                    due.append(timer)
                    self._timers.pop(key, None)
                else:
                    waiting.append(key)
            kept = kept or bool(waiting)
            self._keep_chunk(partition, bucket, chunk, keys, waiting)
        if not kept:
            self._drop_bucket(partition, bucket)
        return due

    def _drop_bucket(self, partition: int, bucket: int) -> None:
        """Remove an emptied bucket's head; most minutes a tick walks have none to remove."""
        head = _bucket_key(partition, bucket)
        if self._peek_bucket(head, None) is not None:
            self._buckets.pop(head, None)

    def _unindex(self, key: str, partition: int) -> None:
        row = self._timers.get(key, None)
        if row is None:
            return
        bucket, chunk = row["bucket"], row.get("chunk", 0)
        self._chunk_count(partition, bucket)  # an unchunked bucket becomes chunk 0 first
        keys = self._buckets.get(_chunk_key(partition, bucket, chunk), None) or []
        self._keep_chunk(partition, bucket, chunk, keys, [k for k in keys if k != key])

    def _chunk_count(self, partition: int, bucket: int, peek: bool = False) -> int:
        """How many chunks the bucket has opened (its chunks are numbered from 0). Scans peek
        (a tick walks every minute since the last one, most of them empty); scheduling reads
        through the batch, which keeps a busy minute's head for its next timer."""
        read = self._peek_bucket if peek else self._buckets.get
        head = read(_bucket_key(partition, bucket), None)
        if isinstance(head, list):  # a bucket indexed before chunks: its keys become chunk 0
            self._buckets[_chunk_key(partition, bucket, 0)] = head
            self._buckets[_bucket_key(partition, bucket)] = 1
            return 1
        return int(head or 0)

    def _chunks(self, partition: int, bucket: int) -> list[tuple[int, list[str]]]:
        """The bucket's chunks that hold keys, in order."""
        chunks = []
        for chunk in range(self._chunk_count(partition, bucket, peek=True)):
            keys = self._peek_bucket(_chunk_key(partition, bucket, chunk), None)
            if keys:
                chunks.append((chunk, keys))
        return chunks

    def _keep_chunk(
        self, partition: int, bucket: int, chunk: int, keys: list[str], kept: list[str]
    ) -> None:
        """Write a chunk's keys back if they changed (an empty chunk is removed)."""
        if kept == keys:
            return
        if kept:
            self._buckets[_chunk_key(partition, bucket, chunk)] = kept
        else:
            self._buckets.pop(_chunk_key(partition, bucket, chunk), None)

    def _cursor(self, partition: int) -> int | None:
        value = self._buckets.get(_cursor_key(partition), None)
        return int(value) if value is not None else None


def _bucket_key(partition: int, bucket: int) -> str:
    return f"{partition}:{bucket}"


def _chunk_key(partition: int, bucket: int, chunk: int) -> str:
    return f"{partition}:{bucket}/{chunk}"


def _cursor_key(partition: int) -> str:
    return f"{partition}:cursor"


def _floor_key(partition: int) -> str:
    """Earliest bucket scheduled before the partition's first tick."""
    return f"{partition}:floor"


def _millis(when: datetime) -> int:
    return int(when.timestamp() * 1000)
