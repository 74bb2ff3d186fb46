"""A firm's season at a glance: distinct totals over the range and every engagement figure.

The dashboard reads this in one request. Totals merge the daily `uniqExact` states across the
whole range, so a message delivered on Monday and opened on Tuesday counts once in each
metric of the season (summing the days would count a subject once per day it was active).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clickhouse_connect.driver.client import Client

from services.analytics.queries import (
    DAILY_METRICS,
    DailyEngagement,
    InviteFunnel,
    MilestoneTiming,
    ReminderConversion,
    ReturnFunnel,
    firm_engagement,
    invite_funnel,
    reminder_conversion,
    return_milestones,
)

SEASON_TOTALS_SQL = f"""
SELECT {", ".join(f"uniqExactMergeIf(subjects, metric = '{m}') AS {m}" for m in DAILY_METRICS)}
FROM firm_daily_activity
WHERE firm_id = {{firm_id:String}} AND day BETWEEN {{start:Date}} AND {{end:Date}}
"""  # noqa: S608 - the metric names are constants of the queries module

REMINDER_WINDOW_DAYS = 7  # an e-sign this soon after a signing reminder counts as its effect
INVITE_WINDOW_DAYS = 30  # an invite's link selection and connection count within this


@dataclass(frozen=True)
class SeasonTotals:
    """Distinct messages, returns, events or clients with each activity over the whole range
    (the metrics of `DailyEngagement`)."""

    emails_processed: int = 0
    emails_delivered: int = 0
    emails_opened: int = 0  # human opens only
    emails_bounced: int = 0
    returns_accessed: int = 0
    authentication_failures: int = 0
    lockouts: int = 0
    signing_reminders_sent: int = 0
    voucher_reminders_sent: int = 0
    invitation_reminders_sent: int = 0
    invites_sent: int = 0
    clients_connected: int = 0


@dataclass(frozen=True)
class ReminderEffect:
    """Signing reminders sent in the range and those followed by an e-sign within the window."""

    window_days: int
    reminders: int
    converted: int


@dataclass(frozen=True)
class InviteEffect:
    """Clients invited in the range, then selecting the link, then connected (in order)."""

    window_days: int
    invited: int
    link_selected: int
    connected: int


@dataclass(frozen=True)
class SeasonOverview:
    """Everything the engagement dashboard shows for one firm and one range of days."""

    firm_id: str
    start: date
    end: date
    totals: SeasonTotals
    return_funnel: ReturnFunnel
    time_to_action: list[MilestoneTiming]
    reminders: ReminderEffect
    invites: InviteEffect
    days: list[DailyEngagement]


def season_totals(client: Client, firm_id: str, start: date, end: date) -> SeasonTotals:
    """Distinct subjects of each daily metric from `start` to `end` (both included)."""
    parameters = {"firm_id": firm_id, "start": start, "end": end}
    row = client.query(SEASON_TOTALS_SQL, parameters=parameters).result_rows[0]
    return SeasonTotals(*map(int, row))


def season_overview(client: Client, firm_id: str, start: date, end: date) -> SeasonOverview:
    """The firm's season from `start` to `end` (both included, whole UTC days).

    Args:
        client: ClickHouse.
        firm_id: the firm; no other firm's rows are read.
        start: first day.
        end: last day.
    """
    milestones = return_milestones(client, firm_id, start, end)
    conversion: ReminderConversion = reminder_conversion(
        client, firm_id, start, end, REMINDER_WINDOW_DAYS
    )
    funnel: InviteFunnel = invite_funnel(client, firm_id, start, end, INVITE_WINDOW_DAYS)
    return SeasonOverview(
        firm_id=firm_id,
        start=start,
        end=end,
        totals=season_totals(client, firm_id, start, end),
        return_funnel=milestones.funnel,
        time_to_action=list(milestones.timings.values()),
        reminders=ReminderEffect(REMINDER_WINDOW_DAYS, conversion.reminders, conversion.converted),
        invites=InviteEffect(
            INVITE_WINDOW_DAYS, funnel.invited, funnel.link_selected, funnel.connected
        ),
        days=firm_engagement(client, firm_id, start, end),
    )
