"""Firm side of delivered returns: see a return's access locks, unlock a locked recipient.

An unlock is the ACCESS_UNLOCKED tracking event the worker's lockout rule acts on (the lock
lifts and the failure count starts again from 0), plus the firm-side UNLOCKED fact on
return-lifecycle, both keyed by return_id, with the firm user who acted. A return of another
firm gets the same 404 as an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from schemas.tracking import Actor, RecipientRole, TrackingEvent, TrackingEventType
from services.dynamic_password.core import Core
from services.dynamic_password.errors import Refused, ReturnNotFound
from services.dynamic_password.records import notification
from services.dynamic_password.return_locks import ReturnRow, fold_touch

UNLOCKED = "UNLOCKED"  # ReturnLifecycleEvent.event_type


@dataclass(frozen=True)
class RecipientAccess:
    recipient_role: str
    consecutive_failures: int
    locked: bool


@dataclass(frozen=True)
class ReturnAccess:
    """A return as its firm sees it here: each recipient's failure count and lock."""

    return_id: str
    client_id: str | None
    recipients: list[RecipientAccess]


def return_access(core: Core, firm_id: str, return_id: str) -> ReturnAccess:
    """The firm's return; ReturnNotFound when it is unknown or another firm's."""
    return _access(_firm_return(core, firm_id, return_id))


def unlock_return(
    core: Core,
    firm_id: str,
    firm_user: str | None,
    return_id: str,
    role: RecipientRole | None,
) -> ReturnAccess:
    """Unlock `role` (None: every locked recipient) of the firm's return.

    Runs without awaiting, so nothing else (the event ingest included) interleaves between
    the check and the write. Refused when no such recipient is locked.
    """
    known = _firm_return(core, firm_id, return_id)
    locked = known.locked_roles(role)
    if not locked:
        raise Refused(
            f"the {role.value} recipient's access is not locked"
            if role
            else "no recipient's access to this return is locked"
        )
    now = core.clock()
    with core.store.transaction():
        for recipient in locked:
            unlocked = _unlocked(known, recipient, now, firm_user)
            fold_touch(core.returns, unlocked, core.firm)  # read back later, folded again
            core.outbox.tracking(unlocked)
            if recipient is RecipientRole.TAXPAYER:
                _notify_client(core, known, unlocked.event_id, now)
        core.outbox.return_lifecycle(_lifecycle(known, role, now, firm_user))
    return return_access(core, firm_id, return_id)


def _firm_return(core: Core, firm_id: str, return_id: str) -> ReturnRow:
    known = core.returns.get(return_id, firm_id)
    if known is None:
        raise ReturnNotFound()
    return known


def _access(known: ReturnRow) -> ReturnAccess:
    return ReturnAccess(
        known.return_id,
        known.client_id,
        [
            RecipientAccess(role.value, state.consecutive_failures, state.locked)
            for role, state in sorted(known.recipients.items())
        ],
    )


def _unlocked(
    known: ReturnRow, role: RecipientRole, now: datetime, firm_user: str | None
) -> TrackingEvent:
    return TrackingEvent(
        event_id=uuid4(),
        event_type=TrackingEventType.ACCESS_UNLOCKED,
        occurred_at=now,
        firm_id=known.firm_id,
        return_id=known.return_id,
        recipient_role=role,
        actor=Actor.FIRM_USER,
        client_id=known.client_id,
        firm_user=firm_user,
    )


def _lifecycle(
    known: ReturnRow, role: RecipientRole | None, now: datetime, firm_user: str | None
) -> dict[str, Any]:
    """The ReturnLifecycleEvent record (recipient_role None: every recipient)."""
    return {
        "event_id": str(uuid4()),
        "event_type": UNLOCKED,
        "occurred_at": now,
        "firm_id": known.firm_id,
        "return_id": known.return_id,
        "client_id": known.client_id,
        "firm_user": firm_user,
        "recipient_role": role.value if role else None,
        "signature_required": False,
        "voucher_due_dates": [],
        "voucher_due_date": None,
    }


def _notify_client(core: Core, known: ReturnRow, cause: UUID, now: datetime) -> None:
    """Email the taxpayer that access is back, when the return's client is one of this firm's
    clients here (only their contact is known to the dispatcher)."""
    client = core.store.client(known.client_id, known.firm_id) if known.client_id else None
    if client is None or client.email_hash is None:
        return
    core.outbox.notification(
        notification(
            cause=cause,
            at=now,
            channel="EMAIL",
            message_kind="UNLOCK_NOTICE",
            firm_id=known.firm_id,
            client_id=client.client_id,
            return_id=known.return_id,
            recipient_role=RecipientRole.TAXPAYER.value,
        )
    )
