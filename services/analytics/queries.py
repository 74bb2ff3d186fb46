"""Firm analytics: daily engagement, time to milestones, reminder conversion, invite funnel.

Every query is right with duplicates stored (a batch re-read after a crash, an event sent
twice): daily figures count distinct subjects (uniqExact states fed by materialized views),
per-return milestones take the first time of each event type (min ignores repeats), and
reminders are taken once per event id (LIMIT 1 BY). Date ranges are whole UTC days,
`start` and `end` both included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

# Metrics of `firm_daily_activity` (see migration 4), in the order they are reported.
DAILY_METRICS = (
    "emails_processed",
    "emails_delivered",
    "emails_opened",
    "emails_bounced",
    "returns_accessed",
    "authentication_failures",
    "lockouts",
    "signing_reminders_sent",
    "voucher_reminders_sent",
    "invitation_reminders_sent",
    "invites_sent",
    "clients_connected",
)

FIRM_ENGAGEMENT_SQL = f"""
SELECT day, {", ".join(f"uniqExactMergeIf(subjects, metric = '{m}') AS {m}" for m in DAILY_METRICS)}
FROM firm_daily_activity
WHERE firm_id = {{firm_id:String}} AND day BETWEEN {{start:Date}} AND {{end:Date}}
GROUP BY day
ORDER BY day
"""  # noqa: S608 - the metric names are constants of this module

MILESTONES = {  # milestone -> the tracking event that reaches it
    "first_open": "INITIAL_EMAIL_OPENED",
    "access": "TAX_RETURN_ACCESSED",
    "esign": "OTHER_DOCUMENTS_ESIGNED",
}


def _seconds_to(name: str) -> str:
    """Seconds from `sent` to the milestone's first event; NULL when not reached (or before)."""
    at, millis = f"{name}_at", "toUnixTimestamp64Milli"
    return f"if({at} >= sent, ({millis}({at}) - {millis}(sent)) / 1000, NULL)"


# Funnel steps that are counted but not timed (the same pass reads them).
COUNTED_STEPS = {"delivered": "INITIAL_EMAIL_DELIVERED"}
_STEPS = {**MILESTONES, **COUNTED_STEPS}

_FIRST_TIMES = "".join(
    f",\n        minIfOrNull(occurred_at, event_type = '{event}') AS {name}_at"
    for name, event in _STEPS.items()
)
_TIMINGS = "".join(
    f",\n    countIf({name}_at >= sent) AS {name}_reached"
    f",\n    quantilesExactInclusive(0.5, 0.9, 0.99)({_seconds_to(name)}) AS {name}_quantiles"
    for name in MILESTONES
)
_COUNTS = "".join(f",\n    countIf({name}_at >= sent) AS {name}_reached" for name in COUNTED_STEPS)
_MILESTONE_EVENTS = ", ".join(f"'{event}'" for event in _STEPS.values())
TIME_TO_MILESTONES_SQL = f"""
SELECT count() AS returns_sent{_TIMINGS}{_COUNTS}
FROM (
    SELECT
        return_id,
        minIfOrNull(occurred_at, event_type = 'INITIAL_EMAIL_PROCESSED') AS sent{_FIRST_TIMES}
    FROM tracking_events
    WHERE firm_id = {{firm_id:String}}
      AND event_type IN ('INITIAL_EMAIL_PROCESSED', {_MILESTONE_EVENTS})
    GROUP BY return_id
    HAVING sent >= {{start:DateTime64(3, 'UTC')}} AND sent < {{end:DateTime64(3, 'UTC')}}
)
"""  # noqa: S608 - milestone names and event types are constants of this module

REMINDER_CONVERSION_SQL = """
SELECT count() AS reminders, countIf(signed_within) AS converted
FROM (
    SELECT r.event_id AS reminder_id,
           max(s.occurred_at > r.occurred_at
               AND s.occurred_at <= r.occurred_at + toIntervalDay({window_days:UInt32}))
               AS signed_within
    FROM (
        SELECT event_id, return_id, occurred_at
        FROM tracking_events
        WHERE firm_id = {firm_id:String} AND event_type = 'SIGNING_REMINDER_SENT'
          AND occurred_at >= {start:DateTime64(3, 'UTC')}
          AND occurred_at < {end:DateTime64(3, 'UTC')}
        LIMIT 1 BY event_id
    ) AS r
    LEFT JOIN (
        SELECT DISTINCT return_id, occurred_at
        FROM tracking_events
        WHERE firm_id = {firm_id:String} AND event_type = 'OTHER_DOCUMENTS_ESIGNED'
    ) AS s ON s.return_id = r.return_id
    GROUP BY reminder_id
)
"""

INVITE_FUNNEL_SQL = """
SELECT countIf(level >= 1) AS invited, countIf(level >= 2) AS link_selected,
       countIf(level >= 3) AS connected
FROM (
    SELECT client_id,
           windowFunnel({window_s:UInt64})(
               toDateTime(occurred_at),
               event_type = 'INVITE_SENT' AND occurred_at < {end:DateTime64(3, 'UTC')},
               event_type = 'LINK_SELECTED',
               event_type = 'STATUS_CHANGED' AND status_to = 'CONNECTED'
           ) AS level
    FROM client_events
    WHERE firm_id = {firm_id:String}
      AND occurred_at >= {start:DateTime64(3, 'UTC')}
      AND occurred_at < {end:DateTime64(3, 'UTC')} + toIntervalSecond({window_s:UInt64})
      AND event_type IN ('INVITE_SENT', 'LINK_SELECTED', 'STATUS_CHANGED')
    GROUP BY client_id
)
WHERE level >= 1
"""


@dataclass(frozen=True)
class DailyEngagement:
    """One firm's activity on one UTC day: distinct messages, returns, events or clients."""

    day: date
    emails_processed: int = 0
    emails_delivered: int = 0
    emails_opened: int = 0  # human opens only: machine opens (privacy prefetch) excluded
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
class MilestoneTiming:
    """Seconds from a return's first Initial Email - Processed to its first `milestone`."""

    milestone: str
    returns_sent: int  # returns whose initial email was processed in the range
    reached: int  # of those, returns that reached the milestone
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None


@dataclass(frozen=True)
class ReturnFunnel:
    """Returns whose initial email was first processed in the range (`sent`), and how many of
    them reached each later step. Steps are counted each on its own, like the milestones'
    `reached`: a return accessed through a link whose open was never tracked still counts."""

    sent: int
    delivered: int  # Initial Email - Delivered
    opened: int  # Initial Email - Open: human opens only (machine opens raise no such row)
    accessed: int
    esigned: int


@dataclass(frozen=True)
class ReturnMilestones:
    """The return funnel and the time to each milestone, read in one pass."""

    funnel: ReturnFunnel
    timings: dict[str, MilestoneTiming]


@dataclass(frozen=True)
class ReminderConversion:
    """Signing reminders sent in the range and those followed by an e-sign within the window."""

    reminders: int
    converted: int

    @property
    def share(self) -> float:
        return self.converted / self.reminders if self.reminders else 0.0


@dataclass(frozen=True)
class InviteFunnel:
    """Clients invited in the range, then selecting the link, then connected (in that order)."""

    invited: int
    link_selected: int
    connected: int


def firm_engagement(client: Client, firm_id: str, start: date, end: date) -> list[DailyEngagement]:
    """Every day from `start` to `end` (included), days without activity as zeros."""
    result = client.query(
        FIRM_ENGAGEMENT_SQL, parameters={"firm_id": firm_id, "start": start, "end": end}
    )
    by_day = {row[0]: DailyEngagement(row[0], *map(int, row[1:])) for row in result.result_rows}
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [by_day.get(day, DailyEngagement(day)) for day in days]


def time_to_milestones(
    client: Client, firm_id: str, start: date, end: date
) -> dict[str, MilestoneTiming]:
    """p50/p90/p99 time to first open, to access and to e-sign, for returns whose initial
    email was first processed between `start` and `end` (included)."""
    return return_milestones(client, firm_id, start, end).timings


def return_milestones(client: Client, firm_id: str, start: date, end: date) -> ReturnMilestones:
    """The funnel of returns whose initial email was first processed between `start` and `end`
    (included) and their time to each milestone, from one scan of the firm's events."""
    row = client.query(TIME_TO_MILESTONES_SQL, parameters=_range(firm_id, start, end)).result_rows[
        0
    ]
    sent, rest = int(row[0]), row[1:]
    timings = {}
    for index, name in enumerate(MILESTONES):
        reached, quantiles = int(rest[2 * index]), rest[2 * index + 1]
        p50, p90, p99 = quantiles if reached else (None, None, None)
        timings[name] = MilestoneTiming(name, sent, reached, p50, p90, p99)
    delivered = int(rest[2 * len(MILESTONES)])  # the first of COUNTED_STEPS
    steps = {name: timing.reached for name, timing in timings.items()}
    funnel = ReturnFunnel(sent, delivered, steps["first_open"], steps["access"], steps["esign"])
    return ReturnMilestones(funnel, timings)


def reminder_conversion(
    client: Client, firm_id: str, start: date, end: date, window_days: int = 7
) -> ReminderConversion:
    """Signing reminders sent between `start` and `end` (included) and how many were followed
    by an e-sign of the same return within `window_days`."""
    parameters = _range(firm_id, start, end) | {"window_days": window_days}
    reminders, converted = client.query(REMINDER_CONVERSION_SQL, parameters=parameters).result_rows[
        0
    ]
    return ReminderConversion(int(reminders), int(converted))


def invite_funnel(
    client: Client, firm_id: str, start: date, end: date, window_days: int = 30
) -> InviteFunnel:
    """Clients first invited between `start` and `end` (included) who then selected a link and
    then connected, each step within `window_days` of the invite."""
    parameters = _range(firm_id, start, end) | {"window_s": window_days * 86_400}
    invited, selected, connected = client.query(
        INVITE_FUNNEL_SQL, parameters=parameters
    ).result_rows[0]
    return InviteFunnel(int(invited), int(selected), int(connected))


def _range(firm_id: str, start: date, end: date) -> dict[str, Any]:
    """Query parameters for whole UTC days `start`..`end`: [start 00:00, end + 1 day 00:00)."""
    return {
        "firm_id": firm_id,
        "start": datetime.combine(start, time(), UTC),
        "end": datetime.combine(end + timedelta(days=1), time(), UTC),
    }
