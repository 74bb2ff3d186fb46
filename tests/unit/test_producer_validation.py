"""The producer refuses bad records before anything is queued: no key, clear PII, not Avro.

No broker: the producer points at an unreachable address, so a record that got past validation
would sit in the local queue, where `len(producer)` and `stats.sent` would show it.
"""

from __future__ import annotations

import dataclasses
import string
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from hypothesis import given
from hypothesis import strategies as st

from ctrack.settings import KafkaSettings
from producers.errors import DeliveryError, MissingKeyError
from producers.event_producer import EventProducer
from schemas import tracking
from schemas.catalogue import CLIENT_EVENT, TRACKING_EVENT
from schemas.codec import AvroCodec
from schemas.errors import SerializationError
from schemas.pii import ClearPiiError, assert_no_clear_pii
from tests.factories import tracking_event

UNREACHABLE = KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unit")
QUIET = {"log_level": 0}  # librdkafka would log every refused connection
T = tracking.TrackingEventType


@pytest.fixture(scope="module")
def producer() -> Iterator[EventProducer]:
    """One producer for the module; a record wrongly queued would also fail its final flush."""
    with EventProducer(
        UNREACHABLE, AvroCodec(), overrides={**QUIET, "message.timeout.ms": 500}
    ) as producer:
        yield producer


def assert_nothing_queued(producer: EventProducer) -> None:
    assert len(producer) == 0
    assert producer.stats.sent == 0


def valid_tracking_record() -> dict[str, Any]:
    return tracking.to_record(tracking_event(T.DOCUMENT_DOWNLOADED, detail="2025 Form 1040.pdf"))


def valid_client_record() -> dict[str, Any]:
    """A ClientEvent with every string field filled with something harmless."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "INVITE_SENT",
        "occurred_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "firm_id": "F-1",
        "client_id": "C-1",
        "actor": "FIRM_USER",
        "firm_user": "preparer-17",
        "email_hash": "9f" * 32,
        "email_masked": "j***@e***.com",
        "phone_hash": "3a" * 32,
        "phone_masked": "***-***-1234",
        "request_id": "Q-7",
        "invite_trigger": "MANUAL",
        "link_id": "L-1",
        "superseded_by": "L-0",
        "failure_reason": "WRONG_CODE",
        "message_id": "M-1",
    }


TRACKING_STRING_FIELDS = ["firm_id", "return_id", "client_id", "firm_user", "detail"]
CLIENT_STRING_FIELDS = [
    name for name, value in valid_client_record().items() if isinstance(value, str)
]


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


SSNS = st.one_of(st.builds("{}-{}-{}".format, digits(3), digits(2), digits(4)), digits(9))
PHONES = st.builds(
    lambda layout, a, b, c: layout.format(a, b, c),
    # Written as phone numbers: bare digit runs are allowed in identifiers (`*_id`, hashes).
    st.sampled_from(["({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "+1 {} {} {}", "+1{}{}{}"]),
    digits(3),
    digits(3),
    digits(4),
)
EMAILS = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True),
    st.sampled_from(["com", "org", "net", "us", "io", "co.uk"]),
)
WORDS = st.text(string.ascii_letters + " ", max_size=20)
# Personal data alone or inside a sentence, e.g. "call (555) 123-4567 after five".
CLEAR_PII = st.builds(
    lambda before, pii, after: f"{before} {pii} {after}".strip(),
    WORDS,
    st.one_of(SSNS, PHONES, EMAILS),
    WORDS,
)


def test_a_valid_record_is_queued_and_its_failed_delivery_carries_the_kafka_code() -> None:
    """The control for every test below: what passes validation does reach the queue."""
    with (
        pytest.raises(DeliveryError) as raised,  # raised by leaving the producer's context
        EventProducer(
            UNREACHABLE, AvroCodec(), overrides={**QUIET, "message.timeout.ms": 200}
        ) as producer,
    ):
        producer.send_record(TRACKING_EVENT, "R-1", valid_tracking_record())
        assert (len(producer), producer.stats.sent) == (1, 1)
    assert raised.value.code == "_MSG_TIMED_OUT"
    assert not raised.value.fatal
    assert (producer.stats.delivered, producer.stats.failed) == (0, 1)


@pytest.mark.parametrize("key", ["", b""], ids=["empty str", "empty bytes"])
def test_a_record_without_key_is_refused(producer: EventProducer, key: str | bytes) -> None:
    with pytest.raises(MissingKeyError):
        producer.send("unit.tracking", key, TRACKING_EVENT, valid_tracking_record())
    with pytest.raises(MissingKeyError):
        producer.send_tracking(
            dataclasses.replace(tracking_event(T.TAX_RETURN_ACCESSED), return_id="")
        )
    assert_nothing_queued(producer)


@pytest.mark.parametrize(
    "change",
    [
        {"return_id": None},
        {"kba_round": "three"},
        {"event_type": "RETURN_EATEN_BY_DOG"},
        {"occurred_at": "yesterday"},
    ],
    ids=["null required string", "string for int", "unknown symbol", "not a timestamp"],
)
def test_a_record_that_does_not_fit_its_schema_is_refused(
    producer: EventProducer, change: dict[str, Any]
) -> None:
    with pytest.raises(SerializationError):
        producer.send_record(TRACKING_EVENT, "R-1", valid_tracking_record() | change)
    assert_nothing_queued(producer)


def test_a_record_missing_a_field_or_of_an_unknown_schema_is_refused(
    producer: EventProducer,
) -> None:
    record = valid_tracking_record()
    del record["firm_id"]
    with pytest.raises(SerializationError):
        producer.send_record(TRACKING_EVENT, "R-1", record)
    with pytest.raises(SerializationError):
        producer.send_record("ctrack.nothing.Here", "R-1", valid_tracking_record())
    assert_nothing_queued(producer)


@given(field=st.sampled_from(TRACKING_STRING_FIELDS), text=CLEAR_PII)
def test_clear_pii_in_any_string_of_a_tracking_event_is_refused(
    producer: EventProducer, field: str, text: str
) -> None:
    event = dataclasses.replace(tracking_event(T.FILES_UPLOADED), **{field: text})
    with pytest.raises(ClearPiiError) as raised:
        producer.send_tracking(event)
    assert f"{TRACKING_EVENT}.{field} " in str(raised.value)
    assert text not in str(raised.value)  # the error names the field, never the value
    assert_nothing_queued(producer)


@given(field=st.sampled_from(CLIENT_STRING_FIELDS), text=CLEAR_PII)
def test_clear_pii_in_any_string_of_a_client_event_is_refused(
    producer: EventProducer, field: str, text: str
) -> None:
    record = valid_client_record() | {field: text}
    with pytest.raises(ClearPiiError) as raised:
        producer.send_record(CLIENT_EVENT, "C-1", record)
    assert f"{CLIENT_EVENT}.{field} " in str(raised.value)
    assert_nothing_queued(producer)


def test_a_string_seen_clean_before_does_not_hide_pii_next_to_it(
    producer: EventProducer,
) -> None:
    """The guard remembers clean strings; it never remembers a record as clean."""
    with pytest.raises(SerializationError):  # firm_id scanned and remembered, then refused
        producer.send_record(TRACKING_EVENT, "R-1", valid_tracking_record() | {"kba_round": "x"})
    with pytest.raises(ClearPiiError):
        producer.send_record(
            TRACKING_EVENT, "R-1", valid_tracking_record() | {"client_id": "123-45-6789"}
        )
    assert_nothing_queued(producer)


def guard_refuses(field: str, value: str) -> bool:
    try:
        assert_no_clear_pii({field: value}, TRACKING_EVENT)
    except ClearPiiError:
        return True
    return False


@pytest.mark.parametrize("value", ["5551234567", "+123456789012345", "R-123456789", "0" * 10])
def test_the_producer_agrees_with_the_guard_field_by_field_whatever_came_before(
    producer: EventProducer, value: str
) -> None:
    """Remembering clean strings per field: one allowed in an id is still checked in free text."""
    for field in ("client_id", "detail", "client_id", "detail"):
        record = valid_tracking_record() | {field: value}
        if guard_refuses(field, value):
            with pytest.raises(ClearPiiError, match=field):
                producer.send_record(TRACKING_EVENT, "R-1", record | {"kba_round": "x"})
        else:  # let it pass the guard, then stop it at encoding so nothing is queued
            with pytest.raises(SerializationError) as raised:
                producer.send_record(TRACKING_EVENT, "R-1", record | {"kba_round": "x"})
            assert not isinstance(raised.value, ClearPiiError)
    assert_nothing_queued(producer)


@given(st.uuids(), st.booleans())
def test_canonical_uuids_hold_nothing_the_guard_looks_for(value: uuid.UUID, upper: bool) -> None:
    """Backs the producer's shortcut of not scanning canonical UUIDs, in ids and free text."""
    text = str(value).upper() if upper else str(value)
    assert_no_clear_pii({"event_id": text, "detail": text}, TRACKING_EVENT)


def test_a_uuid_field_holding_pii_instead_of_a_uuid_is_refused(producer: EventProducer) -> None:
    with pytest.raises(ClearPiiError, match="event_id"):
        producer.send_record(
            TRACKING_EVENT, "R-1", valid_tracking_record() | {"event_id": "123-45-6789"}
        )
    assert_nothing_queued(producer)


class FatalOnPoll:
    """Stands in for librdkafka after idempotence broke: poll raises the fatal error."""

    def produce(self, *_args: object) -> None:
        pass

    def poll(self, _timeout: float) -> int:
        gap = KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence gap", fatal=True)
        raise KafkaException(gap)

    def flush(self, _timeout: float) -> int:
        return 0


def test_a_fatal_error_surfaces_and_stops_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = EventProducer(UNREACHABLE, AvroCodec(), overrides=QUIET)
    monkeypatch.setattr(producer, "_producer", FatalOnPoll())
    with pytest.raises(DeliveryError) as raised:
        producer.send_record(TRACKING_EVENT, "R-1", valid_tracking_record())
    assert raised.value.fatal and not raised.value.retriable
    assert raised.value.code == "OUT_OF_ORDER_SEQUENCE_NUMBER"
    for call in (
        lambda: producer.send_record(TRACKING_EVENT, "R-2", valid_tracking_record()),
        producer.flush,
    ):
        with pytest.raises(DeliveryError, match="fatal") as again:
            call()
        assert again.value.code == "OUT_OF_ORDER_SEQUENCE_NUMBER"
