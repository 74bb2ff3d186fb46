"""Simulated tax-season events generated inside ClickHouse (INSERT ... SELECT FROM numbers()).

The data model, in SQL expressions of a return number `r` (0 <= r < returns):
- firm: `firms` firms of skewed sizes (with 2,000 firms and 4M returns: firm 0 the largest,
  25,553 returns; the median firm 1,680);
- the season: the initial email of a return is processed between 20 Jan and 25 Apr 2026,
  then 15 to 35 tracking events follow (25 on average) over about a week, in the order a
  return lives: email processed, delivered, opened (most), link selected, accessed, then
  downloads, failures (a few lock), reminders, uploads, K-1s, and most returns e-signed;
- one client per return; about 30% of clients get Dynamic Password invites (client_events);
- three delivery events per return's initial email (processed, delivered, opened: some by
  machines), so the email metrics of the dashboard have data.

Every row goes through the real tables and materialized views of our migrations.
"""

from __future__ import annotations

from datetime import date

SEASON_START = date(2026, 1, 20)
SEASON_END = date(2026, 5, 31)  # the dashboard's range: the whole season
_SPREAD_S = 95 * 86_400  # initial emails go out over 95 days
_STEP_S = 20_000  # each event of a return falls in its own ~5.5 h window, so times increase


def firm_of(r: str, firms: int) -> str:
    """SQL: the firm number of return `r` (a skewed draw: small firm numbers are big firms)."""
    return f"toUInt32(floor({firms} * pow((cityHash64({r}, 'firm') % 1000000) / 1e6, 1.5)))"


def firm_id(r: str, firms: int) -> str:
    """SQL: the firm id of return `r`."""
    return f"concat('F-', leftPad(toString({firm_of(r, firms)}), 5, '0'))"


def return_id(r: str) -> str:
    """SQL: the return id of return number `r`."""
    return f"concat('R-2025-', leftPad(toString({r}), 8, '0'))"


def _sent_at(r: str) -> str:
    """SQL: when the return's initial email was processed (DateTime64(3))."""
    start = f"toDateTime64('{SEASON_START} 08:00:00', 3, 'UTC')"
    return f"{start} + toIntervalSecond(cityHash64({r}, 'sent') % {_SPREAD_S})"


# Event types after the first five, drawn per event (weights by repetition).
_LATER_EVENTS = (
    ["DOCUMENT_DOWNLOADED"] * 6
    + ["TAX_RETURN_ACCESSED"] * 5
    + ["EFILE_FORMS_DOWNLOADED"] * 2
    + ["AUTHENTICATION_FAILED"] * 2
    + ["SIGNING_REMINDER_SENT"] * 2
    + [
        "VOUCHER_REMINDER_SENT",
        "ACCESS_CODE_EMAIL_PROCESSED",
        "ACCESS_CODE_EMAIL_DELIVERED",
        "ACCESS_CODE_EMAIL_OPENED",
        "K1_DISTRIBUTED",
        "FILES_UPLOADED",
        "KBA_SUCCEEDED",
        "ACCESS_LOCKED",
        "ACCESS_UNLOCKED",
    ]
)
_FIRST_EVENTS = (
    "INITIAL_EMAIL_PROCESSED",
    "INITIAL_EMAIL_DELIVERED",
    "INITIAL_EMAIL_OPENED",
    "ACCESS_LINK_SELECTED",
    "TAX_RETURN_ACCESSED",
)
_SYSTEM_EVENTS = (
    "INITIAL_EMAIL_PROCESSED",
    "INITIAL_EMAIL_DELIVERED",
    "SIGNING_REMINDER_SENT",
    "VOUCHER_REMINDER_SENT",
    "ACCESS_CODE_EMAIL_PROCESSED",
    "ACCESS_CODE_EMAIL_DELIVERED",
    "ACCESS_LOCKED",
)


def _array(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def tracking_insert(first: int, count: int, firms: int) -> str:
    """INSERT of the tracking events of returns `first` .. `first + count - 1`."""
    events = len(_FIRST_EVENTS)
    kind = f"""multiIf(
            k = n - 1 AND h % 10 < 8, 'OTHER_DOCUMENTS_ESIGNED',
            k < {events}, {_array(_FIRST_EVENTS)}[k + 1],
            {_array(_LATER_EVENTS)}[cityHash64(r, k) % {len(_LATER_EVENTS)} + 1])"""
    return f"""
INSERT INTO tracking_events (event_id, event_type, occurred_at, firm_id, return_id,
    recipient_role, actor, client_id, firm_user, detail, failure_reason, kba_round, caused_by,
    kafka_partition, kafka_offset)
SELECT generateUUIDv4(r * 64 + k), {kind} AS event_type,
       sent + toIntervalSecond(k * {_STEP_S} + cityHash64(r, k, 't') % {_STEP_S}),
       {firm_id("r", firms)}, {return_id("r")},
       if(h % 7 = 0, 'SPOUSE', 'TAXPAYER'),
       if(event_type IN {_array(_SYSTEM_EVENTS)}, 'SYSTEM', 'CLIENT'),
       concat('C-', toString(r)), '',
       if(event_type LIKE '%DOWNLOADED' OR event_type = 'K1_DISTRIBUTED',
          concat('2025 Form ', toString(1040 + cityHash64(r, k, 'f') % 5), '.pdf'), ''),
       if(event_type = 'AUTHENTICATION_FAILED', 'WRONG_SSN', ''), 0, NULL,
       r % 6, r * 64 + k
FROM (
    SELECT number AS r, cityHash64(number) AS h, {_sent_at("number")} AS sent,
           15 + h % 21 AS n
    FROM numbers({first}, {count})
)
ARRAY JOIN range(n) AS k
SETTINGS max_insert_threads = 2
"""  # noqa: S608 - numbers and constants of this module


def delivery_insert(first: int, count: int, firms: int) -> str:
    """INSERT of the initial-email delivery events (processed, delivered, opened)."""
    return f"""
INSERT INTO delivery_events (event_id, provider, provider_event_id, channel, status,
    occurred_at, received_at, message_id, message_kind, firm_id, return_id, client_id,
    recipient_role, recipient_hash, machine_open, kafka_partition, kafka_offset)
SELECT generateUUIDv4(r * 4 + s), 'SENDGRID', toString(generateUUIDv4(r * 4 + s + 1)),
       'EMAIL', ['PROCESSED', 'DELIVERED', 'OPEN'][s + 1],
       sent + toIntervalSecond(s * {_STEP_S}), sent + toIntervalSecond(s * {_STEP_S} + 2),
       concat('M-', toString(r)), 'INITIAL_EMAIL', {firm_id("r", firms)}, {return_id("r")},
       concat('C-', toString(r)), 'TAXPAYER', '', s = 2 AND cityHash64(r, 'bot') % 4 = 0,
       r % 6, r * 4 + s
FROM (SELECT number AS r, {_sent_at("number")} AS sent FROM numbers({first}, {count}))
ARRAY JOIN range(if(cityHash64(r, 'open') % 10 < 8, 3, 2)) AS s
"""  # noqa: S608 - numbers and constants of this module


def client_insert(first: int, count: int, firms: int) -> str:
    """INSERT of Dynamic Password invites, link selections and connections (30% of clients)."""
    return f"""
INSERT INTO client_events (event_id, event_type, occurred_at, firm_id, client_id, actor,
    invite_trigger, link_id, status_from, status_to, kafka_partition, kafka_offset)
SELECT generateUUIDv4(r * 4 + s), ['INVITE_SENT', 'LINK_SELECTED', 'STATUS_CHANGED'][s + 1],
       sent - toIntervalDay(1) + toIntervalSecond(s * 3 * 3600),
       {firm_id("r", firms)}, concat('C-', toString(r)), if(s = 0, 'SYSTEM', 'CLIENT'),
       if(s = 0, 'AUTOMATIC', ''), concat('L-', toString(r)),
       if(s = 2, 'NOT_ENROLLED', ''), if(s = 2, 'CONNECTED', ''), r % 6, r * 4 + s
FROM (SELECT number AS r, {_sent_at("number")} AS sent FROM numbers({first}, {count})
      WHERE cityHash64(number, 'dp') % 10 < 3)
ARRAY JOIN range(1 + cityHash64(r, 'steps') % 3) AS s
"""  # noqa: S608 - numbers and constants of this module


def sample_returns_sql(numbers: list[int], firms: int) -> str:
    """SELECT (firm_id, return_id) of the given return numbers."""
    listed = ", ".join(map(str, numbers))
    return (
        f"SELECT {firm_id('r', firms)}, {return_id('r')} FROM (SELECT arrayJoin([{listed}]) AS r)"  # noqa: S608
    )
