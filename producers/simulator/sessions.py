"""A recipient's session on a delivered return: from the access link to the downloads.

The access link, then SSN digits or an emailed access code (codes live 20 minutes; typos;
some recipients fail three times in a row and stay locked until a firm user unlocks them: the
stream worker, not this story, emits Access Locked), the return accessed, KBA rounds (5
questions, pass with 3, at most 3 rounds, then a paper signature) and e-signing, downloads,
uploads, K-1 distribution, and now and then documents forwarded to a CC recipient.
"""

from __future__ import annotations

from math import comb
from random import Random

from producers.simulator import records
from producers.simulator.agenda import DAY, HOUR, MINUTE, SECOND, Agenda
from producers.simulator.cases import ReturnCase
from producers.simulator.contacts import Contacts
from producers.simulator.firms import firm_user
from producers.simulator.plan import FunnelRates
from producers.simulator.return_mail import (
    ACCESS_CODE,
    ACCESS_LINK_SELECTED,
    ACCESS_UNLOCKED,
    AUTHENTICATION_FAILED,
    CC,
    CLIENT,
    DOCUMENT_DOWNLOADED,
    EFILE_FORMS_DOWNLOADED,
    EXPIRED_CODE,
    FILES_UPLOADED,
    FIRM_USER,
    INITIAL,
    K1_DISTRIBUTED,
    KBA_FAILED,
    KBA_SUCCEEDED,
    NEVER,
    OTHER_DOCUMENTS_ESIGNED,
    TAX_RETURN_ACCESSED,
    TAXPAYER,
    UPLOADED_FILES_DELETED,
    WRONG_CODE,
    WRONG_SSN,
    ReturnMail,
)

ACCESS_CODE_VALID_MS = 20 * MINUTE
KBA_QUESTIONS, KBA_PASS_MARK, KBA_ROUNDS = 5, 3, 3
DOCUMENTS = (
    "Form 1040 Federal Return.pdf",
    "State Return.pdf",
    "Engagement Letter.pdf",
    "Invoice.pdf",
    "Payment Vouchers.pdf",
    "Tax Organizer.pdf",
)
UPLOADS = ("W-2 Employer.pdf", "1099-INT Bank.pdf", "1098 Mortgage.pdf", "Signed 8879.pdf")
PARTNERS = ("Avery Jordan", "Blake Morgan", "Casey Reed", "Drew Parker", "Emerson Lane")


def kba_pass_probability(right: float) -> float:
    """P(at least 3 of 5 questions right), each right with probability `right`."""
    return sum(
        comb(KBA_QUESTIONS, k) * right**k * (1 - right) ** (KBA_QUESTIONS - k)
        for k in range(KBA_PASS_MARK, KBA_QUESTIONS + 1)
    )


class Sessions:
    """Plays what a recipient does once they select a return's access link."""

    def __init__(
        self, agenda: Agenda, rng: Random, rates: FunnelRates, mail: ReturnMail, contacts: Contacts
    ):
        self._agenda, self._rng, self._rates = agenda, rng, rates
        self._mail, self._contacts = mail, contacts
        self._kba_pass = kba_pass_probability(rates.kba_question_right)

    def session(self, case: ReturnCase, role: str, rhash: str, clicked_at: int, sign: bool) -> int:
        """From the access link to downloads; returns when the recipient signed, or NEVER."""
        rng, at = self._rng, self._agenda.at
        at(clicked_at, records.tracking, case, ACCESS_LINK_SELECTED, role, CLIENT)
        t = self._authenticate(case, role, rhash, clicked_at)
        if t == NEVER:
            return NEVER
        at(t, records.tracking, case, TAX_RETURN_ACCESSED, role, CLIENT)
        signed = NEVER
        if sign and role != CC:
            t, signed = self._sign(case, role, t)
        t = self._downloads(case, role, t)
        if role == TAXPAYER and rng.random() < self._rates.cc_forward:
            forwarded_at = t + 5 * MINUTE + int(rng.random() * 2 * DAY)
            cc_hash = self._contacts.email_hash(f"cc-{case.return_id}")
            fate = self._mail.send(case, CC, cc_hash, forwarded_at, "INITIAL_EMAIL", INITIAL)
            if fate.clicked_at is not None:
                self.session(case, CC, cc_hash, fate.clicked_at, False)
        return signed

    # -- authentication ---------------------------------------------------------------------
    def _authenticate(self, case: ReturnCase, role: str, rhash: str, t: int) -> int:
        """SSN digits or an emailed access code; returns when access was granted, or NEVER."""
        rng, rates = self._rng, self._rates
        by_code = role == CC or rng.random() < rates.access_by_code
        reason = WRONG_CODE if by_code else WRONG_SSN
        if rng.random() < rates.access_lockout:
            t = self._code_opened(case, role, rhash, t) if by_code else t
            if t == NEVER:
                return NEVER
            t = self._failures(case, role, t, case.firm.max_access_failures, reason)
            t = self._unlocked(case, role, rhash, t)
            if t == NEVER:
                return NEVER
        if by_code:
            return self._enter_code(case, role, rhash, t)
        typos = 0
        while typos < case.firm.max_access_failures - 1 and rng.random() < rates.entry_typo:
            typos += 1
        t = self._failures(case, role, t, typos, WRONG_SSN)
        return t + 5 * SECOND + int(rng.random() * 35 * SECOND)

    def _enter_code(self, case: ReturnCase, role: str, rhash: str, t: int) -> int:
        """Request an access code by email and enter it (late codes expire: ask again)."""
        rng, rates = self._rng, self._rates
        budget = case.firm.max_access_failures - 1  # never lock by accident
        for _ in range(3):
            opened_at = self._code_opened(case, role, rhash, t)
            if opened_at == NEVER:
                return NEVER
            if budget and rng.random() < rates.access_code_entered_late:
                t = max(opened_at, t + ACCESS_CODE_VALID_MS) + int(rng.random() * 10 * MINUTE)
                t = self._failures(case, role, t, 1, EXPIRED_CODE)
                budget -= 1
                continue
            typos = 1 if budget and rng.random() < rates.entry_typo else 0
            t = self._failures(case, role, opened_at, typos, WRONG_CODE)
            return t + 5 * SECOND + int(rng.random() * 25 * SECOND)
        return NEVER

    def _code_opened(self, case: ReturnCase, role: str, rhash: str, t: int) -> int:
        fate = self._mail.send(
            case, role, rhash, t, "ACCESS_CODE_EMAIL", ACCESS_CODE,
            open_rate=self._rates.access_code_email_opened, open_delay_mean_ms=2 * MINUTE,
        )  # fmt: skip
        return NEVER if fate.opened_at is None else fate.opened_at

    def _failures(self, case: ReturnCase, role: str, t: int, count: int, reason: str) -> int:
        rng, at = self._rng, self._agenda.at
        failed = AUTHENTICATION_FAILED
        for _ in range(count):
            t += 10 * SECOND + int(rng.random() * 80 * SECOND)
            at(t, records.tracking, case, failed, role, CLIENT, None, None, reason)
        return t

    def _unlocked(self, case: ReturnCase, role: str, rhash: str, locked_at: int) -> int:
        """A firm user unlocks the recipient; the client comes back through the unlock email."""
        rng, at = self._rng, self._agenda.at
        unlock_at = locked_at + 20 * MINUTE + int(rng.expovariate(1.0) * 16 * HOUR)
        user = firm_user(rng, case.firm)
        at(unlock_at, records.lifecycle, case, "UNLOCKED", user, role)
        at(unlock_at, records.tracking, case, ACCESS_UNLOCKED, role, FIRM_USER, user)
        notice = self._mail.mailer.message(
            "UNLOCK_NOTICE", "EMAIL", case.firm.firm_id, return_id=case.return_id,
            client_id=case.client_id, role=role, recipient_hash=rhash,
        )  # fmt: skip
        fate = self._mail.mailer.email(notice, unlock_at + SECOND, open_rate=0.85)
        if fate.opened_at is None:
            return NEVER
        back = fate.opened_at + 10 * SECOND + int(rng.random() * 2 * MINUTE)
        at(back, records.tracking, case, ACCESS_LINK_SELECTED, role, CLIENT)
        return back

    # -- inside the return ----------------------------------------------------------------
    def _sign(self, case: ReturnCase, role: str, t: int) -> tuple[int, int]:
        """KBA rounds, then e-signing; after three failed rounds the firm signs manually."""
        rng, rates, at = self._rng, self._rates, self._agenda.at
        for kba_round in range(1, KBA_ROUNDS + 1):
            t += MINUTE + int(rng.random() * 3 * MINUTE)
            if rng.random() < self._kba_pass:
                kind = KBA_SUCCEEDED
                at(t, records.tracking, case, kind, role, CLIENT, None, None, None, kba_round)
                if rng.random() < rates.other_documents:
                    t += 30 * SECOND + int(rng.random() * 2 * MINUTE)
                    at(t, records.tracking, case, OTHER_DOCUMENTS_ESIGNED, role, CLIENT)
                t += 30 * SECOND + int(rng.random() * 3 * MINUTE)
                return t, t
            kind = KBA_FAILED
            at(t, records.tracking, case, kind, role, CLIENT, None, None, None, kba_round)
        return t, t + 2 * DAY + int(rng.random() * 8 * DAY)  # paper signature, recorded later

    def _downloads(self, case: ReturnCase, role: str, t: int) -> int:
        rng, rates, at = self._rng, self._rates, self._agenda.at
        if rng.random() < rates.efile_download:
            t += 20 * SECOND + int(rng.random() * 3 * MINUTE)
            at(t, records.tracking, case, EFILE_FORMS_DOWNLOADED, role, CLIENT)
        for _ in range(int(rng.random() * 3)):
            t += 10 * SECOND + int(rng.random() * 2 * MINUTE)
            name = DOCUMENTS[int(rng.random() * len(DOCUMENTS))]
            at(t, records.tracking, case, DOCUMENT_DOWNLOADED, role, CLIENT, None, name)
        if role == TAXPAYER and rng.random() < rates.k1_partnership:
            for partner in PARTNERS[: 2 + int(rng.random() * 4)]:
                t += 20 * SECOND + int(rng.random() * MINUTE)
                kind = K1_DISTRIBUTED
                at(t, records.tracking, case, kind, role, CLIENT, None, partner)
        if role != CC and rng.random() < rates.upload:
            name = UPLOADS[int(rng.random() * len(UPLOADS))]
            t += MINUTE + int(rng.random() * 5 * MINUTE)
            at(t, records.tracking, case, FILES_UPLOADED, role, CLIENT, None, name)
            if rng.random() < rates.upload_deleted:
                t += 30 * SECOND + int(rng.random() * 10 * MINUTE)
                kind = UPLOADED_FILES_DELETED
                at(t, records.tracking, case, kind, role, CLIENT, None, name)
        return t
