"""The Dynamic Password onboarding story of one client, from being added to being connected.

Added by hand, by import or through the API; get requests (DRL, questionnaire, letter); an
invite, manual or automatic after the grace period (never for SSO firms, API clients or
clients without an email address); reminders, email changes and new login links that
supersede older links; links that expire after 14 days, and old links selected anyway. A
selected working link leads to verification (see `verification`).

An email change while Not Enrolled is answered by the stream worker, not by a person: it
re-sends the invite with a new link (`streams/client_status/rules.py`). The story plays that
re-invite with the ids the worker derives from the change, so it is a worker-derived record
(`sources`) and later events name the link the worker issued.
"""

from __future__ import annotations

from dataclasses import replace
from random import Random
from uuid import uuid5

from producers.simulator.agenda import DAY, HOUR, MINUTE, SECOND, Agenda, Record, timestamp
from producers.simulator.cases import ClientCase, Firm
from producers.simulator.client_events import CLIENT, FIRM_USER, NEVER, SYSTEM, ClientEvents
from producers.simulator.contacts import Contacts
from producers.simulator.delivery import EmailFate, Mailer
from producers.simulator.plan import FunnelRates
from producers.simulator.verification import Verification
from schemas.tracking import DERIVED_EVENT_NAMESPACE

GET_REQUEST_KINDS = ("DRL", "DRL", "DRL", "QUESTIONNAIRE", "QUESTIONNAIRE", "LETTER")
LINK_MESSAGE_KIND = {
    "INVITE_SENT": "DYNAMIC_PASSWORD_INVITE",
    "INVITATION_REMINDER_SENT": "INVITATION_REMINDER",
    "NEW_LOGIN_LINK_SENT": "LOGIN_LINK",
}


class ClientDesk:
    """Plays the onboarding story of each client onto the agenda."""

    def __init__(
        self, agenda: Agenda, rng: Random, rates: FunnelRates, mailer: Mailer, contacts: Contacts
    ):
        self._agenda, self._rng, self._rates = agenda, rng, rates
        self._mailer, self._contacts = mailer, contacts
        self._events = ClientEvents(agenda, rng)
        self._verification = Verification(self._events, rng, rates, mailer)

    def onboard(self, firm: Firm, client_id: str, phone_number: int, added_at: int) -> None:
        """Schedule everything that happens to a client the firm adds at `added_at`."""
        rng, rates = self._rng, self._rates
        case = self._added(firm, client_id, phone_number, added_at)
        requested_at = self._get_requests(case, added_at)
        if rng.random() < rates.phone_changed:
            changed_at = added_at + HOUR + int(rng.random() * 10 * DAY)
            phone_hash, phone_masked = self._contacts.phone(phone_number + 1)
            case = replace(case, phone_hash=phone_hash, phone_masked=phone_masked)
            facts = {"phone_hash": phone_hash, "phone_masked": phone_masked}
            self._events.at(changed_at, case, "PHONE_CHANGED", FIRM_USER, facts, user=True)
        ready_at = requested_at
        if case.email_hash is None:
            if rng.random() >= rates.email_added_later:
                return  # no address: no invite can be sent
            ready_at += HOUR + int(rng.random() * 5 * DAY)
            case, _ = self._email_changed(case, ready_at)
        if firm.sso_enabled or case.origin == "API":
            return  # SSO firms and API clients never get dynamic password invites
        if firm.automatic_invites_enabled:
            invite_at = max(requested_at + firm.automatic_invite_grace_days * DAY, ready_at)
            self._enrol(case, invite_at, "AUTOMATIC", SYSTEM)
        elif rng.random() < rates.manual_invite:
            invite_at = ready_at + 10 * MINUTE + int(rng.expovariate(1.0) * 2 * DAY)
            self._enrol(case, invite_at, "MANUAL", FIRM_USER)

    # -- before the invite ----------------------------------------------------------------
    def _added(self, firm: Firm, client_id: str, phone_number: int, added_at: int) -> ClientCase:
        rng, rates = self._rng, self._rates
        draw = rng.random()
        origin = (
            "API"
            if draw < rates.client_from_api
            else "IMPORT"
            if draw < rates.client_from_api + rates.client_imported
            else "MANUAL"
        )
        email = self._contacts.email(client_id) if rng.random() < rates.client_has_email else None
        phone = (
            self._contacts.phone(phone_number) if rng.random() < rates.client_has_phone else None
        )
        case = ClientCase(
            firm=firm,
            client_id=client_id,
            origin=origin,
            email_hash=email[0] if email else None,
            email_masked=email[1] if email else None,
            phone_hash=phone[0] if phone else None,
            phone_masked=phone[1] if phone else None,
        )
        facts: Record = {
            "origin": origin,
            "email_hash": case.email_hash,
            "email_masked": case.email_masked,
            "phone_hash": case.phone_hash,
            "phone_masked": case.phone_masked,
        }
        kind = "CLIENT_IMPORTED" if origin == "IMPORT" else "CLIENT_ADDED"
        actor = SYSTEM if origin == "API" else FIRM_USER
        self._events.at(added_at, case, kind, actor, facts, user=actor == FIRM_USER)
        return case

    def _get_requests(self, case: ClientCase, added_at: int) -> int:
        """Send 1-3 get requests; returns when the first one went out."""
        rng = self._rng
        t = first = added_at + MINUTE + int(rng.random() * 2 * DAY)
        for n in range(1, 2 + int(rng.random() * 3)):
            kind = GET_REQUEST_KINDS[int(rng.random() * len(GET_REQUEST_KINDS))]
            facts = {"get_request_kind": kind, "request_id": f"{case.client_id}-Q{n}"}
            self._events.at(t, case, "GET_REQUEST_SENT", FIRM_USER, facts, user=True)
            t += MINUTE + int(rng.random() * 2 * DAY)
        return first

    def _email_changed(self, case: ClientCase, changed_at: int) -> tuple[ClientCase, str | None]:
        """A firm user changes the address: the case with it, and the change's event id
        (None when the change falls past the end of the window)."""
        owner = f"{case.client_id}-{changed_at:x}"
        email_hash, email_masked = self._contacts.email(owner)
        facts = {"email_hash": email_hash, "email_masked": email_masked}
        event_id = self._events.at(changed_at, case, "EMAIL_CHANGED", FIRM_USER, facts, user=True)
        return replace(case, email_hash=email_hash, email_masked=email_masked), event_id

    # -- links ----------------------------------------------------------------------------
    def _enrol(self, case: ClientCase, invite_at: int, trigger: str, actor: str) -> None:
        """Invite, then remind, re-send or re-issue links until the client verifies or gives up."""
        rng, rates, firm = self._rng, self._rates, case.firm
        link, expires_at, fate = self._issue(case, invite_at, "INVITE_SENT", trigger, actor)
        status = {"status_from": "NOT_INVITED", "status_to": "NOT_ENROLLED"}
        self._events.at(invite_at, case, "STATUS_CHANGED", SYSTEM, status)
        issued_at = invite_at
        for _ in range(4):
            if fate.clicked_at is not None and fate.clicked_at < expires_at:
                self._verification.verify(case, link, fate.clicked_at)
                return
            reminder_at = self._reminder_time(firm, issued_at)
            if rng.random() < rates.email_changed_while_not_enrolled:
                issued_at = issued_at + HOUR + int(rng.random() * 3 * DAY)
                case, change = self._email_changed(case, issued_at)
                if change is None:
                    return  # past the end of the window
                old = link
                link, expires_at, fate = self._worker_reinvite(case, issued_at, change)
                self._superseded(case, issued_at, old, link)
            elif reminder_at < expires_at:
                issued_at, old = reminder_at, link
                automatic = firm.invitation_reminder_interval_days > 0
                link, expires_at, fate = self._issue(
                    case, issued_at, "INVITATION_REMINDER_SENT", "REMINDER",
                    SYSTEM if automatic else FIRM_USER,
                )  # fmt: skip
                self._superseded(case, issued_at, old, link)
                if rng.random() < rates.old_link_clicked:
                    rejected_at = issued_at + HOUR + int(rng.random() * DAY)
                    self._rejected(case, rejected_at, old, "SUPERSEDED_LINK")
            else:
                self._events.at(expires_at, case, "LINK_EXPIRED", SYSTEM, {"link_id": link})
                reissued = self._after_expiry(case, link, expires_at)
                if reissued is None:
                    return
                issued_at, (link, expires_at, fate) = reissued

    def _after_expiry(
        self, case: ClientCase, link: str, expired_at: int
    ) -> tuple[int, tuple[str, int, EmailFate]] | None:
        """The client asks for a new login link, or support sends one; or nothing happens."""
        rng, rates = self._rng, self._rates
        if rng.random() < rates.expired_link_clicked:
            t = expired_at + HOUR + int(rng.random() * 10 * DAY)
            self._rejected(case, t, link, "EXPIRED_LINK")
            self._events.at(t + 30 * SECOND, case, "NEW_LOGIN_LINK_REQUESTED", CLIENT)
            t += 31 * SECOND
            return t, self._issue(case, t, "NEW_LOGIN_LINK_SENT", "CLIENT_REQUEST", SYSTEM, 0.9)
        if rng.random() < rates.support_link:
            t = expired_at + DAY + int(rng.random() * 10 * DAY)
            return t, self._issue(case, t, "NEW_LOGIN_LINK_SENT", "SUPPORT", FIRM_USER)
        return None

    def _issue(
        self,
        case: ClientCase,
        t: int,
        kind: str,
        trigger: str,
        actor: str,
        open_rate: float | None = None,
    ) -> tuple[str, int, EmailFate]:
        """A new link by email: (link id, expiry, what the client did with the email)."""
        expires_at = t + case.firm.link_expiry_days * DAY
        message = self._mailer.message(
            LINK_MESSAGE_KIND[kind], "EMAIL", case.firm.firm_id, client_id=case.client_id,
            role="TAXPAYER", recipient_hash=case.email_hash,
        )  # fmt: skip
        link = f"{message.message_id}-L"
        facts = {
            "invite_trigger": trigger,
            "link_id": link,
            "link_expires_at": timestamp(expires_at),
            "message_id": message.message_id,
        }
        self._events.at(t, case, kind, actor, facts, user=actor == FIRM_USER)
        delay = 10 * MINUTE if open_rate else 20 * HOUR
        fate = self._mailer.email(message, t, open_rate=open_rate, open_delay_mean_ms=delay)
        return link, expires_at, fate

    def _worker_reinvite(self, case: ClientCase, t: int, change: str) -> tuple[str, int, EmailFate]:
        """The invite the stream worker re-sends for the email change `change` (its event id),
        with the worker's ids: the event's, the link's and the notification's, which is the
        message id the provider echoes (`streams/effects.py`). Returns what `_issue` does."""
        expires_at = t + case.firm.link_expiry_days * DAY
        link = _derived("invite-link", change)
        facts = {
            "event_id": _derived("INVITE_SENT", change),
            "invite_trigger": "EMAIL_CHANGED",
            "link_id": link,
            "link_expires_at": timestamp(expires_at),
            "caused_by": change,
        }
        self._events.at(t, case, "INVITE_SENT", SYSTEM, facts)
        message = self._mailer.message(
            LINK_MESSAGE_KIND["INVITE_SENT"], "EMAIL", case.firm.firm_id,
            client_id=case.client_id, role="TAXPAYER", recipient_hash=case.email_hash,
            message_id=_derived(f"notify:{LINK_MESSAGE_KIND['INVITE_SENT']}", change),
        )  # fmt: skip
        fate = self._mailer.email(message, t, open_delay_mean_ms=20 * HOUR)
        return link, expires_at, fate

    def _reminder_time(self, firm: Firm, issued_at: int) -> int:
        if firm.invitation_reminder_interval_days > 0:
            return issued_at + firm.invitation_reminder_interval_days * DAY
        if self._rng.random() < self._rates.manual_reminder:
            return issued_at + 3 * DAY + int(self._rng.random() * 4 * DAY)
        return NEVER

    def _superseded(self, case: ClientCase, t: int, old: str, new: str) -> None:
        self._events.at(t, case, "LINK_SUPERSEDED", SYSTEM, {"link_id": old, "superseded_by": new})

    def _rejected(self, case: ClientCase, t: int, link: str, reason: str) -> None:
        self._events.at(
            t, case, "LINK_REJECTED", CLIENT, {"link_id": link, "failure_reason": reason}
        )


def _derived(kind: str, cause: str) -> str:
    """The id the stream worker derives for `kind` from the event `cause` (as its rules do)."""
    return str(uuid5(DERIVED_EVENT_NAMESPACE, f"{kind}:{cause}"))
