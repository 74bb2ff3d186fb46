"""Which simulated records are source events, and which the stream worker derives itself.

The simulator plays whole stories, so it also writes down what the system does in reply
(status changes, a login locked after three wrong codes, the superseded link, the identity
verified by a passed code, the invite re-sent after an email change while Not Enrolled). The
stream worker derives those same facts from the source events, with ids of its own; a run that
feeds the worker should send only the sources, so what is stored reconciles exactly with what
the rules derive (the worker would refuse a second re-invite and dead-letter it).
Timer-driven system events (automatic invites and reminders, link expiry, login unlock, signing
and voucher reminders) stay: later events of the story refer to their link ids, and the worker
fires timers only on clock ticks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from producers.simulator.agenda import Record, SimulatedRecord
from schemas.catalogue import CLIENT_EVENT

# Client events the status rule emits from the event that causes them, at the same moment.
DERIVED_CLIENT_EVENTS = frozenset({"STATUS_CHANGED", "LOGIN_LOCKED", "LINK_SUPERSEDED"})
# Identity verified by a passed one-time password or SSN check is derived; a firm user's
# confirmation (FIRM_CONFIRMATION) is a source event.
DERIVED_VERIFICATIONS = frozenset({"OTP_SMS", "SSN_LAST4"})


def is_worker_derived(schema_name: str, record: Record) -> bool:
    """True for a record the stream worker derives itself from earlier source events."""
    if schema_name != CLIENT_EVENT:
        return False
    kind = record["event_type"]
    if kind in DERIVED_CLIENT_EVENTS:
        return True
    if kind == "INVITE_SENT":
        return record.get("invite_trigger") == "EMAIL_CHANGED"
    return kind == "IDENTITY_VERIFIED" and record.get("verification_method") in (
        DERIVED_VERIFICATIONS
    )


def source_events(records: Iterable[SimulatedRecord]) -> Iterator[SimulatedRecord]:
    """`records` without the ones the stream worker derives."""
    for record in records:
        if not is_worker_derived(record[0], record[2]):
            yield record
