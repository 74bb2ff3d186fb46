"""Client-side actions (no API key): open a link, verify a code or SSN digits, ask for a new
login link (sessions and messages are in `sessions.py`, regular passwords in `passwords.py`).

Every failure a guesser could learn from (unknown link, wrong code, expired or superseded
link, locked login) ends in the same NotAccepted, after the same work: the HOTP (or SSN hash)
check runs whether or not there is anything to compare it with. Wrong codes and wrong SSN
digits are OTP_FAILED / SSN_CHECK_FAILED events, which the status rule counts towards the
lock; while locked, attempts emit nothing.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from schemas.clients import (
    ClientEvent,
    ClientEventType,
    InviteTrigger,
    VerificationMethod,
)
from schemas.tracking import Actor
from services.credentials import otp_secret_ref
from services.dynamic_password import policy
from services.dynamic_password.core import Core
from services.dynamic_password.errors import (
    NotAccepted,
    TooManyCodes,
)
from services.dynamic_password.policy import CodeVerdict, LinkVerdict
from services.dynamic_password.records import client_event, notification, notification_id
from services.dynamic_password.sessions import open_session
from services.dynamic_password.store import ClientRow, LinkRow

E = ClientEventType
CODE_SENDS, LINK_SENDS = "otp", "login-link"
_NOBODY = "-"  # stands in for a firm and client when there is none, so the work is the same


@dataclass(frozen=True)
class LinkOpened:
    """A usable link was opened: where the code went, and whether SSN digits may be used."""

    code_sent: bool
    sent_to: str | None
    code_expires_in_s: int | None
    ssn_verification: bool


@dataclass(frozen=True)
class Verified:
    """Identity verified: the client's status and a session to set a password with."""

    status: str
    session_token: str
    session_expires_at: datetime


def _link(core: Core, token: str) -> LinkRow | None:
    link_id = core.secrets.tokens.link_id(token)
    return core.store.link(link_id) if link_id else None


def _verdict(row: ClientRow | None, link: LinkRow, now: datetime) -> LinkVerdict:
    return policy.link_verdict(row.state if row else None, link.link_id, link.expires_at, now)


async def open_link(core: Core, token: str) -> LinkOpened:
    """LINK_SELECTED, and a new SMS code when a phone is on file (at most N per window)."""
    link = _link(core, token)
    if link is None:
        raise NotAccepted()
    async with core.locks.hold(link.client_id):
        row, now = core.store.client(link.client_id), core.clock()
        verdict = _verdict(row, link, now)
        if row is not None and verdict in (LinkVerdict.EXPIRED, LinkVerdict.SUPERSEDED):
            rejected = client_event(
                E.LINK_REJECTED,
                row.firm_id,
                row.client_id,
                now,
                Actor.CLIENT,
                link_id=link.link_id,
                failure_reason=verdict.value,
            )
            with core.store.transaction():
                core.save(core.emit(row, rejected))
        if row is None or verdict is not LinkVerdict.USABLE:
            raise NotAccepted()
        window = timedelta(seconds=core.auth.otp_send_window_s)
        sent = core.store.sends(row.client_id, CODE_SENDS, now - window)
        if row.phone_hash and not policy.send_allowed(sent, now, core.auth.otp_max_sends, window):
            raise TooManyCodes(policy.retry_after(sent, now, core.auth.otp_max_sends, window))
        selected = client_event(
            E.LINK_SELECTED, row.firm_id, row.client_id, now, Actor.CLIENT, link_id=link.link_id
        )
        with core.store.transaction():
            row = core.emit(row, selected)
            if row.phone_hash:
                row = _send_code(core, row, link.link_id, now, window)
            core.save(row)
    firm = core.firm(row.firm_id)
    return LinkOpened(
        code_sent=row.phone_hash is not None,
        sent_to=row.phone_masked,
        code_expires_in_s=core.auth.otp_validity_s if row.phone_hash else None,
        ssn_verification=firm.ssn_verification_allowed and row.ssn_hash is not None,
    )


def _send_code(
    core: Core, row: ClientRow, link_id: str, now: datetime, window: timedelta
) -> ClientRow:
    code = policy.next_code(row.code, now)
    event = client_event(
        E.OTP_SENT,
        row.firm_id,
        row.client_id,
        now,
        Actor.SYSTEM,
        link_id=link_id,
        phone_masked=row.phone_masked,
    )
    event = replace(event, message_id=str(notification_id("OTP_SMS", event.event_id)))
    row = core.emit(row, event)
    core.outbox.notification(
        notification(
            cause=event.event_id,
            at=now,
            channel="SMS",
            message_kind="OTP_SMS",
            firm_id=row.firm_id,
            client_id=row.client_id,
            link_id=link_id,
            secret_ref=otp_secret_ref(code.counter),
        )
    )
    core.store.record_send(row.client_id, CODE_SENDS, now, forget_before=now - window)
    return replace(row, code=code)


async def verify_code(core: Core, token: str, code: str) -> Verified:
    """OTP_VERIFIED (the rule then verifies identity and connects) or OTP_FAILED."""
    link = _link(core, token)
    if link is None:
        core.secrets.codes.verify(_NOBODY, _NOBODY, 0, code)
        raise NotAccepted()
    async with core.locks.hold(link.client_id):
        row, now = core.store.client(link.client_id), core.clock()
        issued = row.code if row else None
        matches = core.secrets.codes.verify(
            row.firm_id if row else _NOBODY, link.client_id, issued.counter if issued else 0, code
        )
        if row is None or _verdict(row, link, now) is not LinkVerdict.USABLE:
            raise NotAccepted()
        validity = timedelta(seconds=core.auth.otp_validity_s)
        outcome = policy.code_verdict(issued, matches, now, validity)
        method = VerificationMethod.OTP_SMS
        if outcome is CodeVerdict.VERIFIED:
            assert issued is not None  # noqa: S101 - VERIFIED implies a code was issued
            event = client_event(
                E.OTP_VERIFIED,
                row.firm_id,
                row.client_id,
                now,
                Actor.CLIENT,
                link_id=link.link_id,
                verification_method=method,
            )
            return verified(core, replace(row, code=replace(issued, used=True)), event, now)
        failed = client_event(
            E.OTP_FAILED,
            row.firm_id,
            row.client_id,
            now,
            Actor.CLIENT,
            link_id=link.link_id,
            verification_method=method,
            failure_reason=outcome.value,
        )
        with core.store.transaction():
            core.save(core.emit(row, failed))
    raise NotAccepted()


async def verify_ssn(core: Core, token: str, last4: str) -> Verified:
    """SSN_CHECK_PASSED or SSN_CHECK_FAILED, when the firm allows SSN verification."""
    link = _link(core, token)
    hasher = core.secrets.hasher
    if link is None:
        hasher.ssn_last4(_NOBODY, _NOBODY, last4)
        raise NotAccepted()
    async with core.locks.hold(link.client_id):
        row, now = core.store.client(link.client_id), core.clock()
        presented = hasher.ssn_last4(row.firm_id if row else _NOBODY, link.client_id, last4)
        matches = hmac.compare_digest(presented, (row.ssn_hash if row else None) or "")
        allowed = row is not None and core.firm(row.firm_id).ssn_verification_allowed
        if row is None or not allowed or row.ssn_hash is None:
            raise NotAccepted()
        if _verdict(row, link, now) is not LinkVerdict.USABLE:
            raise NotAccepted()
        method = VerificationMethod.SSN_LAST4
        if matches:
            event = client_event(
                E.SSN_CHECK_PASSED,
                row.firm_id,
                row.client_id,
                now,
                Actor.CLIENT,
                link_id=link.link_id,
                verification_method=method,
            )
            return verified(core, row, event, now)
        failed = client_event(
            E.SSN_CHECK_FAILED,
            row.firm_id,
            row.client_id,
            now,
            Actor.CLIENT,
            link_id=link.link_id,
            verification_method=method,
            failure_reason="WRONG_SSN_DIGITS",
        )
        with core.store.transaction():
            core.save(core.emit(row, failed))
    raise NotAccepted()


def verified(core: Core, row: ClientRow, event: ClientEvent, now: datetime) -> Verified:
    """Emit the successful `event` and open a session, in one transaction."""
    with core.store.transaction():
        row = core.emit(row, event)
        core.save(row)
        token, expires_at = open_session(core, row.client_id, now)
    return Verified(row.state.status.value, token, expires_at)


async def request_login_link(core: Core, email_hash: str) -> None:
    """'Send me a new login link': for each client with this address that may log in, a new
    link by email (at most N per window). The caller answers the same whatever happens here."""
    for client_id in [row.client_id for row in core.store.clients_with_email(email_hash)]:
        async with core.locks.hold(client_id):
            row, now = core.store.client(client_id), core.clock()
            if row is None or row.email_hash != email_hash:
                continue
            window = timedelta(seconds=core.auth.otp_send_window_s)
            sent = core.store.sends(client_id, LINK_SENDS, now - window)
            refusal = _login_link_refusal(core, row, sent, now, window)
            requested = client_event(
                E.NEW_LOGIN_LINK_REQUESTED,
                row.firm_id,
                client_id,
                now,
                Actor.CLIENT,
                failure_reason=refusal,
            )
            with core.store.transaction():
                row = core.emit(row, requested)
                if refusal is None:
                    row = core.issue_link(
                        row, E.NEW_LOGIN_LINK_SENT, InviteTrigger.CLIENT_REQUEST, Actor.CLIENT
                    )
                    core.store.record_send(client_id, LINK_SENDS, now, forget_before=now - window)
                core.save(row)


def _login_link_refusal(
    core: Core, row: ClientRow, sent: list[datetime], now: datetime, window: timedelta
) -> str | None:
    if row.state.status not in policy.LOGIN_STATUSES or core.firm(row.firm_id).sso_enabled:
        return "NOT_ELIGIBLE"
    if not policy.send_allowed(sent, now, core.auth.otp_max_sends, window):
        return "RATE_LIMITED"
    return None
