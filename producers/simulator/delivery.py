"""Email and SMS providers as the simulation sees them: statuses reported, and what people did.

`Mailer.email` schedules the SendGrid-like webhook events of one message (processed, deferred,
delivered or bounced / dropped, machine and human opens, clicks, spam reports, unsubscribes,
occasional duplicate deliveries of a webhook event) and returns the message's fate, which the
story then turns into Client Tracking or Dynamic Password events. `Mailer.sms` does the same
with Twilio-like status callbacks (no callback for the initial status, as Twilio does).
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from producers.simulator import records
from producers.simulator.agenda import HOUR, MINUTE, SECOND, Agenda
from producers.simulator.cases import Message
from producers.simulator.plan import FunnelRates
from producers.simulator.records import NO_DETAIL, DeliveryDetail

HARD_BOUNCES = (
    ("Invalid Address", "550 5.1.1 The email account that you tried to reach does not exist"),
    ("Invalid Address", "550 5.1.10 Recipient address rejected: access denied"),
    ("Mailbox Unavailable", "550 5.2.1 The email account that you tried to reach is disabled"),
)
SOFT_BOUNCES = (
    ("Mailbox Unavailable", "452 4.2.2 The recipient's inbox is out of storage space"),
    ("Reputation", "554 5.7.1 Service unavailable; client host blocked using a block list"),
    ("Technical", "550 5.7.26 Unauthenticated email is not accepted from this domain"),
    ("Content", "554 5.7.1 Message rejected as spam"),
    ("Frequency or Volume Too High", "421 4.7.28 Too many messages from your IP"),
)
DROP_REASONS = ("Bounced Address", "Unsubscribed Address", "Spam Reporting Address", "Invalid")
DEFER_REASON = "421 4.7.0 Temporary System Problem. Try again later"
SMS_UNDELIVERED = (
    ("30003", "Unreachable destination handset"),
    ("30005", "Unknown destination handset"),
    ("30006", "Landline or unreachable carrier"),
    ("30007", "Message filtered by the carrier"),
    ("30008", "Unknown error"),
)
SMS_FAILED = (
    ("21610", "Attempt to send to unsubscribed recipient"),
    ("30034", "Message from an unregistered number"),
)


@dataclass(frozen=True, slots=True)
class EmailFate:
    """What happened to an email; times in epoch ms, None when it did not happen."""

    processed_at: int
    delivered_at: int | None
    bounced_at: int | None  # bounced or dropped: the glossary's "Bounced"
    opened_at: int | None  # first human open (machine opens are not engagement)
    clicked_at: int | None


class Mailer:
    """Sends simulated messages for every story of one simulation."""

    def __init__(self, agenda: Agenda, rng: Random, rates: FunnelRates, run_tag: str):
        self._agenda, self._rng, self._rates = agenda, rng, rates
        self._run_tag = run_tag
        self._sid_prefix = f"SM{hash_tag(run_tag):016x}"
        self._sent = 0

    def message(
        self,
        kind: str,
        channel: str,
        firm_id: str,
        *,
        return_id: str | None = None,
        client_id: str | None = None,
        role: str | None = None,
        recipient_hash: str | None = None,
        message_id: str | None = None,
    ) -> Message:
        """A new message with an id of its own, or `message_id` (the id the system gives a
        message it sends itself, which providers echo back)."""
        self._sent += 1
        sent = self._sent
        return Message(
            message_id=message_id or f"{self._run_tag}-M{sent:09d}",
            provider_ref=f"{self._sid_prefix}{sent:016x}",
            kind=kind,
            channel=channel,
            provider="SENDGRID" if channel == "EMAIL" else "TWILIO",
            firm_id=firm_id,
            return_id=return_id,
            client_id=client_id,
            recipient_role=role,
            recipient_hash=recipient_hash,
        )

    def email(
        self,
        message: Message,
        sent_at: int,
        *,
        open_rate: float | None = None,
        open_delay_mean_ms: int = 8 * HOUR,
    ) -> EmailFate:
        """Schedule the webhook events of one email and return what the recipient did."""
        rng, rates = self._rng, self._rates
        t = sent_at + 200 + int(rng.random() * 1800)
        processed_at = t
        self._report(message, t, "PROCESSED")
        if rng.random() < rates.email_dropped:
            reason = DROP_REASONS[int(rng.random() * len(DROP_REASONS))]
            self._report(message, t + 100, "DROPPED", (None, None, False, None, reason))
            return EmailFate(processed_at, None, t + 100, None, None)
        if rng.random() < rates.email_deferred:
            for _ in range(1 + int(rng.random() * 2)):
                t += 5 * MINUTE + int(rng.random() * 25 * MINUTE)
                self._report(message, t, "DEFERRED", (None, None, False, None, DEFER_REASON))
        t += SECOND + int(rng.random() * 19 * SECOND)
        if rng.random() < rates.email_bounced:
            self._report(message, t, "BOUNCE", self._bounce())
            return EmailFate(processed_at, None, t, None, None)
        self._report(message, t, "DELIVERED")
        return self._engagement(message, processed_at, t, open_rate, open_delay_mean_ms)

    def sms(self, message: Message, sent_at: int) -> int | None:
        """Schedule the status callbacks of one SMS; returns when it was delivered, if it was."""
        rng, rates = self._rng, self._rates
        t = sent_at + 100
        if rng.random() < rates.sms_queued_reported:
            self._report(message, t, "QUEUED")
        if rng.random() < rates.sms_sending_reported:
            self._report(message, t + 400, "SENDING")
        t += SECOND + int(rng.random() * SECOND)
        if rng.random() < rates.sms_failed:
            code, reason = SMS_FAILED[int(rng.random() * len(SMS_FAILED))]
            self._report(message, t, "FAILED", (None, None, False, code, reason))
            return None
        self._report(message, t, "SENT")
        t += 2 * SECOND + int(rng.random() * 8 * SECOND)
        if rng.random() < rates.sms_undelivered:
            code, reason = SMS_UNDELIVERED[int(rng.random() * len(SMS_UNDELIVERED))]
            self._report(message, t, "UNDELIVERED", (None, None, False, code, reason))
            return None
        self._report(message, t, "DELIVERED")
        return t

    def _engagement(
        self,
        message: Message,
        processed_at: int,
        delivered_at: int,
        open_rate: float | None,
        open_delay_mean_ms: int,
    ) -> EmailFate:
        rng, rates = self._rng, self._rates
        if rng.random() < rates.email_machine_open:
            machine_open = (None, None, True, None, None)
            self._report(
                message,
                delivered_at + MINUTE + int(rng.random() * 30 * MINUTE),
                "OPEN",
                machine_open,
            )
        if rng.random() >= (rates.email_opened if open_rate is None else open_rate):
            return EmailFate(processed_at, delivered_at, None, None, None)
        opened_at = delivered_at + 30 * SECOND + int(rng.expovariate(1.0) * open_delay_mean_ms)
        self._report(message, opened_at, "OPEN")
        clicked_at = None
        if rng.random() < rates.email_clicked_after_open:
            clicked_at = opened_at + 10 * SECOND + int(rng.random() * 5 * MINUTE)
            self._report(message, clicked_at, "CLICK")
        self._complaints(message, opened_at)
        return EmailFate(processed_at, delivered_at, None, opened_at, clicked_at)

    def _complaints(self, message: Message, opened_at: int) -> None:
        rng, rates = self._rng, self._rates
        later = opened_at + MINUTE + int(rng.random() * HOUR)
        if rng.random() < rates.email_spam_report:
            self._report(message, later, "SPAMREPORT")
        elif rng.random() < rates.email_unsubscribe:
            self._report(message, later, "UNSUBSCRIBE")
        elif rng.random() < rates.email_group_unsubscribe:
            self._report(message, later, "GROUP_UNSUBSCRIBE")
            if rng.random() < rates.email_group_resubscribe_after_unsubscribe:
                self._report(
                    message, later + HOUR + int(rng.random() * 48 * HOUR), "GROUP_RESUBSCRIBE"
                )

    def _bounce(self) -> DeliveryDetail:
        rng = self._rng
        if rng.random() < self._rates.email_hard_bounce_share:
            classification, reason = HARD_BOUNCES[int(rng.random() * len(HARD_BOUNCES))]
            return ("bounce", classification, False, reason[:3], reason)
        classification, reason = SOFT_BOUNCES[int(rng.random() * len(SOFT_BOUNCES))]
        return ("blocked", classification, False, reason[:3], reason)

    def _report(
        self, message: Message, time_ms: int, status: str, detail: DeliveryDetail = NO_DETAIL
    ) -> None:
        """One provider event; now and then the provider delivers its webhook twice."""
        rng, agenda = self._rng, self._agenda
        lag = 300 + int(rng.random() * 4700)
        seq = agenda.at(time_ms, records.delivery, message, status, lag, detail)
        if seq and message.provider == "SENDGRID" and rng.random() < self._rates.webhook_duplicate:
            retry_lag = lag + 30 * SECOND + int(rng.random() * 10 * MINUTE)
            original = agenda.event_id(seq)
            agenda.at(time_ms, records.delivery, message, status, retry_lag, detail, original)


def hash_tag(text: str) -> int:
    """A stable 64-bit number from text (Python's hash() is salted per process)."""
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value
