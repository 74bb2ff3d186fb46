"""What pure rules ask their adapters to do, besides emitting events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TriggerKind(StrEnum):
    """Timer kinds (enum ctrack.triggers.TriggerKind)."""

    AUTOMATIC_INVITE = "AUTOMATIC_INVITE"
    LINK_EXPIRY = "LINK_EXPIRY"
    INVITATION_REMINDER = "INVITATION_REMINDER"
    SIGNING_REMINDER = "SIGNING_REMINDER"
    VOUCHER_REMINDER = "VOUCHER_REMINDER"
    LOGIN_UNLOCK = "LOGIN_UNLOCK"


@dataclass(frozen=True, slots=True)
class Rejected:
    """The event is an illegal transition: not applied, sent to the dead-letter topic."""

    reason: str


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    """Fire `kind` for `subject_id` at `due_at`; replaces a timer with the same identity."""

    kind: TriggerKind
    subject_id: str
    firm_id: str
    due_at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Forget the timer `kind` for `subject_id` (and `detail`), if any."""

    kind: TriggerKind
    subject_id: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Notify:
    """Ask the dispatcher to send a message (the outbox record is built by the adapter)."""

    message_kind: str  # enum ctrack.delivery.MessageKind
    channel: str  # EMAIL | SMS
    subject_id: str
    link_id: str | None = None
