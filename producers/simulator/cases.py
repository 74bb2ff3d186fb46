"""The simulated parties a story is about: firms, clients, returns and the messages sent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Firm:
    """A tax practice and the settings its rules run with (see FirmSettings.avsc)."""

    firm_id: str
    users: tuple[str, ...]
    sso_enabled: bool
    ssn_verification_allowed: bool
    automatic_invites_enabled: bool
    automatic_invite_grace_days: int
    link_expiry_days: int
    max_otp_failures: int
    otp_lockout_minutes: int
    max_access_failures: int
    signing_reminder_interval_days: int
    voucher_reminder_days_before: int
    invitation_reminder_interval_days: int


@dataclass(frozen=True, slots=True)
class ClientCase:
    """One client of one firm in the dynamic password flow; contact details only hashed."""

    firm: Firm
    client_id: str
    origin: str
    email_hash: str | None
    email_masked: str | None
    phone_hash: str | None
    phone_masked: str | None


@dataclass(frozen=True, slots=True)
class ReturnCase:
    """One delivered return."""

    firm: Firm
    return_id: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """One email or SMS and what the provider reports about it is keyed by."""

    message_id: str
    provider_ref: str  # Twilio MessageSid; for SendGrid the message id is enough
    kind: str
    channel: str
    provider: str
    firm_id: str
    return_id: str | None
    client_id: str | None
    recipient_role: str | None
    recipient_hash: str | None
