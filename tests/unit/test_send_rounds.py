"""The worker's send bookkeeping (which records a barrier waits for, offsets, refusals) and its
producer settings."""

from __future__ import annotations

from confluent_kafka import KafkaError, Message

from ctrack.settings import KafkaSettings
from producers.event_producer import PRODUCER_DEFAULTS
from schemas.catalogue import JOURNAL_MAX_BYTES
from streams.sends import Round, Rounds, worker_producer_config


def sent(rounds: Rounds, n: int) -> Round:
    """`n` records queued in the current round (as `Sends.send` counts them)."""
    rounds.current.sent += n
    return rounds.current


def report(
    round_: Round, topic: str, partition: int, offset: int, error: int | None = None
) -> None:
    """One delivery report, as librdkafka hands it to the record's callback."""
    message = Message(topic=topic, partition=partition, offset=offset)
    round_.settle(None if error is None else KafkaError(error), message)


def test_a_barrier_waits_for_its_round_and_every_round_closed_before() -> None:
    rounds = Rounds()
    first = sent(rounds, 2)
    assert rounds.close() == [first]
    second = sent(rounds, 1)
    waiting = rounds.close()
    assert waiting == [first, second]
    report(second, "t", 0, 7)
    assert second.done and not all(r.done for r in waiting)  # the first one still counts
    report(first, "t", 1, 3)
    report(first, "t", 1, 4)
    assert all(r.done for r in waiting)


def test_settled_rounds_are_dropped_and_an_empty_round_stays_open() -> None:
    rounds = Rounds()
    first = sent(rounds, 1)
    rounds.close()
    report(first, "t", 0, 0)
    current = rounds.current
    assert rounds.close() == [first]  # nothing new sent: the same round stays open
    assert rounds.current is current
    second = sent(rounds, 1)
    assert rounds.close() == [second]  # the settled first round is gone


def test_records_sent_after_a_barrier_started_are_not_waited_for() -> None:
    rounds = Rounds()
    before = sent(rounds, 1)
    waiting = rounds.close()
    sent(rounds, 5)  # another agent goes on sending while the barrier waits
    report(before, "t", 0, 0)
    assert all(r.done for r in waiting)


def test_acknowledged_offsets_are_the_latest_per_topic_and_partition() -> None:
    rounds = Rounds()
    round_ = sent(rounds, 4)
    for partition, offset in [(0, 10), (1, 3), (0, 11), (1, 4)]:
        report(round_, "changelog", partition, offset)
    assert rounds.acked == {("changelog", 0): 11, ("changelog", 1): 4}


def test_a_refused_record_settles_its_round_and_is_remembered() -> None:
    rounds = Rounds()
    round_ = sent(rounds, 2)
    report(round_, "out", 2, -1, error=KafkaError.MSG_SIZE_TOO_LARGE)
    report(round_, "out", 2, 5)
    assert round_.done
    assert rounds.refused == ["out[2]: Broker: Message size too large"]
    assert rounds.acked == {("out", 2): 5}
    rounds.close()
    assert rounds.refused  # kept: the worker must restart, not commit past it


def test_the_worker_producer_takes_the_project_defaults_with_a_short_linger() -> None:
    config = worker_producer_config(KafkaSettings(bootstrap_servers="broker:9092"), 0.005)
    assert config["bootstrap.servers"] == "broker:9092"
    for name in ("enable.idempotence", "acks", "partitioner", "compression.type"):
        assert config[name] == PRODUCER_DEFAULTS[name]  # same partitions as faust and Java
    assert config["linger.ms"] == 5.0
    assert config["delivery.report.only.error"] is False  # each report settles its round
    assert config["message.max.bytes"] == JOURNAL_MAX_BYTES
