"""The service's shell around the status rule: one client at a time, state and records together.

Every decision about a client runs under that client's lock, reads its row, folds the new
event through `streams.client_status.rules.apply` (the rule the stream worker runs too: one
rule, two adapters) and writes the new row and its outbox records in one transaction.
Locks are per process: replicas of this service would each own a shard of client ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import uuid4
from weakref import WeakValueDictionary

from ctrack.settings import AuthSettings
from schemas.clients import ClientEvent, ClientEventType, InviteTrigger
from schemas.firms import FirmSettings
from schemas.pii import PiiHasher
from schemas.tracking import Actor
from services.credentials import Contact, ContactSealer, LinkTokens, OneTimeCodes
from services.dynamic_password.clock import Clock
from services.dynamic_password.errors import ClientNotFound, Refused
from services.dynamic_password.metrics import Metrics
from services.dynamic_password.outbox import OutboxWriter
from services.dynamic_password.records import (
    LINK_MESSAGE_KINDS,
    ContactFields,
    client_event,
    contact_record,
    notification,
    notification_id,
)
from services.dynamic_password.return_locks import ReturnLocks
from services.dynamic_password.store import ClientRow, Store
from streams.client_status import rules
from streams.client_status.state import ClientState
from streams.outputs import Rejected


class ClientLocks:
    """One asyncio lock per client id, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def busy(self, client_id: str) -> bool:
        """Whether a decision about the client holds its lock right now."""
        lock = self._locks.get(client_id)
        return lock is not None and lock.locked()

    @asynccontextmanager
    async def hold(self, client_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(client_id)
        if lock is None:
            lock = self._locks[client_id] = asyncio.Lock()
        async with lock:
            yield


@dataclass(frozen=True)
class Secrets:
    """Everything derived from the master secret, plus the PII hash key."""

    tokens: LinkTokens
    codes: OneTimeCodes
    sealer: ContactSealer
    hasher: PiiHasher

    @classmethod
    def of(cls, auth: AuthSettings, pii_key: bytes) -> Secrets:
        master = auth.master_key()
        return cls(
            LinkTokens(master),
            OneTimeCodes(master, auth.otp_digits),
            ContactSealer(master, auth.secret_key_id),
            PiiHasher(pii_key),
        )


class Core:
    """Shared by the firm and client actions and the event ingest."""

    def __init__(
        self,
        store: Store,
        outbox: OutboxWriter,
        clock: Clock,
        secrets: Secrets,
        auth: AuthSettings,
        metrics: Metrics,
    ):
        self.store = store
        self.outbox = outbox
        self.clock = clock
        self.secrets = secrets
        self.auth = auth
        self.metrics = metrics
        self.locks = ClientLocks()
        self.returns = ReturnLocks(store.db)
        self._firms = {settings.firm_id: settings for settings in store.all_firm_settings()}

    # -- firms -----------------------------------------------------------------------------
    def firm(self, firm_id: str) -> FirmSettings:
        """The firm's latest settings; the documented defaults for a firm that set none."""
        return self._firms.get(firm_id) or FirmSettings(firm_id)

    def learn_firm_settings(self, settings: FirmSettings) -> bool:
        """Keep `settings` unless newer ones are known (call inside a transaction)."""
        known = self._firms.get(settings.firm_id)
        if known is not None and known.updated_at > settings.updated_at:
            return False
        self.store.save_firm_settings(settings)
        self._firms[settings.firm_id] = settings
        return True

    # -- clients ---------------------------------------------------------------------------
    def firm_client(self, firm_id: str, client_id: str) -> ClientRow:
        """The firm's client; ClientNotFound when it is unknown or another firm's."""
        row = self.store.client(client_id, firm_id)
        if row is None:
            raise ClientNotFound()
        return row

    def fold(self, state: ClientState | None, event: ClientEvent) -> ClientState:
        """The client's state after `event` by the status rule; Refused if the rule rejects it.

        A link the event (or the rule, e.g. on an email change) issues is remembered, so a
        token naming it can be traced back to the client.
        """
        after, outputs = rules.apply(state, event, self.firm(event.firm_id))
        for output in outputs:
            if isinstance(output, Rejected):
                raise Refused(output.reason)
        if after is None:  # the rule returns None only with a rejection
            raise Refused(f"client {event.client_id} is unknown")
        if after.active_link_id is not None and after.active_link_id != (
            state.active_link_id if state else None
        ):  # every link is the active one when issued
            self.store.save_link(
                after.active_link_id, after.client_id, after.active_link_expires_at
            )
        return after

    def emit(self, row: ClientRow, event: ClientEvent) -> ClientRow:
        """Fold `event` into `row` and put it in the outbox (inside a transaction)."""
        state = self.fold(row.state, event)
        self.outbox.client_event(event)
        self.metrics.decisions[event.event_type.value] += 1
        return replace(row, state=state)

    def save(self, row: ClientRow) -> None:
        self.store.save_client(row, self.clock())

    def contact_of(self, row: ClientRow) -> Contact:
        if row.contact_sealed is None:
            return Contact()
        return self.secrets.sealer.open(row.firm_id, row.client_id, row.contact_sealed)

    def seal_contact(self, row: ClientRow, contact: Contact, at: datetime) -> ClientRow:
        """Store the contact sealed and publish it sealed on client-contacts."""
        fields = ContactFields.of(contact, self.secrets.hasher)
        sealed = self.secrets.sealer.seal(row.firm_id, row.client_id, contact)
        sealer_id = self.secrets.sealer.key_id
        self.outbox.contact(
            contact_record(row.firm_id, row.client_id, sealer_id, sealed, fields, at)
        )
        return replace(
            row,
            contact_sealed=sealed,
            email_hash=fields.email_hash,
            email_masked=fields.email_masked,
            phone_hash=fields.phone_hash,
            phone_masked=fields.phone_masked,
        )

    def issue_link(
        self,
        row: ClientRow,
        event_type: ClientEventType,
        trigger: InviteTrigger,
        actor: Actor,
        firm_user: str | None = None,
    ) -> ClientRow:
        """A new link (invite, reminder or new login link) and its email, inside a transaction.

        The rule makes it the only working link; the email is requested here because the rule
        asks for emails only for links it creates itself.
        """
        now = self.clock()
        firm = self.firm(row.firm_id)
        message_kind = LINK_MESSAGE_KINDS[event_type]
        event = client_event(
            event_type,
            row.firm_id,
            row.client_id,
            now,
            actor,
            firm_user,
            invite_trigger=trigger,
            link_id=str(uuid4()),
            link_expires_at=now + firm.link_lifetime,
        )
        event = replace(event, message_id=str(notification_id(message_kind, event.event_id)))
        row = self.emit(row, event)
        self.outbox.notification(
            notification(
                cause=event.event_id,
                at=now,
                channel="EMAIL",
                message_kind=message_kind,
                firm_id=row.firm_id,
                client_id=row.client_id,
                link_id=event.link_id,
            )
        )
        return row
