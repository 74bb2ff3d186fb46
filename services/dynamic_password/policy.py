"""Pure decisions of the dynamic password service: links, one-time codes, send limits.

No clock, database or randomness here: the caller passes the time and what it has stored.
The client status itself (lockout, Not Enrolled -> Connected) is the stream rule's job
(`streams.client_status.rules`), which the service folds its events through as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.clients import ClientStatusValue
from streams.client_status.state import ClientState

S = ClientStatusValue
# Where a link may lead to a login at all.
LOGIN_STATUSES = frozenset({S.NOT_ENROLLED, S.CONNECTED})
# A verified client's session: long enough to set a password, short enough to be harmless.
SESSION_LIFETIME = timedelta(minutes=30)
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128


class LinkVerdict(StrEnum):
    """What opening a link leads to (the values are the events' failure reasons)."""

    USABLE = "USABLE"
    UNKNOWN = "UNKNOWN_LINK"
    SUPERSEDED = "SUPERSEDED_LINK"
    EXPIRED = "EXPIRED_LINK"
    LOCKED = "LOCKED"


def link_verdict(
    state: ClientState | None, link_id: str, link_expires_at: datetime | None, now: datetime
) -> LinkVerdict:
    """Whether `link_id` may be used now.

    Args:
        state: the client the link was issued to (None: no such link or client).
        link_id: the link presented.
        link_expires_at: the expiry recorded when the link was issued (None if unknown).
        now: the current time.
    """
    if state is None:
        return LinkVerdict.UNKNOWN
    if state.login_locked_at(now):
        return LinkVerdict.LOCKED
    if link_id != state.active_link_id or state.status not in LOGIN_STATUSES:
        if link_expires_at is not None and now >= link_expires_at:
            return LinkVerdict.EXPIRED
        return LinkVerdict.SUPERSEDED
    expires = state.active_link_expires_at
    if expires is not None and now >= expires:
        return LinkVerdict.EXPIRED
    return LinkVerdict.USABLE


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """The client's newest one-time password: only its HOTP counter, never the code."""

    counter: int
    issued_at: datetime
    used: bool = False


class CodeVerdict(StrEnum):
    """The outcome of a submitted code (the failures are the events' failure reasons)."""

    VERIFIED = "VERIFIED"
    WRONG_CODE = "WRONG_CODE"
    EXPIRED_CODE = "EXPIRED_CODE"
    REPLAYED_CODE = "REPLAYED_CODE"
    NO_CODE = "NO_CODE"


def code_verdict(
    issued: IssuedCode | None, matches: bool, now: datetime, validity: timedelta
) -> CodeVerdict:
    """Judge a code; `matches` says whether it is the HOTP of `issued.counter` (always computed,
    so every path costs the same). Only the newest code counts, once, within its validity."""
    if issued is None:
        return CodeVerdict.NO_CODE
    if not matches:
        return CodeVerdict.WRONG_CODE
    if issued.used:
        return CodeVerdict.REPLAYED_CODE
    if now >= issued.issued_at + validity:
        return CodeVerdict.EXPIRED_CODE
    return CodeVerdict.VERIFIED


def next_code(issued: IssuedCode | None, now: datetime) -> IssuedCode:
    """A new code replaces the previous one; counters only grow, so no code ever comes back."""
    return IssuedCode(counter=(issued.counter + 1) if issued else 1, issued_at=now)


def sends_in_window(sent_at: Sequence[datetime], now: datetime, window: timedelta) -> int:
    return sum(1 for moment in sent_at if moment > now - window)


def send_allowed(
    sent_at: Sequence[datetime], now: datetime, max_sends: int, window: timedelta
) -> bool:
    """At most `max_sends` messages per client in any `window` (e.g. 5 codes per 10 minutes)."""
    return sends_in_window(sent_at, now, window) < max_sends


def retry_after(
    sent_at: Sequence[datetime], now: datetime, max_sends: int, window: timedelta
) -> timedelta:
    """How long until another send is allowed (zero if it is now)."""
    recent = sorted(moment for moment in sent_at if moment > now - window)
    if len(recent) < max_sends:
        return timedelta(0)
    # The send that must leave the window before the next one fits.
    return recent[len(recent) - max_sends] + window - now


def password_problem(password: str) -> str | None:
    """Why a password is refused, or None. Length is what matters (NIST SP 800-63B)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"a password needs at least {PASSWORD_MIN_LENGTH} characters"
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"a password has at most {PASSWORD_MAX_LENGTH} characters"
    if len(set(password)) < 4:
        return "a password needs at least 4 different characters"
    return None
