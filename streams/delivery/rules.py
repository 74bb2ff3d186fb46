"""Latest status per message from provider callbacks, as a pure function.

Email: processed -> deferred -> delivered -> open -> click; bounce and dropped are terminal.
SMS: queued -> sending -> sent -> delivered; undelivered and failed are terminal. A late
status never downgrades a message (it is still recorded on the delivery topic). Machine opens
are counted apart and are not engagement. A bounced or dropped first email (initial email,
dynamic password invite, access code) or a failed code SMS raises a firm alert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import uuid5

from schemas.tracking import DERIVED_EVENT_NAMESPACE

RANK: dict[str, int] = {
    "PROCESSED": 1,
    "DEFERRED": 2,
    "DELIVERED": 3,
    "OPEN": 4,
    "CLICK": 5,
    "QUEUED": 1,
    "SENDING": 2,
    "SENT": 3,
}
SMS_RANK = {"QUEUED": 1, "SENDING": 2, "SENT": 3, "DELIVERED": 4}
TERMINAL = frozenset({"BOUNCE", "DROPPED", "UNDELIVERED", "FAILED"})
FLAGS = frozenset({"SPAMREPORT", "UNSUBSCRIBE", "GROUP_UNSUBSCRIBE", "GROUP_RESUBSCRIBE"})
ALERTING_EMAILS = frozenset(
    {
        "INITIAL_EMAIL",
        "DYNAMIC_PASSWORD_INVITE",
        "ACCESS_CODE_EMAIL",
        "LOGIN_LINK",
        "INVITATION_REMINDER",
    }
)


@dataclass(frozen=True, slots=True)
class MessageRollup:
    """What a firm wants to know about one message."""

    message_id: str
    firm_id: str
    channel: str
    message_kind: str
    status: str = "UNKNOWN"
    return_id: str | None = None
    client_id: str | None = None
    recipient_role: str | None = None
    human_opens: int = 0
    machine_opens: int = 0
    clicks: int = 0
    complained: bool = False
    unsubscribed: bool = False
    first_delivered_at: datetime | None = None
    first_opened_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def apply(
    state: MessageRollup | None, event: dict[str, Any]
) -> tuple[MessageRollup, list[dict[str, Any]]]:
    """Fold one DeliveryEvent record into the message's roll-up; returns alerts to raise."""
    rollup = state or MessageRollup(
        event["message_id"],
        event["firm_id"],
        event["channel"],
        event["message_kind"],
        return_id=event.get("return_id"),
        client_id=event.get("client_id"),
        recipient_role=event.get("recipient_role"),
    )
    status, at = event["status"], event["occurred_at"]
    rollup = _count(rollup, event)
    if status in FLAGS or (status == "OPEN" and event.get("machine_open")):
        return rollup, []
    if rollup.terminal or not _advances(rollup, status):
        return rollup, []
    rollup = replace(rollup, status=status)
    if status == "DELIVERED" and rollup.first_delivered_at is None:
        rollup = replace(rollup, first_delivered_at=at)
    if status in ("OPEN", "CLICK") and rollup.first_opened_at is None:
        rollup = replace(rollup, first_opened_at=at)
    return rollup, _alerts(rollup, event)


def _advances(rollup: MessageRollup, status: str) -> bool:
    if status in TERMINAL:
        return True
    ranks = SMS_RANK if rollup.channel == "SMS" else RANK
    current = ranks.get(rollup.status, 0)
    return ranks.get(status, 0) > current


def _count(rollup: MessageRollup, event: dict[str, Any]) -> MessageRollup:
    status = event["status"]
    if status == "OPEN":
        if event.get("machine_open"):
            return replace(rollup, machine_opens=rollup.machine_opens + 1)
        return replace(rollup, human_opens=rollup.human_opens + 1)
    if status == "CLICK":
        return replace(rollup, clicks=rollup.clicks + 1)
    if status == "SPAMREPORT":
        return replace(rollup, complained=True)
    if status in ("UNSUBSCRIBE", "GROUP_UNSUBSCRIBE"):
        return replace(rollup, unsubscribed=True)
    if status == "GROUP_RESUBSCRIBE":
        return replace(rollup, unsubscribed=False)
    return rollup


def _alerts(rollup: MessageRollup, event: dict[str, Any]) -> list[dict[str, Any]]:
    if not rollup.terminal:
        return []
    email = rollup.channel == "EMAIL" and rollup.message_kind in ALERTING_EMAILS
    sms = rollup.channel == "SMS" and rollup.message_kind == "OTP_SMS"
    if not (email or sms):
        return []
    who = (rollup.recipient_role or "TAXPAYER").replace("_", " ").title().replace("Cc ", "CC ")
    what = "email" if email else "the text message with their code"
    why = event.get("bounce_classification") or event.get("error_code") or event["status"].lower()
    return [
        {
            "alert_id": str(uuid5(DERIVED_EVENT_NAMESPACE, f"alert:{event['event_id']}")),
            "raised_at": event["occurred_at"],
            "kind": "EMAIL_NOT_RECEIVED" if email else "SMS_NOT_RECEIVED",
            "firm_id": rollup.firm_id,
            "return_id": rollup.return_id,
            "client_id": rollup.client_id,
            "recipient_role": rollup.recipient_role,
            "message_id": rollup.message_id,
            "summary": f"{who} did not receive {what}: {why}",
            "caused_by": str(event["event_id"]),
        }
    ]
