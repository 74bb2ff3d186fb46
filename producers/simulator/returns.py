"""The story of one delivered return, from the firm's delivery to signature, payment or deletion.

Each signer (the taxpayer, and the spouse on joint returns) gets an initial email (re-sent
once the firm fixes a bounced address); a click opens a session (see `sessions`). Unsigned
returns get signing reminders every N days until signed or deleted; returns with payment
vouchers get a reminder N days before each due date, and payments recorded. A few returns are
recalled and reprocessed, a few deleted. Reminders months ahead are continuations: one small
pending beat per return, never the whole series.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from random import Random

from producers.simulator import records
from producers.simulator.agenda import DAY, HOUR, MINUTE, SECOND, Agenda
from producers.simulator.cases import ReturnCase
from producers.simulator.contacts import Contacts
from producers.simulator.delivery import Mailer
from producers.simulator.firms import firm_user
from producers.simulator.plan import FunnelRates
from producers.simulator.return_mail import (
    FIRM_USER,
    INITIAL,
    NEVER,
    SIGNING_REMINDER_SENT,
    SPOUSE,
    SYSTEM,
    TAX_RETURN_RECALLED,
    TAX_RETURN_REPROCESSED,
    TAXPAYER,
    VOUCHER_REMINDER_SENT,
    ReturnMail,
)
from producers.simulator.sessions import Sessions

ESTIMATED_TAX_DUE = ((4, 15), (6, 15), (9, 15), (1, 15))  # (month, day); January of next year


def voucher_due_dates(delivered_at: int, count: int) -> tuple[date, ...]:
    """The next `count` estimated-tax due dates after delivery."""
    year = datetime.fromtimestamp(delivered_at / 1000, UTC).year
    after = datetime.fromtimestamp(delivered_at / 1000, UTC).date()
    dates = [date(year + (month == 1), month, day) for month, day in ESTIMATED_TAX_DUE]
    return tuple(d for d in dates if d > after)[:count]


@dataclass(slots=True)
class _Signatures:
    """The signers of one return still to sign, and the latest signature so far."""

    pending: int
    until: int  # deletion time (NEVER if not deleted): no signing or reminders after it
    last_at: int = 0


class ReturnDesk:
    """Plays the story of each delivered return onto the agenda."""

    def __init__(
        self, agenda: Agenda, rng: Random, rates: FunnelRates, mailer: Mailer, contacts: Contacts
    ):
        self._agenda, self._rng, self._rates = agenda, rng, rates
        self._mail = ReturnMail(agenda, mailer)
        self._sessions = Sessions(agenda, rng, rates, self._mail, contacts)
        self._contacts = contacts

    def deliver(self, case: ReturnCase, delivered_at: int, taxpayer_hash: str) -> None:
        """Schedule everything that happens to `case`, delivered at `delivered_at`."""
        rng, rates, at = self._rng, self._rates, self._agenda.at
        signature = rng.random() < rates.signature_required
        vouchers = (
            voucher_due_dates(delivered_at, 1 + int(rng.random() * 4))
            if rng.random() < rates.vouchers
            else ()
        )
        user = firm_user(rng, case.firm)
        at(delivered_at, records.lifecycle, case, "DELIVERED", user, None, signature, vouchers)
        deleted_at = NEVER
        if rng.random() < rates.delete:
            deleted_at = delivered_at + 2 * DAY + int(rng.random() * 28 * DAY)
            at(deleted_at, records.lifecycle, case, "DELETED", firm_user(rng, case.firm))
        start = delivered_at + SECOND
        if rng.random() < rates.recall:
            start = self._recall_and_reprocess(case, start, taxpayer_hash)
        signers = [(TAXPAYER, taxpayer_hash)]
        if rng.random() < rates.joint_return:
            signers.append((SPOUSE, self._contacts.email_hash(f"spouse-{case.return_id}")))
        signatures = _Signatures(len(signers), deleted_at) if signature else None
        for n, (role, rhash) in enumerate(signers):
            self._recipient(case, role, rhash, start + n * 3 * SECOND, signatures, deleted_at)
        self._voucher_reminder(case, vouchers, taxpayer_hash, delivered_at, deleted_at)

    # -- signers ------------------------------------------------------------------------------
    def _recipient(
        self,
        case: ReturnCase,
        role: str,
        rhash: str,
        sent_at: int,
        signatures: _Signatures | None,
        until: int,
    ) -> None:
        """One recipient's journey: the initial email, a session if they click, reminders."""
        rng = self._rng
        fate = self._mail.send(case, role, rhash, sent_at, "INITIAL_EMAIL", INITIAL)
        if fate.bounced_at is not None and rng.random() < self._rates.resend_after_bounce:
            # the firm corrects the address and sends again a few hours to two days later
            resend = fate.bounced_at + 4 * HOUR + int(rng.random() * 44 * HOUR)
            fate = self._mail.send(case, role, rhash, resend, "INITIAL_EMAIL", INITIAL)
        signed = NEVER
        if fate.clicked_at is not None and fate.clicked_at < until:
            signed = self._sessions.session(
                case, role, rhash, fate.clicked_at, signatures is not None
            )
        if signatures is None:
            return
        if signed != NEVER:
            self._signed(case, signatures, signed)
            return
        interval = case.firm.signing_reminder_interval_days * DAY
        if interval > 0:
            remind = self._signing_reminder
            self._agenda.at(sent_at + interval, remind, case, role, rhash, signatures)

    def _signing_reminder(
        self,
        time_ms: int,
        _event_id: str,
        case: ReturnCase,
        role: str,
        rhash: str,
        signatures: _Signatures,
    ) -> None:
        """A continuation: remind one signer; if they still do not sign, remind them again
        N days later (one pending beat per unsigned signer, not the whole series)."""
        if time_ms >= signatures.until:
            return
        self._agenda.at(time_ms, records.tracking, case, SIGNING_REMINDER_SENT, role, SYSTEM)
        fate = self._mail.send(case, role, rhash, time_ms, "SIGNING_REMINDER", None)
        if fate.clicked_at is not None and fate.clicked_at < signatures.until:
            signed = self._sessions.session(case, role, rhash, fate.clicked_at, True)
            if signed != NEVER:
                self._signed(case, signatures, signed)
                return
        interval = case.firm.signing_reminder_interval_days * DAY
        remind = self._signing_reminder
        self._agenda.at(time_ms + interval, remind, case, role, rhash, signatures)

    def _signed(self, case: ReturnCase, signatures: _Signatures, signed_at: int) -> None:
        """One signer signed; the return is signed when the last one has."""
        signatures.pending -= 1
        signatures.last_at = max(signatures.last_at, signed_at)
        if not signatures.pending and signatures.last_at < signatures.until:
            self._agenda.at(signatures.last_at + SECOND, records.lifecycle, case, "SIGNED")

    # -- firm side ----------------------------------------------------------------------------
    def _recall_and_reprocess(self, case: ReturnCase, sent_at: int, taxpayer_hash: str) -> int:
        """The first delivery goes out, a firm user recalls it, fixes and reprocesses it."""
        rng, at = self._rng, self._agenda.at
        fate = self._mail.send(case, TAXPAYER, taxpayer_hash, sent_at, "INITIAL_EMAIL", INITIAL)
        user = firm_user(rng, case.firm)
        t = fate.processed_at + 20 * MINUTE + int(rng.random() * DAY)
        at(t, records.lifecycle, case, "RECALLED", user)
        at(t, records.tracking, case, TAX_RETURN_RECALLED, TAXPAYER, FIRM_USER, user)
        t += HOUR + int(rng.random() * 2 * DAY)
        at(t, records.lifecycle, case, "REPROCESSED", user)
        at(t, records.tracking, case, TAX_RETURN_REPROCESSED, TAXPAYER, FIRM_USER, user)
        return t + MINUTE + int(rng.random() * 9 * MINUTE)

    def _voucher_reminder(
        self, case: ReturnCase, dues: tuple[date, ...], rhash: str, after: int, until: int
    ) -> None:
        """Schedule the reminder of the first voucher due that can still be reminded of.

        A continuation months ahead, chained voucher to voucher: one small pending beat per
        return, not one per voucher."""
        days_before = case.firm.voucher_reminder_days_before
        for index, due in enumerate(dues if days_before > 0 else ()):
            due_ms = int(datetime(due.year, due.month, due.day, 14, tzinfo=UTC).timestamp() * 1000)
            remind_at = due_ms - days_before * DAY + int(self._rng.random() * HOUR)
            if after <= remind_at < until:
                remind = self._voucher_due
                self._agenda.at(remind_at, remind, case, dues[index:], rhash, until)
                return

    def _voucher_due(
        self,
        time_ms: int,
        _event_id: str,
        case: ReturnCase,
        dues: tuple[date, ...],
        rhash: str,
        until: int,
    ) -> None:
        rng, at = self._rng, self._agenda.at
        at(time_ms, records.tracking, case, VOUCHER_REMINDER_SENT, TAXPAYER, SYSTEM)
        self._mail.send(case, TAXPAYER, rhash, time_ms, "VOUCHER_REMINDER", None)
        if rng.random() < self._rates.payment_recorded:
            paid_at = (
                time_ms + HOUR + int(rng.random() * case.firm.voucher_reminder_days_before * DAY)
            )
            if paid_at < until:
                paid = "PAYMENT_RECORDED"
                at(paid_at, records.lifecycle, case, paid, None, None, False, (), dues[0])
        self._voucher_reminder(case, dues[1:], rhash, time_ms + 1, until)
