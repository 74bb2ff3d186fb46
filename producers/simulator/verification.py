"""A client proves who they are: SMS one-time password, SSN last 4 digits or firm confirmation.

SMS codes live 5 minutes (wrong, expired and replayed codes fail; undelivered texts are asked
for again); three wrong entries lock the login for two hours, after which the client comes
back through the link. Once verified: identity verified, Connected, and then passwords, firm
messages, and a few clients connected elsewhere or disconnected.
"""

from __future__ import annotations

from random import Random

from producers.simulator.agenda import DAY, HOUR, MINUTE, SECOND, timestamp
from producers.simulator.cases import ClientCase
from producers.simulator.client_events import CLIENT, FIRM_USER, NEVER, SYSTEM, ClientEvents
from producers.simulator.delivery import Mailer
from producers.simulator.plan import FunnelRates

OTP_VALID_MS = 5 * MINUTE


class Verification:
    """Plays a client's verification after they select a working link."""

    def __init__(self, events: ClientEvents, rng: Random, rates: FunnelRates, mailer: Mailer):
        self._events, self._rng, self._rates, self._mailer = events, rng, rates, mailer

    def verify(self, case: ClientCase, link: str, selected_at: int) -> None:
        rng, rates = self._rng, self._rates
        self._events.at(selected_at, case, "LINK_SELECTED", CLIENT, {"link_id": link})
        if case.firm.ssn_verification_allowed and rng.random() < rates.verify_by_ssn:
            method, t = "SSN_LAST4", self._ssn_check(case, link, selected_at)
        elif case.phone_hash is not None:
            method, t = "OTP_SMS", self._one_time_password(case, link, selected_at)
        else:  # no mobile number on file: a firm user confirms the client's identity
            method, t = "FIRM_CONFIRMATION", selected_at + HOUR + int(rng.random() * 2 * DAY)
        if t == NEVER:
            return
        actor = FIRM_USER if method == "FIRM_CONFIRMATION" else SYSTEM
        facts = {"verification_method": method}
        self._events.at(t, case, "IDENTITY_VERIFIED", actor, facts, user=actor == FIRM_USER)
        status = {"status_from": "NOT_ENROLLED", "status_to": "CONNECTED"}
        self._events.at(t, case, "STATUS_CHANGED", SYSTEM, status)
        self._connected(case, t)

    def _ssn_check(self, case: ClientCase, link: str, t: int) -> int:
        rng, rates = self._rng, self._rates
        if rng.random() < rates.otp_lockout:
            t = self._locked_out(case, link, t, "SSN_CHECK_FAILED", "WRONG_SSN")
        elif rng.random() < rates.ssn_last4_wrong:
            t += 20 * SECOND + int(rng.random() * MINUTE)
            self._failed(case, t, "SSN_CHECK_FAILED", "WRONG_SSN", "SSN_LAST4")
        t += 15 * SECOND + int(rng.random() * MINUTE)
        self._events.at(t, case, "SSN_CHECK_PASSED", CLIENT, {"verification_method": "SSN_LAST4"})
        return t

    def _one_time_password(self, case: ClientCase, link: str, t: int) -> int:
        """SMS codes until one is accepted; returns when, or NEVER if the client gives up."""
        rng, rates = self._rng, self._rates
        budget = case.firm.max_otp_failures - 1  # failures that cannot lock by accident
        if rng.random() < rates.otp_lockout:
            t = self._locked_out(case, link, t, "OTP_FAILED", "WRONG_CODE")
        for _ in range(4):
            delivered_at = self._send_code(case, t)
            if delivered_at is None:
                t += MINUTE + int(rng.random() * 2 * MINUTE)  # "send me a new code"
                continue
            t = delivered_at + 10 * SECOND + int(rng.random() * 50 * SECOND)
            draw = rng.random()
            if budget and draw < rates.otp_expired:
                t = delivered_at + OTP_VALID_MS + int(rng.random() * 10 * MINUTE)
                self._failed(case, t, "OTP_FAILED", "EXPIRED_CODE", "OTP_SMS")
                budget -= 1
                continue
            if budget and draw < rates.otp_expired + rates.otp_wrong + rates.otp_replayed:
                reason = (
                    "REPLAYED_CODE"
                    if draw < rates.otp_expired + rates.otp_replayed
                    else "WRONG_CODE"
                )
                self._failed(case, t, "OTP_FAILED", reason, "OTP_SMS")
                t += 15 * SECOND + int(rng.random() * 45 * SECOND)
                budget -= 1
            self._events.at(t, case, "OTP_VERIFIED", CLIENT, {"verification_method": "OTP_SMS"})
            return t
        return NEVER

    def _send_code(self, case: ClientCase, t: int) -> int | None:
        message = self._mailer.message(
            "OTP_SMS", "SMS", case.firm.firm_id, client_id=case.client_id,
            role="TAXPAYER", recipient_hash=case.phone_hash,
        )  # fmt: skip
        facts = {"message_id": message.message_id, "verification_method": "OTP_SMS"}
        self._events.at(t, case, "OTP_SENT", SYSTEM, facts)
        return self._mailer.sms(message, t)

    def _locked_out(self, case: ClientCase, link: str, t: int, kind: str, reason: str) -> int:
        """Three wrong entries lock the login; after the lockout the client selects the link
        again. Returns when."""
        rng, firm = self._rng, case.firm
        method = "SSN_LAST4" if kind == "SSN_CHECK_FAILED" else "OTP_SMS"
        if method == "OTP_SMS":
            sent = self._send_code(case, t)
            t = sent if sent is not None else t + MINUTE
        for _ in range(firm.max_otp_failures):
            t += 15 * SECOND + int(rng.random() * 45 * SECOND)
            self._failed(case, t, kind, reason, method)
        until = t + firm.otp_lockout_minutes * MINUTE
        locked = {"locked_until": timestamp(until), "failure_reason": reason}
        self._events.at(t, case, "LOGIN_LOCKED", SYSTEM, locked)
        self._events.at(until, case, "LOGIN_UNLOCKED", SYSTEM)
        back = until + 10 * MINUTE + int(rng.random() * DAY)
        self._events.at(back, case, "LINK_SELECTED", CLIENT, {"link_id": link})
        return back

    def _failed(self, case: ClientCase, t: int, kind: str, reason: str, method: str) -> None:
        facts = {"failure_reason": reason, "verification_method": method}
        self._events.at(t, case, kind, CLIENT, facts)

    def _connected(self, case: ClientCase, t: int) -> None:
        rng, rates = self._rng, self._rates
        if rng.random() < rates.password_set:
            self._events.at(
                t + MINUTE + int(rng.random() * 10 * MINUTE), case, "PASSWORD_SET", CLIENT
            )
        if rng.random() < rates.firm_message:
            sent_at = t + HOUR + int(rng.random() * 20 * DAY)
            message = self._mailer.message(
                "FIRM_MESSAGE", "EMAIL", case.firm.firm_id, client_id=case.client_id,
                role="TAXPAYER", recipient_hash=case.email_hash,
            )  # fmt: skip
            facts = {"message_id": message.message_id}
            self._events.at(sent_at, case, "MESSAGE_SENT", FIRM_USER, facts, user=True)
            self._mailer.email(message, sent_at)
        draw = rng.random()
        if draw < rates.connected_elsewhere + rates.disconnected:
            left_at = t + 5 * DAY + int(rng.random() * 35 * DAY)
            kind = "CONNECTED_ELSEWHERE" if draw < rates.connected_elsewhere else "DISCONNECTED"
            actor = CLIENT if kind == "CONNECTED_ELSEWHERE" else FIRM_USER
            self._events.at(left_at, case, kind, actor, user=actor == FIRM_USER)
            status = {"status_from": "CONNECTED", "status_to": kind}
            self._events.at(left_at, case, "STATUS_CHANGED", SYSTEM, status)
