"""Lanes: the batch agents' records from the consumer loop, without faust's conductor.

The consumer here is a stand-in that keeps faust's bookkeeping the lane uses (unacked set, acks,
paused partitions); the records are faust's own `ConsumerMessage`s."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka.structs import TopicPartition
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from streams.lanes import Lane, hand_over, lanes_of

TOPIC = "ctrack.tracking"


def _record(offset: int, partition: int = 0, topic: str = TOPIC, generation: int = 1) -> Any:
    return ConsumerMessage(
        topic, partition, offset, 0.0, 0, [], b"k", b"v", None, 1, 1,
        tp=TopicPartition(topic, partition), generation_id=generation,  # as aiokafka hands it
    )  # fmt: skip


@dataclass
class _Consumer:
    unacked: set[Any] = field(default_factory=set)
    acked: list[int] = field(default_factory=list)
    paused: set[TP] = field(default_factory=set)
    end_offset: int = 0

    def ack(self, record: Any) -> bool:
        if record.acked:
            return False
        record.acked = True
        self.unacked.discard(record)
        self.acked.append(record.offset)
        return True

    def on_buffer_full(self, tp: TP) -> None:
        assert type(tp) is TP  # faust's consumer keeps its active partitions as its own type
        self.paused.add(tp)

    def on_buffer_drop(self, tp: TP) -> None:
        assert type(tp) is TP
        self.paused.discard(tp)

    def highwater(self, tp: TP) -> int:
        return self.end_offset


class _FlowControl:
    active = True

    def is_active(self) -> bool:
        return self.active


class _Sensors:
    def __init__(self) -> None:
        self.inside = 0

    def on_message_in(self, tp: TP, offset: int, record: Any) -> None:
        self.inside += 1

    def on_message_out(self, tp: TP, offset: int, record: Any) -> None:
        self.inside -= 1


class _Topics:
    acking_topics = frozenset({TOPIC, "ctrack.clock"})


class _App:
    def __init__(self) -> None:
        self.consumer = _Consumer()
        self.topics = _Topics()
        self.sensors = _Sensors()
        self.flow_control = _FlowControl()
        self.consumer_generation_id = 1


def _lane(app: _App, max_waiting: int = 100) -> Lane:
    return Lane(app, max_waiting)  # type: ignore[arg-type]  # stand-in app


def _take(lane: Lane, max_records: int = 100) -> list[Any]:
    return asyncio.run(lane.take(max_records, gather_s=0))


def test_records_are_taken_in_order_tracked_until_acked() -> None:
    app = _App()
    lane = _lane(app)
    records = [_record(n) for n in range(5)]
    for record in records:
        lane.put(record)
    assert app.consumer.unacked == set(records)  # a rebalance waits for these
    assert app.sensors.inside == 5
    batch = _take(lane, max_records=3)
    assert [r.offset for r in batch] == [0, 1, 2]
    lane.ack(batch)
    assert app.consumer.acked == [0, 1, 2]
    assert [r.offset for r in _take(lane)] == [3, 4]
    assert app.sensors.inside == 2


def test_a_record_two_agents_read_is_acked_once_both_are_done() -> None:
    app = _App()
    returns, clients = _lane(app), _lane(app)
    returns.open(("ctrack.clock",))
    clients.open(("ctrack.clock",))
    tick = _record(7, topic="ctrack.clock")
    hand_over(tick, lanes_of(app)["ctrack.clock"])  # type: ignore[arg-type]
    [first] = _take(returns)
    returns.ack([first])
    assert app.consumer.acked == []
    [second] = _take(clients)
    clients.ack([second])
    assert first is second is tick
    assert app.consumer.acked == [7]
    clients.close(("ctrack.clock",))
    assert lanes_of(app)["ctrack.clock"] == (returns,)  # type: ignore[arg-type]


def test_a_full_lane_pauses_its_partitions_until_drained_below_half() -> None:
    app = _App()
    lane = _lane(app, max_waiting=10)
    for n in range(12):
        lane.put(_record(n, partition=n % 2))
    # the partitions of the records that filled it stop being fetched: nothing is dropped
    paused = {TP(TOPIC, 0), TP(TOPIC, 1)}
    assert app.consumer.paused == paused
    _take(lane, max_records=4)  # 8 left: not below half
    assert app.consumer.paused == paused
    _take(lane, max_records=4)  # 4 left
    assert app.consumer.paused == set()


def test_records_of_an_old_generation_are_acked_unprocessed() -> None:
    app = _App()
    lane = _lane(app)
    lane.put(_record(0, generation=1))
    lane.put(_record(1, generation=1))
    app.consumer_generation_id = 2  # a rebalance happened meanwhile
    lane.put(_record(1, generation=2))  # fetched again from the committed offset
    [current] = _take(lane)
    assert (current.offset, current.generation_id) == (1, 2)
    assert app.consumer.acked == [0, 1]


def test_records_taken_while_flow_is_suspended_are_acked_unprocessed() -> None:
    app = _App()
    lane = _lane(app)
    lane.put(_record(0))
    app.flow_control.active = False

    async def take_then_resume() -> list[Any]:
        waiting = asyncio.ensure_future(lane.take(100, gather_s=0))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the suspended record was dropped; it waits for the next
        app.flow_control.active = True
        lane.put(_record(0))  # the record again, fetched after the rebalance
        return await waiting

    [again] = asyncio.run(take_then_resume())
    assert again.offset == 0 and not again.acked
    assert app.consumer.acked == [0]


def test_a_lane_behind_gathers_before_taking() -> None:
    app = _App()
    lane = _lane(app)
    app.consumer.end_offset = 1_000  # far behind the end of the partition

    async def put_while_gathering() -> list[Any]:
        lane.put(_record(0))
        taking = asyncio.ensure_future(lane.take(100, gather_s=0.05))
        await asyncio.sleep(0.01)
        lane.put(_record(1))  # arrives during the gather
        return await taking

    assert [r.offset for r in asyncio.run(put_while_gathering())] == [0, 1]
