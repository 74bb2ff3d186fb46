"""`simulate(plan, source_only=True)`: the same season without what the stream worker derives."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from producers.simulator import SimulationPlan, simulate
from producers.simulator.sources import is_worker_derived
from schemas import clients, firms
from schemas.catalogue import CLIENT_EVENT, DELIVERY_EVENT, FIRM_SETTINGS, TRACKING_EVENT
from schemas.clients import ClientEventType
from schemas.firms import FirmSettings
from streams.client_status import rules
from streams.client_status.state import ClientState
from streams.effects import notification
from streams.outputs import Notify, Rejected

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
        "INVITE_SENT",  # only the worker's re-invite after an email change
    }
    invites = [r[2] for r in sources if r[2].get("event_type") == "INVITE_SENT"]
    assert invites and all(r["invite_trigger"] != "EMAIL_CHANGED" for r in invites)


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
        (CLIENT_EVENT, {"event_type": "INVITE_SENT", "invite_trigger": "AUTOMATIC"}, False),
        # an email change while Not Enrolled: the worker re-sends the invite itself
        (CLIENT_EVENT, {"event_type": "INVITE_SENT", "invite_trigger": "EMAIL_CHANGED"}, True),
        (TRACKING_EVENT, {"event_type": "SIGNING_REMINDER_SENT"}, False),
        (TRACKING_EVENT, {"event_type": "STATUS_CHANGED"}, False),
    ],
)
def test_which_records_the_worker_derives(
    schema: str, facts: dict[str, str], derived: bool
) -> None:
    assert is_worker_derived(schema, facts) is derived


def _fold_client_events(plan: SimulationPlan) -> tuple[list[Any], list[str]]:
    """The source-only season's client events through the worker's status rule: what it
    emits (events and notification requests), and why it refused anything."""
    settings: dict[str, FirmSettings] = {}
    states: dict[str, ClientState] = {}
    emitted: list[Any] = []
    refusals: list[str] = []
    for schema_name, _, record in simulate(plan, source_only=True):
        if schema_name == FIRM_SETTINGS:
            settings[record["firm_id"]] = firms.from_record(record)
        if schema_name != CLIENT_EVENT:
            continue
        event = clients.from_record(record)
        firm = settings.get(event.firm_id) or FirmSettings(event.firm_id)
        state, outputs = rules.apply(states.get(event.client_id), event, firm)
        if state is not None:
            states[event.client_id] = state
        for output in outputs:
            if isinstance(output, Rejected):
                refusals.append(output.reason)
            else:
                emitted.append((event, output))
    return emitted, refusals


def test_the_reinvite_after_an_email_change_is_the_one_the_worker_sends() -> None:
    plan = SimulationPlan(seed=6, firms=5, clients_per_firm=100, returns=300)
    emitted, refusals = _fold_client_events(plan)
    full = list(simulate(plan))
    simulated = {
        r["event_id"]: r
        for name, _, r in full
        if name == CLIENT_EVENT and r["event_type"] == "INVITE_SENT"
        if r["invite_trigger"] == "EMAIL_CHANGED"
    }
    by_worker = {
        str(output.event_id): clients.to_record(output)
        for _, output in emitted
        if isinstance(output, clients.ClientEvent)
        and output.event_type is ClientEventType.INVITE_SENT
    }

    assert len(simulated) > 5  # the plan changes some addresses while Not Enrolled
    assert simulated == by_worker  # same ids, link, expiry and cause as the rule derives
    assert not [r for r in refusals if r.startswith("invites go only to Not Invited")]
    # the worker's invite email is the message whose provider events the season reports
    messages = {r["message_id"] for name, _, r in full if name == DELIVERY_EVENT}
    for cause, output in emitted:
        if isinstance(output, Notify) and output.link_id in {
            r["link_id"] for r in simulated.values()
        }:
            request = notification(output, cause.firm_id, cause.event_id, cause.occurred_at, False)
            assert request["notification_id"] in messages
    # the client follows the worker's link: its selections are accepted
    selected = {
        r["link_id"]
        for name, _, r in full
        if name == CLIENT_EVENT and r["event_type"] == "LINK_SELECTED"
    }
    assert selected & {r["link_id"] for r in simulated.values()}
    assert not [r for r in refusals if "not the client's current link" in r]
    assert all(UUID(r["caused_by"]) for r in simulated.values())
