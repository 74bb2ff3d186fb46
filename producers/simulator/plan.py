"""What to simulate (the plan) and how clients behave (the funnel rates), with their defaults.

Rates are probabilities per opportunity. Defaults follow published email and SMS benchmarks
and the product articles (client tracking glossary, dynamic password help pages):

- Email (SendGrid-like): ~0.5% dropped, ~3% bounced (two thirds hard `bounce`, one third soft
  `blocked`), ~4% deferred first, ~65% opened by a human, ~20% of opens followed by a machine
  open (Apple privacy prefetch), ~45% of human opens clicked, rare spam reports and
  unsubscribes, ~0.5% of webhook events delivered twice (providers retry; consumers dedupe).
- SMS (Twilio-like): ~96% delivered, ~3% undelivered (30003/30005/30006/30007/30008), ~1%
  failed before sending (21610, 30034).
- Return access: 8% of SSN or access-code entries are typos (at most two in a row); 4% of
  recipients do not know the SSN (or the code) and fail three times (the stream worker
  derives Access Locked; a firm user unlocks within hours to days). KBA: 5 questions, pass
  with 3, each answered right with probability 0.8 (~94% pass per round), at most 3 rounds,
  then manual signing.
- Dynamic password: 8% wrong codes, 3% expired codes (SMS codes live 5 minutes), 2% of clients
  lock themselves out (3 wrong codes, 2 hours); links live 14 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 2, 2, tzinfo=UTC)  # early in the filing season


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    """The size and window of one simulation; the same plan and seed give the same records.

    Clients are added during the first half of the window and returns are delivered over the
    whole window; events that would fall after its end are not generated (the window is a cut
    through a longer season, so `--days 1` is one day of traffic).
    """

    seed: int = 0
    firms: int = 5
    clients_per_firm: int = 40
    returns: int = 300
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(days=75)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError("the seed must not be negative (it is part of every id)")
        if self.firms < 1:
            raise ValueError("a simulation needs at least one firm")
        if self.clients_per_firm < 0 or self.returns < 0:
            raise ValueError("clients per firm and returns cannot be negative")
        if self.duration <= timedelta(0):
            raise ValueError("the duration must be positive")
        if self.start.tzinfo is None:
            raise ValueError("the start must be timezone-aware (UTC)")

    @property
    def clients(self) -> int:
        return self.firms * self.clients_per_firm

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return self.start_ms + int(self.duration.total_seconds() * 1000)


@dataclass(frozen=True, slots=True)
class FunnelRates:
    """Probabilities of each branch of the funnels (see the module docstring for sources)."""

    # firms
    sso_firm: float = 0.10
    ssn_verification_firm: float = 0.40
    automatic_invites_firm: float = 0.30
    automatic_reminders_firm: float = 0.20
    # email provider
    email_dropped: float = 0.005
    email_bounced: float = 0.03
    email_hard_bounce_share: float = 0.67
    email_deferred: float = 0.04
    email_opened: float = 0.65
    email_machine_open: float = 0.20
    email_clicked_after_open: float = 0.45
    email_spam_report: float = 0.002
    email_unsubscribe: float = 0.002
    email_group_unsubscribe: float = 0.002
    email_group_resubscribe_after_unsubscribe: float = 0.3
    webhook_duplicate: float = 0.005
    # SMS provider
    sms_failed: float = 0.01
    sms_undelivered: float = 0.03
    sms_sending_reported: float = 0.25
    sms_queued_reported: float = 0.05
    # returns
    joint_return: float = 0.35
    signature_required: float = 0.75
    vouchers: float = 0.35
    access_by_code: float = 0.30
    entry_typo: float = 0.08
    access_lockout: float = 0.04  # do not know the SSN or keep mistyping the code
    access_code_email_opened: float = 0.92
    access_code_entered_late: float = 0.04
    kba_question_right: float = 0.80
    other_documents: float = 0.40
    efile_download: float = 0.55
    upload: float = 0.15
    upload_deleted: float = 0.25
    k1_partnership: float = 0.08
    cc_forward: float = 0.10
    recall: float = 0.03
    delete: float = 0.02
    resend_after_bounce: float = 0.50
    payment_recorded: float = 0.60
    # clients (dynamic password)
    client_has_email: float = 0.92
    client_has_phone: float = 0.85
    client_imported: float = 0.35
    client_from_api: float = 0.10
    email_added_later: float = 0.50
    phone_changed: float = 0.05
    email_changed_while_not_enrolled: float = 0.04
    manual_invite: float = 0.85
    manual_reminder: float = 0.50
    old_link_clicked: float = 0.15
    expired_link_clicked: float = 0.30
    support_link: float = 0.10
    verify_by_ssn: float = 0.40
    otp_wrong: float = 0.08
    ssn_last4_wrong: float = 0.12
    otp_expired: float = 0.03
    otp_replayed: float = 0.005
    otp_lockout: float = 0.02
    password_set: float = 0.35
    firm_message: float = 0.40
    connected_elsewhere: float = 0.02
    disconnected: float = 0.02
