"""Delivery roll-up: latest status never goes backwards; bounces alert the firm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from streams.delivery.rules import MessageRollup, apply

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def event(
    status: str,
    minutes: int = 0,
    channel: str = "EMAIL",
    kind: str = "INITIAL_EMAIL",
    **fields: Any,
) -> dict[str, Any]:
    return {
        "event_id": str(uuid4()),
        "status": status,
        "occurred_at": T0 + timedelta(minutes=minutes),
        "message_id": "M-1",
        "firm_id": "F-1",
        "channel": channel,
        "message_kind": kind,
        "return_id": "R-1",
        "client_id": None,
        "recipient_role": "TAXPAYER",
        **fields,
    }


def fold(*events: dict[str, Any]) -> tuple[MessageRollup, list[dict[str, Any]]]:
    state, alerts = None, []
    for e in events:
        state, raised = apply(state, e)
        alerts += raised
    assert state is not None
    return state, alerts


@pytest.mark.parametrize(
    ("statuses", "latest"),
    [
        (["PROCESSED", "DELIVERED", "OPEN"], "OPEN"),
        (["PROCESSED", "OPEN", "DELIVERED"], "OPEN"),  # late delivered does not downgrade
        (["PROCESSED", "DEFERRED", "DELIVERED"], "DELIVERED"),
        (["DELIVERED", "PROCESSED"], "DELIVERED"),
        (["PROCESSED", "BOUNCE", "DELIVERED", "OPEN"], "BOUNCE"),
        (["PROCESSED", "DROPPED"], "DROPPED"),
        (["DELIVERED", "OPEN", "CLICK", "OPEN"], "CLICK"),
        (["DELIVERED", "SPAMREPORT"], "DELIVERED"),
    ],
)
def test_latest_status_only_moves_forward(statuses: list[str], latest: str) -> None:
    state, _ = fold(*(event(s, i) for i, s in enumerate(statuses)))
    assert state.status == latest


@pytest.mark.parametrize(
    ("statuses", "latest"),
    [
        (["QUEUED", "SENT", "DELIVERED"], "DELIVERED"),
        (["QUEUED", "DELIVERED", "SENT"], "DELIVERED"),
        (["QUEUED", "SENDING", "FAILED", "DELIVERED"], "FAILED"),
        (["SENT", "UNDELIVERED"], "UNDELIVERED"),
    ],
)
def test_sms_statuses(statuses: list[str], latest: str) -> None:
    state, _ = fold(*(event(s, i, channel="SMS", kind="OTP_SMS") for i, s in enumerate(statuses)))
    assert state.status == latest


def test_machine_opens_are_not_engagement() -> None:
    state, _ = fold(event("DELIVERED"), event("OPEN", 1, machine_open=True))
    assert state.status == "DELIVERED" and state.machine_opens == 1 and state.human_opens == 0
    assert state.first_opened_at is None
    state, _ = fold(event("DELIVERED"), event("OPEN", 1, machine_open=True), event("OPEN", 5))
    assert state.status == "OPEN" and state.human_opens == 1
    assert state.first_opened_at == T0 + timedelta(minutes=5)


def test_a_bounced_initial_email_raises_one_firm_alert() -> None:
    bounce = event("BOUNCE", 1, bounce_classification="Invalid Address")
    state, alerts = fold(event("PROCESSED"), bounce, event("BOUNCE", 2))
    [alert] = alerts
    assert alert["kind"] == "EMAIL_NOT_RECEIVED" and alert["return_id"] == "R-1"
    assert alert["summary"] == "Taxpayer did not receive email: Invalid Address"
    assert alert["caused_by"] == bounce["event_id"]


def test_failed_code_sms_alerts_but_other_bounces_do_not() -> None:
    _, alerts = fold(event("FAILED", channel="SMS", kind="OTP_SMS", error_code="30006"))
    assert [a["kind"] for a in alerts] == ["SMS_NOT_RECEIVED"]
    assert fold(event("BOUNCE", kind="VOUCHER_REMINDER"))[1] == []


def test_flags_are_counted() -> None:
    state, _ = fold(event("DELIVERED"), event("UNSUBSCRIBE", 1), event("SPAMREPORT", 2))
    assert state.unsubscribed and state.complained
