"""The Dynamic Password state machine as a pure function over client events and timers.

Not Invited -> Not Enrolled (invite sent) -> Connected (identity verified by one-time password,
SSN last-4 or firm confirmation); Connected Elsewhere; Disconnected. Events this rule emits come
back on the topic it reads; they are recognised and change nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from schemas.clients import (
    ClientEvent,
    ClientEventType,
    ClientOrigin,
    ClientStatusValue,
    InviteTrigger,
    VerificationMethod,
)
from schemas.firms import FirmSettings
from schemas.tracking import DERIVED_EVENT_NAMESPACE, Actor
from streams.client_status.state import ClientState
from streams.outputs import CancelTimer, Notify, Rejected, ScheduleTimer, TriggerKind

E, S, K = ClientEventType, ClientStatusValue, TriggerKind
Output = ClientEvent | Rejected | ScheduleTimer | CancelTimer | Notify
Result = tuple[ClientState | None, list[Output]]

# Events we emit ourselves: reading them back never changes state.
ECHOES = frozenset({E.STATUS_CHANGED, E.LINK_SUPERSEDED, E.LINK_REJECTED, E.LOGIN_LOCKED})
LINK_ISSUING = frozenset({E.INVITE_SENT, E.INVITATION_REMINDER_SENT, E.NEW_LOGIN_LINK_SENT})
# Events that change nothing in the status machine but are legal for any known client.
RECORD_ONLY = frozenset({E.PHONE_CHANGED, E.NEW_LOGIN_LINK_REQUESTED, E.UNKNOWN})


def invite_refusal(state: ClientState, firm: FirmSettings) -> str | None:
    """Why a dynamic password invite may not be sent now, or None if it may."""
    if firm.sso_enabled:
        return "firm uses single sign-on: dynamic password invites are not sent"
    if state.origin is ClientOrigin.API:
        return "client was added through the API: dynamic password invites are not available"
    if state.status is not S.NOT_INVITED:
        return f"invites go only to Not Invited clients; status is {state.status}"
    if not state.has_email:
        return "client has no email address"
    return None


def apply(state: ClientState | None, event: ClientEvent, firm: FirmSettings) -> Result:
    """Fold one client event into the client's state; returns (new state, outputs)."""
    if event.event_type in (E.CLIENT_ADDED, E.CLIENT_IMPORTED):
        return _added(state, event)
    if state is None:
        return None, [Rejected(f"client {event.client_id} was never added")]
    if event.event_type in ECHOES or event.event_type in RECORD_ONLY:
        return state, []
    if event.event_type in LINK_ISSUING and (
        event.link_id == state.active_link_id or _emitted_here(event)
    ):
        return state, []  # our own invite or reminder, read back (maybe after a newer one)
    handler = _HANDLERS.get(event.event_type)
    if handler is None:
        return state, [Rejected(f"{event.event_type} is not handled by the status rule")]
    return handler(state, event, firm)


def on_timer(
    state: ClientState | None,
    kind: TriggerKind,
    due_at: datetime,
    detail: str,
    trigger_id: UUID,
    firm: FirmSettings,
) -> Result:
    """A timer for this client came due (`trigger_id` makes derived ids stable)."""
    if state is None:
        return None, []
    if kind is K.AUTOMATIC_INVITE:
        return _automatic_invite(state, due_at, trigger_id, firm)
    if kind is K.LINK_EXPIRY and detail == state.active_link_id:
        expired = _event(state, E.LINK_EXPIRED, due_at, trigger_id, link_id=detail)
        return replace(state, active_link_id=None, active_link_expires_at=None), [expired]
    if kind is K.INVITATION_REMINDER and state.status is S.NOT_ENROLLED:
        return _reminder(state, due_at, trigger_id, firm)
    if kind is K.LOGIN_UNLOCK and state.login_locked_until == due_at:
        unlocked = _event(state, E.LOGIN_UNLOCKED, due_at, trigger_id)
        return replace(state, login_locked_until=None, login_failures=0), [unlocked]
    return state, []


# -- handlers ------------------------------------------------------------------------------
def _added(state: ClientState | None, event: ClientEvent) -> Result:
    if state is not None:
        return state, [Rejected(f"client {event.client_id} was already added")]
    origin = event.origin or (
        ClientOrigin.IMPORT if event.event_type is E.CLIENT_IMPORTED else ClientOrigin.MANUAL
    )
    added = ClientState(
        event.firm_id, event.client_id, origin=origin, has_email=event.email_hash is not None
    )
    return added, []


def _email_changed(state: ClientState, event: ClientEvent, firm: FirmSettings) -> Result:
    state = replace(state, has_email=True)
    if state.status is not S.NOT_ENROLLED:
        return state, []
    # A new address while Not Enrolled: re-send the invite; the old link stops working.
    link_id = str(event.derived_id("invite-link"))
    invite = _event(
        state,
        E.INVITE_SENT,
        event.occurred_at,
        event.event_id,
        link_id=link_id,
        invite_trigger=InviteTrigger.EMAIL_CHANGED,
        link_expires_at=event.occurred_at + firm.link_lifetime,
    )
    return _issue_link(state, invite, firm, emitted_here=True)


def _get_request(state: ClientState, event: ClientEvent, firm: FirmSettings) -> Result:
    if state.first_pending_request_at is not None:
        return state, []
    state = replace(state, first_pending_request_at=event.occurred_at)
    if not firm.automatic_invites_enabled or invite_refusal(state, firm):
        return state, []
    due = event.occurred_at + firm.automatic_invite_grace
    return state, [ScheduleTimer(K.AUTOMATIC_INVITE, state.client_id, state.firm_id, due)]


def _invite_sent(state: ClientState, event: ClientEvent, firm: FirmSettings) -> Result:
    if refusal := invite_refusal(state, firm):
        return state, [Rejected(refusal)]
    return _issue_link(state, _with_expiry(event, firm), firm)


def _new_link(state: ClientState, event: ClientEvent, firm: FirmSettings) -> Result:
    allowed = (
        (S.NOT_ENROLLED,)
        if event.event_type is E.INVITATION_REMINDER_SENT
        else (S.NOT_ENROLLED, S.CONNECTED)
    )
    if state.status not in allowed:
        return state, [Rejected(f"{event.event_type} is not allowed in status {state.status}")]
    return _issue_link(state, _with_expiry(event, firm), firm)


def _link_selected(state: ClientState, event: ClientEvent, _firm: FirmSettings) -> Result:
    if refusal := _link_refusal(state, event.link_id, event.occurred_at):
        return state, [Rejected(refusal)]
    return state, []


def _link_expired(state: ClientState, event: ClientEvent, _firm: FirmSettings) -> Result:
    if event.link_id != state.active_link_id:
        return state, []
    return replace(state, active_link_id=None, active_link_expires_at=None), []


def _otp_sent(state: ClientState, event: ClientEvent, _firm: FirmSettings) -> Result:
    if state.login_locked_at(event.occurred_at):
        return state, [Rejected("login is locked: no code may be sent")]
    return state, []


def _login_failed(state: ClientState, event: ClientEvent, firm: FirmSettings) -> Result:
    if refusal := _verification_refusal(state, event, firm):
        return state, [Rejected(refusal)]
    failures = state.login_failures + 1
    if failures < firm.max_otp_failures:
        return replace(state, login_failures=failures), []
    until = event.occurred_at + firm.login_lockout
    locked = _event(
        state,
        E.LOGIN_LOCKED,
        event.occurred_at,
        event.event_id,
        locked_until=until,
        failure_reason=event.failure_reason,
    )
    timer = ScheduleTimer(K.LOGIN_UNLOCK, state.client_id, state.firm_id, until)
    return replace(state, login_failures=failures, login_locked_until=until), [locked, timer]


def _login_verified(state: ClientState, event: ClientEvent, firm: FirmSettings) -> Result:
    if refusal := _verification_refusal(state, event, firm):
        return state, [Rejected(refusal)]
    state = replace(state, login_failures=0)
    method = (
        VerificationMethod.SSN_LAST4
        if event.event_type is E.SSN_CHECK_PASSED
        else VerificationMethod.OTP_SMS
    )
    if state.identity_verified:
        return state, []
    verified = _event(
        state, E.IDENTITY_VERIFIED, event.occurred_at, event.event_id, verification_method=method
    )
    return _connect(state, method, verified)


def _identity_verified(state: ClientState, event: ClientEvent, _firm: FirmSettings) -> Result:
    if state.identity_verified:
        return state, []  # ours, read back, or a repeated confirmation
    if state.status not in (S.NOT_ENROLLED, S.CONNECTED):
        return state, [Rejected(f"identity cannot be confirmed in status {state.status}")]
    return _connect(
        state, event.verification_method or VerificationMethod.FIRM_CONFIRMATION, None, cause=event
    )


def _login_unlocked(state: ClientState, _event: ClientEvent, _firm: FirmSettings) -> Result:
    return replace(state, login_locked_until=None, login_failures=0), []


def _message_sent(state: ClientState, _event: ClientEvent, _firm: FirmSettings) -> Result:
    if not state.can_receive_messages:
        return state, [Rejected("messages go only to Connected clients with verified identity")]
    return state, []


def _password_set(state: ClientState, _event: ClientEvent, _firm: FirmSettings) -> Result:
    if state.status is not S.CONNECTED:
        return state, [Rejected("a password can be set only once Connected")]
    return state, []


def _left(state: ClientState, event: ClientEvent, _firm: FirmSettings) -> Result:
    status = S.CONNECTED_ELSEWHERE if event.event_type is E.CONNECTED_ELSEWHERE else S.DISCONNECTED
    if state.status is status:
        return state, []
    outputs: list[Output] = [_status_changed(state, status, event)]
    outputs += _cancel_client_timers(state)
    return replace(state, status=status, active_link_id=None, active_link_expires_at=None), outputs


_HANDLERS: dict[ClientEventType, Callable[[ClientState, ClientEvent, FirmSettings], Result]] = {
    E.EMAIL_CHANGED: _email_changed,
    E.GET_REQUEST_SENT: _get_request,
    E.INVITE_SENT: _invite_sent,
    E.INVITATION_REMINDER_SENT: _new_link,
    E.NEW_LOGIN_LINK_SENT: _new_link,
    E.LINK_SELECTED: _link_selected,
    E.LINK_EXPIRED: _link_expired,
    E.OTP_SENT: _otp_sent,
    E.OTP_FAILED: _login_failed,
    E.SSN_CHECK_FAILED: _login_failed,
    E.OTP_VERIFIED: _login_verified,
    E.SSN_CHECK_PASSED: _login_verified,
    E.IDENTITY_VERIFIED: _identity_verified,
    E.LOGIN_UNLOCKED: _login_unlocked,
    E.MESSAGE_SENT: _message_sent,
    E.PASSWORD_SET: _password_set,
    E.CONNECTED_ELSEWHERE: _left,
    E.DISCONNECTED: _left,
}


# -- timers --------------------------------------------------------------------------------
def _automatic_invite(
    state: ClientState, due_at: datetime, trigger_id: UUID, firm: FirmSettings
) -> Result:
    if not firm.automatic_invites_enabled or invite_refusal(state, firm):
        return state, []
    invite = _event(
        state,
        E.INVITE_SENT,
        due_at,
        trigger_id,
        link_id=_derived(trigger_id, "invite-link"),
        invite_trigger=InviteTrigger.AUTOMATIC,
        link_expires_at=due_at + firm.link_lifetime,
    )
    return _issue_link(state, invite, firm, emitted_here=True)


def _reminder(state: ClientState, due_at: datetime, trigger_id: UUID, firm: FirmSettings) -> Result:
    reminder = _event(
        state,
        E.INVITATION_REMINDER_SENT,
        due_at,
        trigger_id,
        link_id=_derived(trigger_id, "reminder-link"),
        invite_trigger=InviteTrigger.REMINDER,
        link_expires_at=due_at + firm.link_lifetime,
    )
    return _issue_link(state, reminder, firm, emitted_here=True)


# -- helpers -------------------------------------------------------------------------------
def _issue_link(
    state: ClientState, issued: ClientEvent, firm: FirmSettings, emitted_here: bool = False
) -> Result:
    """Make `issued.link_id` the only working link; Not Invited becomes Not Enrolled.

    `emitted_here`: this rule created `issued` (automatic invite, reminder, email change), so
    it is emitted and its email requested; links issued by the service arrive as input and
    the service has already asked for their email.
    """
    assert issued.link_id is not None and issued.link_expires_at is not None  # noqa: S101
    outputs: list[Output] = [issued] if emitted_here else []
    if state.active_link_id is not None:
        outputs.append(
            _event(
                state,
                E.LINK_SUPERSEDED,
                issued.occurred_at,
                issued.event_id,
                link_id=state.active_link_id,
                superseded_by=issued.link_id,
            )
        )
        outputs.append(CancelTimer(K.LINK_EXPIRY, state.client_id, state.active_link_id))
    outputs.append(
        ScheduleTimer(
            K.LINK_EXPIRY, state.client_id, state.firm_id, issued.link_expires_at, issued.link_id
        )
    )
    if emitted_here:
        outputs.append(Notify(_message_kind(issued), "EMAIL", state.client_id, issued.link_id))
    new_state = replace(
        state, active_link_id=issued.link_id, active_link_expires_at=issued.link_expires_at
    )
    if state.status is S.NOT_INVITED:
        outputs.append(_status_changed(state, S.NOT_ENROLLED, issued))
        outputs.append(CancelTimer(K.AUTOMATIC_INVITE, state.client_id))
        new_state = replace(new_state, status=S.NOT_ENROLLED)
    reminds = issued.event_type in (E.INVITE_SENT, E.INVITATION_REMINDER_SENT)
    if reminds and firm.invitation_reminder_interval_days > 0:
        due = issued.occurred_at + timedelta(days=firm.invitation_reminder_interval_days)
        outputs.append(ScheduleTimer(K.INVITATION_REMINDER, state.client_id, state.firm_id, due))
    return new_state, outputs


def _connect(
    state: ClientState,
    method: VerificationMethod,
    verified: ClientEvent | None,
    cause: ClientEvent | None = None,
) -> Result:
    trigger = verified or cause
    assert trigger is not None  # noqa: S101
    outputs: list[Output] = [verified] if verified else []
    if state.status is not S.CONNECTED:
        outputs.append(_status_changed(state, S.CONNECTED, trigger))
    return replace(
        state, status=S.CONNECTED, identity_verified=True, verification_method=method
    ), outputs


def _status_changed(state: ClientState, to: ClientStatusValue, cause: ClientEvent) -> ClientEvent:
    return _event(
        state,
        E.STATUS_CHANGED,
        cause.occurred_at,
        cause.event_id,
        status_from=state.status,
        status_to=to,
    )


def _cancel_client_timers(state: ClientState) -> list[Output]:
    timers: list[Output] = [
        CancelTimer(K.AUTOMATIC_INVITE, state.client_id),
        CancelTimer(K.INVITATION_REMINDER, state.client_id),
    ]
    if state.active_link_id:
        timers.append(CancelTimer(K.LINK_EXPIRY, state.client_id, state.active_link_id))
    return timers


def _link_refusal(state: ClientState, link_id: str | None, now: datetime) -> str | None:
    if state.login_locked_at(now):
        return "login is locked"
    if link_id is None or link_id != state.active_link_id:
        return "link is not the client's current link (superseded or unknown)"
    if state.active_link_expires_at is not None and now >= state.active_link_expires_at:
        return "link has expired"
    return None


def _verification_refusal(state: ClientState, event: ClientEvent, firm: FirmSettings) -> str | None:
    if state.login_locked_at(event.occurred_at):
        return "login is locked"
    ssn = event.event_type in (E.SSN_CHECK_PASSED, E.SSN_CHECK_FAILED)
    if ssn and not firm.ssn_verification_allowed:
        return "firm does not allow SSN verification"
    if state.status not in (S.NOT_ENROLLED, S.CONNECTED):
        return f"no login is possible in status {state.status}"
    return None


def _with_expiry(event: ClientEvent, firm: FirmSettings) -> ClientEvent:
    if event.link_id is None:
        event = replace(event, link_id=str(event.derived_id("link")))
    if event.link_expires_at is None:
        event = replace(event, link_expires_at=event.occurred_at + firm.link_lifetime)
    return event


def _message_kind(issued: ClientEvent) -> str:
    if issued.event_type is E.INVITATION_REMINDER_SENT:
        return "INVITATION_REMINDER"
    if issued.event_type is E.NEW_LOGIN_LINK_SENT:
        return "LOGIN_LINK"
    return "DYNAMIC_PASSWORD_INVITE"


def _event(
    state: ClientState, event_type: ClientEventType, at: datetime, cause: UUID, **fields: object
) -> ClientEvent:
    """An event this rule emits; its id is derived from its cause, so a replay repeats it."""
    return ClientEvent(
        event_id=_derived_event_id(event_type, cause),
        event_type=event_type,
        occurred_at=at,
        firm_id=state.firm_id,
        client_id=state.client_id,
        actor=Actor.SYSTEM,
        caused_by=cause,
        **fields,  # type: ignore[arg-type]  # keyword fields of ClientEvent
    )


def _derived_event_id(event_type: ClientEventType, cause: UUID) -> UUID:
    return uuid5(DERIVED_EVENT_NAMESPACE, f"{event_type}:{cause}")


def _emitted_here(event: ClientEvent) -> bool:
    """`event` is one this rule emitted: its id derives from its cause as `_event` makes it."""
    return event.caused_by is not None and event.event_id == _derived_event_id(
        event.event_type, event.caused_by
    )


def _derived(seed: UUID, kind: str) -> str:
    return str(uuid5(DERIVED_EVENT_NAMESPACE, f"{kind}:{seed}"))
