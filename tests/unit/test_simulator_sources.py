"""`simulate(plan, source_only=True)`: the same season without what the stream worker derives."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from producers.simulator import SimulationPlan, simulate
from producers.simulator.sources import is_worker_derived
from schemas.catalogue import CLIENT_EVENT, TRACKING_EVENT

PLAN = SimulationPlan(seed=3, firms=4, clients_per_firm=30, returns=80, duration=timedelta(days=40))


def test_source_only_is_the_full_season_minus_the_derived_records() -> None:
    full = list(simulate(PLAN))
    sources = list(simulate(PLAN, source_only=True))

    assert sources == [r for r in full if not is_worker_derived(r[0], r[2])]
    dropped = Counter(r[2]["event_type"] for r in full if is_worker_derived(r[0], r[2]))
    assert set(dropped) == {
        "STATUS_CHANGED",
        "LOGIN_LOCKED",
        "LINK_SUPERSEDED",
        "IDENTITY_VERIFIED",
    }


@pytest.mark.parametrize(
    ("schema", "facts", "derived"),
    [
        (CLIENT_EVENT, {"event_type": "STATUS_CHANGED"}, True),
        (CLIENT_EVENT, {"event_type": "LOGIN_LOCKED"}, True),
        (CLIENT_EVENT, {"event_type": "LINK_SUPERSEDED"}, True),
        (CLIENT_EVENT, {"event_type": "IDENTITY_VERIFIED", "verification_method": "OTP_SMS"}, True),
        (
            CLIENT_EVENT,
            {"event_type": "IDENTITY_VERIFIED", "verification_method": "SSN_LAST4"},
            True,
        ),
        # a firm user's confirmation is a source event
        (
            CLIENT_EVENT,
            {"event_type": "IDENTITY_VERIFIED", "verification_method": "FIRM_CONFIRMATION"},
            False,
        ),
        # timer-driven system events stay: later events use their link ids
        (CLIENT_EVENT, {"event_type": "LOGIN_UNLOCKED"}, False),
        (CLIENT_EVENT, {"event_type": "LINK_EXPIRED"}, False),
        (CLIENT_EVENT, {"event_type": "INVITE_SENT"}, False),
        (TRACKING_EVENT, {"event_type": "SIGNING_REMINDER_SENT"}, False),
        (TRACKING_EVENT, {"event_type": "STATUS_CHANGED"}, False),
    ],
)
def test_which_records_the_worker_derives(
    schema: str, facts: dict[str, str], derived: bool
) -> None:
    assert is_worker_derived(schema, facts) is derived
