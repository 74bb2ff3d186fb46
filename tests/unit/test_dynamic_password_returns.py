"""The service's view of return locks: the worker's lockout rule folded over SQLite rows."""

from __future__ import annotations

import sqlite3

import pytest

from schemas.firms import FirmSettings
from schemas.tracking import Actor, RecipientRole, TrackingEventType
from services.dynamic_password.return_locks import ReturnLocks, fold_touch, learn_lifecycle
from streams.lockout.rules import LockoutState
from tests.factories import tracking_event

T = TrackingEventType
TAXPAYER, SPOUSE = RecipientRole.TAXPAYER, RecipientRole.SPOUSE


@pytest.fixture
def book() -> ReturnLocks:
    return ReturnLocks(sqlite3.connect(":memory:", isolation_level=None))


def firms(max_failures: int = 3) -> dict[str, FirmSettings]:
    return {f: FirmSettings(f, max_access_failures=max_failures) for f in ("F-1", "F-2")}


def fold(book: ReturnLocks, *types: T, role: RecipientRole = TAXPAYER, limit: int = 3) -> None:
    for event_type in types:
        actor = Actor.FIRM_USER if event_type is T.ACCESS_UNLOCKED else Actor.CLIENT
        touch = tracking_event(event_type, role=role, actor=actor)
        fold_touch(book, touch, firms(limit).__getitem__)


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([T.AUTHENTICATION_FAILED] * 2, LockoutState(2, False)),
        ([T.AUTHENTICATION_FAILED] * 3, LockoutState(3, True)),
        ([T.AUTHENTICATION_FAILED] * 3 + [T.ACCESS_LOCKED], LockoutState(3, True)),
        ([T.AUTHENTICATION_FAILED] * 4 + [T.TAX_RETURN_ACCESSED], LockoutState(3, True)),
        ([T.AUTHENTICATION_FAILED] * 3 + [T.ACCESS_UNLOCKED], LockoutState(0, False)),
        ([T.AUTHENTICATION_FAILED] * 2 + [T.ACCESS_LINK_SELECTED], LockoutState(0, False)),
        (
            [T.AUTHENTICATION_FAILED] * 3 + [T.ACCESS_UNLOCKED] + [T.AUTHENTICATION_FAILED] * 2,
            LockoutState(2, False),
        ),
    ],
)
def test_locks_follow_the_workers_rule(
    book: ReturnLocks, types: list[T], expected: LockoutState
) -> None:
    fold(book, *types)
    known = book.get("R-1")
    assert known is not None and known.recipients[TAXPAYER] == expected


def test_the_firms_failure_limit_applies(book: ReturnLocks) -> None:
    fold(book, T.AUTHENTICATION_FAILED, T.AUTHENTICATION_FAILED, limit=2)
    known = book.get("R-1")
    assert known is not None and known.locked_roles() == [TAXPAYER]


def test_touches_the_rule_ignores_teach_nothing(book: ReturnLocks) -> None:
    touch = tracking_event(T.INITIAL_EMAIL_OPENED)
    assert fold_touch(book, touch, firms().__getitem__) is None
    assert book.get("R-1") is None


def test_recipients_lock_apart_and_unlock_by_role(book: ReturnLocks) -> None:
    fold(book, *[T.AUTHENTICATION_FAILED] * 3, role=SPOUSE)
    fold(book, T.AUTHENTICATION_FAILED)
    known = book.get("R-1")
    assert known is not None
    assert known.locked_roles() == [SPOUSE] and known.locked_roles(TAXPAYER) == []


def test_delivered_names_the_owner_firm_and_a_firm_sees_only_its_returns(
    book: ReturnLocks,
) -> None:
    fold(book, T.AUTHENTICATION_FAILED)  # first seen on a touch of F-1
    delivered = {"event_type": "DELIVERED", "return_id": "R-1", "firm_id": "F-2"}
    learn_lifecycle(book, delivered | {"client_id": "C-9"})
    fold_touch(book, tracking_event(T.AUTHENTICATION_FAILED, firm_id="F-1"), firms().__getitem__)
    assert book.get("R-1", "F-1") is None
    known = book.get("R-1", "F-2")
    assert known is not None and (known.client_id, known.recipients[TAXPAYER]) == (
        "C-9",
        LockoutState(2, False),
    )
    learn_lifecycle(book, delivered | {"event_type": "DELETED"})
    assert book.get("R-1") is None
