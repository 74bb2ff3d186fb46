"""Firm-side actions, always scoped to the caller's firm: clients, invites, unlocks, messages.

Each action checks what the firm asked for, then lets the status rule decide whether it is a
legal step (its rejection is the 409 message) and emits the event and any notification.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import uuid4

from schemas.clients import (
    ClientEventType,
    ClientOrigin,
    ClientStatusValue,
    GetRequestKind,
    InviteTrigger,
    VerificationMethod,
)
from schemas.firms import FirmSettings
from schemas.tracking import Actor
from services.credentials import Contact
from services.dynamic_password.core import Core
from services.dynamic_password.csv_import import ImportRow, RowError, parse_client_csv
from services.dynamic_password.errors import ClientNotFound, Refused
from services.dynamic_password.records import ContactFields, client_event, notification
from services.dynamic_password.store import ClientRow
from streams.client_status.rules import invite_refusal

E, S = ClientEventType, ClientStatusValue
GONE = frozenset({S.DISCONNECTED, S.CONNECTED_ELSEWHERE})


@dataclass(frozen=True, slots=True)
class NewClient:
    """A client to add; every contact part is optional until an invite needs the email."""

    email: str | None = None
    phone: str | None = None
    ssn_last4: str | None = None
    origin: ClientOrigin = ClientOrigin.MANUAL


@dataclass(frozen=True, slots=True)
class Imported:
    line: int
    client_id: str


@dataclass(frozen=True, slots=True)
class InviteOutcome:
    client_id: str
    sent: bool
    reason: str | None = None


def new_client_id() -> str:
    """Ids are the service's own: unique across firms, so no firm can probe another's ids."""
    return f"C-{uuid4().hex}"


def add_client(core: Core, firm_id: str, firm_user: str | None, new: NewClient) -> ClientRow:
    with core.store.transaction():
        return _add(core, firm_id, firm_user, new, E.CLIENT_ADDED)


def import_clients(
    core: Core, firm_id: str, firm_user: str | None, data: bytes
) -> tuple[list[Imported], list[RowError]]:
    """Add every good row of a CSV file (one transaction); bad rows are reported, not added.

    Raises csv_import.InvalidFile when the file cannot be read at all.
    """
    rows, errors = parse_client_csv(data)
    with core.store.transaction():
        added = [Imported(row.line, _import(core, firm_id, firm_user, row)) for row in rows]
    return added, errors


def _import(core: Core, firm_id: str, firm_user: str | None, row: ImportRow) -> str:
    new = NewClient(row.email, row.phone, row.ssn_last4, ClientOrigin.IMPORT)
    return _add(core, firm_id, firm_user, new, E.CLIENT_IMPORTED).client_id


def _add(
    core: Core, firm_id: str, firm_user: str | None, new: NewClient, event_type: ClientEventType
) -> ClientRow:
    now, client_id = core.clock(), new_client_id()
    contact = Contact(new.email, new.phone)
    fields = ContactFields.of(contact, core.secrets.hasher)
    event = client_event(
        event_type,
        firm_id,
        client_id,
        now,
        Actor.FIRM_USER,
        firm_user,
        origin=new.origin,
        **fields.event_fields(),
    )
    ssn_hash = (
        core.secrets.hasher.ssn_last4(firm_id, client_id, new.ssn_last4) if new.ssn_last4 else None
    )
    row = ClientRow(state=core.fold(None, event), created_at=now, ssn_hash=ssn_hash)
    core.outbox.client_event(event)
    if contact.email or contact.phone:
        row = core.seal_contact(row, contact, now)
    core.save(row)
    return row


async def change_contact(
    core: Core,
    firm_id: str,
    firm_user: str | None,
    client_id: str,
    email: str | None,
    phone: str | None,
) -> ClientRow:
    """New email and/or phone. A new email while Not Enrolled makes the rule re-send the invite
    with a new link (the old one stops working); a new phone voids a code sent to the old one."""
    async with core.locks.hold(client_id):
        row = core.firm_client(firm_id, client_id)
        if row.state.status in GONE:
            raise Refused(f"contact details cannot change in status {row.state.status}")
        before = core.contact_of(row)
        after = Contact(email or before.email, phone or before.phone)
        fields = ContactFields.of(after, core.secrets.hasher)
        now = core.clock()
        with core.store.transaction():
            if email and fields.email_hash != row.email_hash:
                changed = client_event(
                    E.EMAIL_CHANGED,
                    firm_id,
                    client_id,
                    now,
                    Actor.FIRM_USER,
                    firm_user,
                    email_hash=fields.email_hash,
                    email_masked=fields.email_masked,
                )
                row = core.emit(row, changed)
            if phone and fields.phone_hash != row.phone_hash:
                changed = client_event(
                    E.PHONE_CHANGED,
                    firm_id,
                    client_id,
                    now,
                    Actor.FIRM_USER,
                    firm_user,
                    phone_hash=fields.phone_hash,
                    phone_masked=fields.phone_masked,
                )
                row = core.emit(row, changed)
                if row.code is not None:
                    row = replace(row, code=replace(row.code, used=True))
            if after != before:
                row = core.seal_contact(row, after, now)
                core.save(row)
        return row


async def send_get_request(
    core: Core, firm_id: str, firm_user: str | None, client_id: str, kind: GetRequestKind
) -> str:
    """A DRL, questionnaire or letter (possible before any invite); returns its request id."""
    async with core.locks.hold(client_id):
        row = core.firm_client(firm_id, client_id)
        if row.state.status in GONE:
            raise Refused(f"requests cannot be sent in status {row.state.status}")
        request_id = f"REQ-{uuid4().hex}"
        event = client_event(
            E.GET_REQUEST_SENT,
            firm_id,
            client_id,
            core.clock(),
            Actor.FIRM_USER,
            firm_user,
            get_request_kind=kind,
            request_id=request_id,
        )
        with core.store.transaction():
            core.save(core.emit(row, event))
        return request_id


async def invite(core: Core, firm_id: str, firm_user: str | None, client_id: str) -> ClientRow:
    """A dynamic password invite: Not Invited, non-SSO firm, not an API client, has an email."""
    async with core.locks.hold(client_id):
        row = core.firm_client(firm_id, client_id)
        if refusal := invite_refusal(row.state, core.firm(firm_id)):
            raise Refused(refusal)
        with core.store.transaction():
            row = core.issue_link(
                row, E.INVITE_SENT, InviteTrigger.MANUAL, Actor.FIRM_USER, firm_user
            )
            core.save(row)
        return row


async def invite_many(
    core: Core, firm_id: str, firm_user: str | None, client_ids: list[str]
) -> list[InviteOutcome]:
    """Invite each client; one outcome per client, with the reason for every refusal."""
    outcomes = []
    for client_id in dict.fromkeys(client_ids):
        try:
            await invite(core, firm_id, firm_user, client_id)
            outcomes.append(InviteOutcome(client_id, True))
        except (Refused, ClientNotFound) as exc:
            outcomes.append(InviteOutcome(client_id, False, exc.message))
    return outcomes


async def send_new_link(
    core: Core, firm_id: str, firm_user: str | None, client_id: str, reminder: bool
) -> ClientRow:
    """An invitation reminder (Not Enrolled only) or a new login link from support (Not Enrolled
    or Connected): a new link, and the previous one stops working."""
    async with core.locks.hold(client_id):
        row = core.firm_client(firm_id, client_id)
        if core.firm(firm_id).sso_enabled:
            raise Refused("firm uses single sign-on: dynamic password links are not sent")
        if reminder and row.state.status is not S.NOT_ENROLLED:
            raise Refused(
                "invitation reminders go only to Not Enrolled clients; "
                f"status is {row.state.status}"
            )
        event_type = E.INVITATION_REMINDER_SENT if reminder else E.NEW_LOGIN_LINK_SENT
        trigger = InviteTrigger.REMINDER if reminder else InviteTrigger.SUPPORT
        with core.store.transaction():
            row = core.issue_link(row, event_type, trigger, Actor.FIRM_USER, firm_user)
            core.save(row)
        return row


async def unlock(core: Core, firm_id: str, firm_user: str | None, client_id: str) -> ClientRow:
    """Lift a login lock before it runs out; the client is emailed that it may log in again."""
    async with core.locks.hold(client_id):
        row = core.firm_client(firm_id, client_id)
        now = core.clock()
        if not row.state.login_locked_at(now):
            raise Refused("the client's login is not locked")
        event = client_event(E.LOGIN_UNLOCKED, firm_id, client_id, now, Actor.FIRM_USER, firm_user)
        with core.store.transaction():
            row = core.emit(row, event)
            core.outbox.notification(
                notification(
                    cause=event.event_id,
                    at=now,
                    channel="EMAIL",
                    message_kind="UNLOCK_NOTICE",
                    firm_id=firm_id,
                    client_id=client_id,
                )
            )
            core.save(row)
        return row


async def confirm_identity(
    core: Core, firm_id: str, firm_user: str | None, client_id: str
) -> ClientRow:
    """A firm user vouches for the client's identity (Not Enrolled or Connected)."""
    async with core.locks.hold(client_id):
        row = core.firm_client(firm_id, client_id)
        if row.state.identity_verified:
            raise Refused("the client's identity is already verified")
        event = client_event(
            E.IDENTITY_VERIFIED,
            firm_id,
            client_id,
            core.clock(),
            Actor.FIRM_USER,
            firm_user,
            verification_method=VerificationMethod.FIRM_CONFIRMATION,
        )
        with core.store.transaction():
            row = core.emit(row, event)
            core.save(row)
        return row


async def send_message(
    core: Core,
    firm_id: str,
    firm_user: str | None,
    client_id: str,
    subject: str,
    body: str,
) -> str:
    """A message to a Connected, verified client: kept for the client, announced by email."""
    async with core.locks.hold(client_id):
        row = core.firm_client(firm_id, client_id)
        now = core.clock()
        event = client_event(E.MESSAGE_SENT, firm_id, client_id, now, Actor.FIRM_USER, firm_user)
        event = replace(event, message_id=str(event.event_id))
        with core.store.transaction():
            core.save(core.emit(row, event))
            core.store.save_message(str(event.event_id), client_id, now, subject, body)
            core.outbox.notification(
                notification(
                    cause=event.event_id,
                    at=now,
                    channel="EMAIL",
                    message_kind="FIRM_MESSAGE",
                    firm_id=firm_id,
                    client_id=client_id,
                )
            )
        return str(event.event_id)


def update_settings(
    core: Core, firm_id: str, firm_user: str | None, changes: dict[str, object]
) -> FirmSettings:
    """New firm settings from the current ones; published on firm-settings for the workers."""
    settings = replace(
        core.firm(firm_id),
        **changes,  # type: ignore[arg-type]  # keys and types are checked by the API model
        updated_at=core.clock(),
        updated_by=firm_user,
    )
    with core.store.transaction():
        core.learn_firm_settings(settings)
        core.outbox.firm_settings(settings)
    return settings
