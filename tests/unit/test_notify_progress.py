"""Commit points, waiting notifications and the contacts view of the dispatcher, pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.dead_letter import Rejected
from services.credentials import Contact, ContactSealer
from services.notifications.contacts import ContactBook, SealedContact, sealed_contact
from services.notifications.errors import ContactUnavailable
from services.notifications.offsets import OffsetTracker
from services.notifications.requests import Notification
from services.notifications.waiting import Waiting, WaitingRoom, expired
from services.webhooks.records import Channel, MessageKind

MASTER = b"unit-test-master-key-0123456789abcdef"


def test_commits_stop_before_the_first_open_record() -> None:
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.read(0, offset)
    tracker.read(1, 7)
    for offset in (0, 1, 3, 4):
        tracker.settle(0, offset)
    assert tracker.commit_points() == {0: 2, 1: 7}
    tracker.committed({0: 2, 1: 7})
    assert tracker.commit_points() == {}  # nothing moved
    tracker.settle(0, 2)
    tracker.settle(1, 7)
    assert tracker.commit_points() == {0: 5, 1: 8}
    assert tracker.open_count() == 0


def test_forgotten_partitions_are_not_committed() -> None:
    tracker = OffsetTracker()
    tracker.read(2, 10)
    tracker.forget([2])
    assert tracker.commit_points() == {}


def waiting(partition: int, offset: int, deadline: float) -> Waiting:
    notification = Notification(
        f"00000000-0000-4000-8000-{offset:012d}",
        datetime(2026, 3, 2, tzinfo=UTC),
        Channel.EMAIL,
        MessageKind.LOGIN_LINK,
        "F-1",
        client_id="C-1",
    )
    source = Rejected("t.notifications", partition, offset, b"C-1", b"")
    return Waiting(notification, source, deadline, "no contact")


def test_waiting_room_keeps_read_order_and_hands_partitions_over() -> None:
    room = WaitingRoom()
    for item in (waiting(1, 5, 10.0), waiting(0, 9, 10.0), waiting(0, 3, 10.0)):
        room.add(item)
    assert [w.position for w in room] == [(0, 3), (0, 9), (1, 5)]
    assert room.forget([0]) == 2 and len(room) == 1
    assert not expired(waiting(0, 1, 10.0), 9.9) and expired(waiting(0, 1, 10.0), 10.0)


def contact_request(client_id: str | None = "C-1", firm_id: str = "F-1") -> Notification:
    return Notification(
        "00000000-0000-4000-8000-000000000001",
        datetime(2026, 3, 2, tzinfo=UTC),
        Channel.EMAIL,
        MessageKind.LOGIN_LINK,
        firm_id,
        client_id=client_id,
        return_id=None if client_id else "R-1",
    )


def test_contact_book_opens_only_for_the_right_firm_and_forgets_erased_clients() -> None:
    contact = Contact(email="jane@example.com", phone="+15558675310")
    book = ContactBook(MASTER)
    with pytest.raises(ContactUnavailable, match="yet") as missing:
        book.contact_for(contact_request())
    assert not missing.value.permanent
    sealed = ContactSealer(MASTER, "k1").seal("F-1", "C-1", contact)
    book.put("C-1", SealedContact("F-1", "k1", sealed))
    assert book.contact_for(contact_request()) == contact
    with pytest.raises(ContactUnavailable, match="another firm") as other_firm:
        book.contact_for(contact_request(firm_id="F-2"))
    assert other_firm.value.permanent
    version = book.version
    book.erase("C-1")
    assert book.version == version + 1 and len(book) == 0


@pytest.mark.parametrize(
    ("stored", "match"),
    [
        (SealedContact("F-1", "k2", b"x" * 40), "sealing key 'k2'"),
        (SealedContact("F-1", "k1", b"short"), "sealing key 'k1'"),
    ],
)
def test_a_contact_that_does_not_open_is_a_permanent_problem(
    stored: SealedContact, match: str
) -> None:
    book = ContactBook(MASTER)
    book.put("C-1", stored)
    with pytest.raises(ContactUnavailable, match=match) as raised:
        book.contact_for(contact_request())
    assert raised.value.permanent


def test_return_recipients_have_no_contact_to_wait_for() -> None:
    with pytest.raises(ContactUnavailable, match="no client_id") as raised:
        ContactBook(MASTER).contact_for(contact_request(client_id=None))
    assert raised.value.permanent


def test_a_contact_record_must_be_for_its_key() -> None:
    record = {"firm_id": "F-1", "client_id": "C-1", "key_id": "k1", "sealed": b"s"}
    assert sealed_contact(b"C-1", record) == ("C-1", SealedContact("F-1", "k1", b"s"))
    with pytest.raises(Exception, match="does not match its key"):
        sealed_contact(b"C-2", record)
