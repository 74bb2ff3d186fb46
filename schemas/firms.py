"""A firm's settings as a typed value (defaults documented in ctrack.firms.FirmSettings.avsc)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.catalogue import FIRM_SETTINGS

SCHEMA_NAME = FIRM_SETTINGS
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FirmSettings:
    """Rule parameters of one firm. A firm that never published settings gets these defaults."""

    firm_id: str
    updated_at: datetime = EPOCH
    updated_by: str | None = None
    sso_enabled: bool = False
    ssn_verification_allowed: bool = False
    automatic_invites_enabled: bool = False
    automatic_invite_grace_days: int = 3
    link_expiry_days: int = 14
    max_otp_failures: int = 3
    otp_lockout_minutes: int = 120
    max_access_failures: int = 3
    signing_reminder_interval_days: int = 7
    voucher_reminder_days_before: int = 7
    invitation_reminder_interval_days: int = 0

    @property
    def link_lifetime(self) -> timedelta:
        return timedelta(days=self.link_expiry_days)

    @property
    def login_lockout(self) -> timedelta:
        return timedelta(minutes=self.otp_lockout_minutes)

    @property
    def automatic_invite_grace(self) -> timedelta:
        return timedelta(days=self.automatic_invite_grace_days)


def to_record(settings: FirmSettings) -> dict[str, Any]:
    return asdict(settings)


def from_record(record: dict[str, Any]) -> FirmSettings:
    return FirmSettings(**{k: v for k, v in record.items() if k in FirmSettings.__slots__})
