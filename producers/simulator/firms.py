"""Simulated firms: their users and the settings their rules run with.

Defaults follow the product articles: automatic invites off unless chosen (grace period 3
days), links valid 14 days, 3 wrong codes lock a login for 2 hours, 3 consecutive access
failures lock a return. Reminder cadences are firm choices: signing reminders every 7 days
(some firms 3 or 5), voucher reminders 7 days before each due date (some 3 or 14), and 20%
of firms send automatic invitation reminders every 5 days.
"""

from __future__ import annotations

from random import Random

from producers.simulator.cases import Firm
from producers.simulator.plan import FunnelRates

SIGNING_INTERVALS = (7, 7, 7, 5, 3)
VOUCHER_DAYS_BEFORE = (7, 7, 7, 3, 14)


def make_firms(rng: Random, run_tag: str, count: int, rates: FunnelRates) -> list[Firm]:
    """The firms of a run. Each feature is dealt evenly (a share `rate` of any run of
    consecutive firms has it, from a random offset), so even five firms show the variety."""
    offsets = [rng.random() for _ in range(4)]
    return [_firm(rng, run_tag, index, offsets, rates) for index in range(1, count + 1)]


def _dealt(index: int, offset: float, rate: float) -> bool:
    return ((index + offset) * rate) % 1.0 < rate


def _firm(rng: Random, run_tag: str, index: int, offsets: list[float], rates: FunnelRates) -> Firm:
    firm_id = f"{run_tag}-F{index:04d}"
    sso, ssn, automatic, reminders = offsets
    return Firm(
        firm_id=firm_id,
        users=tuple(f"{firm_id}-U{n:02d}" for n in range(1, 2 + int(rng.random() * 6))),
        sso_enabled=_dealt(index, sso, rates.sso_firm),
        ssn_verification_allowed=_dealt(index, ssn, rates.ssn_verification_firm),
        automatic_invites_enabled=_dealt(index, automatic, rates.automatic_invites_firm),
        automatic_invite_grace_days=3,
        link_expiry_days=14,
        max_otp_failures=3,
        otp_lockout_minutes=120,
        max_access_failures=3,
        signing_reminder_interval_days=rng.choice(SIGNING_INTERVALS),
        voucher_reminder_days_before=rng.choice(VOUCHER_DAYS_BEFORE),
        invitation_reminder_interval_days=(
            5 if _dealt(index, reminders, rates.automatic_reminders_firm) else 0
        ),
    )


def firm_user(rng: Random, firm: Firm) -> str:
    """One of the firm's users, at random."""
    users = firm.users
    return users[int(rng.random() * len(users))]
