"""The dynamic password service's pure decisions: links, one-time codes, send limits, passwords."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.clients import ClientStatusValue
from services.dynamic_password.policy import (
    CodeVerdict,
    IssuedCode,
    LinkVerdict,
    code_verdict,
    link_verdict,
    next_code,
    password_problem,
    retry_after,
    send_allowed,
)
from streams.client_status.state import ClientState

S, L, C = ClientStatusValue, LinkVerdict, CodeVerdict
T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=14)
VALIDITY = timedelta(minutes=5)
WINDOW = timedelta(minutes=10)


def client(status: ClientStatusValue = S.NOT_ENROLLED, **changes: object) -> ClientState:
    state = ClientState(
        "F", "C", status=status, active_link_id="L1", active_link_expires_at=EXPIRES
    )
    return replace(state, **changes)  # type: ignore[arg-type]  # test values of the right type


# -- links ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "link", "recorded_expiry", "now", "verdict"),
    [
        (None, "L1", EXPIRES, T0, L.UNKNOWN),
        (client(), "L1", EXPIRES, T0, L.USABLE),
        (client(S.CONNECTED), "L1", EXPIRES, T0, L.USABLE),
        (client(), "L1", EXPIRES, EXPIRES - timedelta(milliseconds=1), L.USABLE),
        (client(), "L1", EXPIRES, EXPIRES, L.EXPIRED),
        (client(), "L0", T0 + timedelta(days=1), T0, L.SUPERSEDED),
        (client(), "L0", T0 - timedelta(days=1), T0, L.EXPIRED),
        (client(), "L0", None, T0, L.SUPERSEDED),
        (client(active_link_id=None), "L1", EXPIRES, EXPIRES, L.EXPIRED),  # expired by the worker
        (client(active_link_id=None), "L1", EXPIRES, T0, L.SUPERSEDED),
        (client(S.NOT_INVITED), "L1", EXPIRES, T0, L.SUPERSEDED),
        (client(S.DISCONNECTED), "L1", EXPIRES, T0, L.SUPERSEDED),
        (client(S.CONNECTED_ELSEWHERE), "L1", EXPIRES, T0, L.SUPERSEDED),
        (client(active_link_expires_at=None), "L1", None, EXPIRES + timedelta(days=999), L.USABLE),
        (client(login_locked_until=T0 + timedelta(hours=2)), "L1", EXPIRES, T0, L.LOCKED),
        (client(login_locked_until=T0 + timedelta(hours=2)), "L0", EXPIRES, T0, L.LOCKED),
        (client(login_locked_until=T0), "L1", EXPIRES, T0, L.USABLE),  # the lock has run out
    ],
)
def test_link_verdicts(
    state: ClientState | None,
    link: str,
    recorded_expiry: datetime | None,
    now: datetime,
    verdict: LinkVerdict,
) -> None:
    assert link_verdict(state, link, recorded_expiry, now) is verdict


@pytest.mark.parametrize(
    ("status", "active", "locked", "expired"),
    list(itertools.product(S, ("L1", "L0", None), (False, True), (False, True))),
)
def test_a_link_is_usable_only_when_current_unexpired_unlocked_and_in_a_login_status(
    status: ClientStatusValue, active: str | None, locked: bool, expired: bool
) -> None:
    now = EXPIRES if expired else T0
    state = client(
        status,
        active_link_id=active,
        login_locked_until=now + timedelta(minutes=1) if locked else None,
    )
    verdict = link_verdict(state, "L1", EXPIRES, now)
    usable = status in (S.NOT_ENROLLED, S.CONNECTED) and active == "L1" and not locked
    if locked:
        assert verdict is L.LOCKED
    elif usable and not expired:
        assert verdict is L.USABLE
    elif expired:
        assert verdict is L.EXPIRED
    else:
        assert verdict is L.SUPERSEDED


# -- codes ---------------------------------------------------------------------------------
FRESH = IssuedCode(4, T0)


@pytest.mark.parametrize(
    ("issued", "matches", "now", "verdict"),
    [
        (None, False, T0, C.NO_CODE),
        (None, True, T0, C.NO_CODE),
        (FRESH, True, T0, C.VERIFIED),
        (FRESH, True, T0 + VALIDITY - timedelta(milliseconds=1), C.VERIFIED),
        (FRESH, True, T0 + VALIDITY, C.EXPIRED_CODE),
        (FRESH, False, T0, C.WRONG_CODE),
        (FRESH, False, T0 + VALIDITY, C.WRONG_CODE),
        (replace(FRESH, used=True), True, T0, C.REPLAYED_CODE),
        (replace(FRESH, used=True), True, T0 + VALIDITY, C.REPLAYED_CODE),
        (replace(FRESH, used=True), False, T0, C.WRONG_CODE),
    ],
)
def test_code_verdicts(
    issued: IssuedCode | None, matches: bool, now: datetime, verdict: CodeVerdict
) -> None:
    assert code_verdict(issued, matches, now, VALIDITY) is verdict


@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=20))
def test_counters_only_grow_so_a_code_never_comes_back(offsets: list[int]) -> None:
    issued: IssuedCode | None = None
    seen: list[int] = []
    for seconds in offsets:
        issued = next_code(issued, T0 + timedelta(seconds=seconds))
        assert not issued.used and issued.issued_at == T0 + timedelta(seconds=seconds)
        seen.append(issued.counter)
    assert seen == list(range(1, len(offsets) + 1))


def test_only_a_verified_code_is_accepted() -> None:
    outcomes = {
        code_verdict(issued, matches, now, VALIDITY)
        for issued in (None, FRESH, replace(FRESH, used=True))
        for matches in (False, True)
        for now in (T0, T0 + VALIDITY)
    }
    assert outcomes == set(C)
    accepted = [
        (issued, matches, now)
        for issued in (None, FRESH, replace(FRESH, used=True))
        for matches in (False, True)
        for now in (T0, T0 + VALIDITY)
        if code_verdict(issued, matches, now, VALIDITY) is C.VERIFIED
    ]
    assert accepted == [(FRESH, True, T0)]


# -- send limits ---------------------------------------------------------------------------
def test_five_sends_per_ten_minutes() -> None:
    sent = [T0 + timedelta(minutes=m) for m in range(5)]
    now = T0 + timedelta(minutes=5)
    assert send_allowed(sent[:4], now, 5, WINDOW)
    assert not send_allowed(sent, now, 5, WINDOW)
    assert retry_after(sent, now, 5, WINDOW) == timedelta(minutes=5)
    assert send_allowed(sent, T0 + WINDOW + timedelta(milliseconds=1), 5, WINDOW)
    assert retry_after(sent[:4], now, 5, WINDOW) == timedelta(0)


@given(
    st.lists(st.integers(min_value=0, max_value=3_600), max_size=15),
    st.integers(min_value=0, max_value=3_600),
    st.integers(min_value=1, max_value=6),
)
def test_waiting_the_retry_delay_is_exactly_enough(
    offsets: list[int], now_s: int, max_sends: int
) -> None:
    sent = [T0 + timedelta(seconds=s) for s in offsets if s <= now_s]
    now = T0 + timedelta(seconds=now_s)
    wait = retry_after(sent, now, max_sends, WINDOW)
    assert send_allowed(sent, now, max_sends, WINDOW) == (wait == timedelta(0))
    assert send_allowed(sent, now + wait, max_sends, WINDOW)
    if wait > timedelta(0):
        assert not send_allowed(sent, now + wait - timedelta(milliseconds=1), max_sends, WINDOW)


# -- passwords -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("correct horse battery", None),
        ("short", "at least 12 characters"),
        ("a" * 12, "4 different characters"),
        ("abcabcabcabc", "4 different characters"),
        ("x" * 120 + "abcdefgh", None),
        ("x" * 129, "at most 128"),
    ],
)
def test_password_rules(password: str, problem: str | None) -> None:
    found = password_problem(password)
    assert (found is None) if problem is None else (found is not None and problem in found)
