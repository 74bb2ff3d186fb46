"""Request bodies of the HTTP API: every field bounded and checked, errors never echo values."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from schemas.clients import GetRequestKind
from schemas.pii import clear_pii_kind
from schemas.tracking import RecipientRole
from services.dynamic_password.contacts import parse_email, parse_phone, parse_ssn_last4

ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"
MAX_ID_LENGTH = 128


def _no_clear_pii(text: str) -> str:
    if kind := clear_pii_kind(text):
        article = "an" if kind[0] in "aeiouS" else "a"
        raise ValueError(f"must not contain {article} {kind} in clear")
    return text


Email = Annotated[str, Field(max_length=254), AfterValidator(parse_email)]
Phone = Annotated[str, Field(max_length=32), AfterValidator(parse_phone)]
SsnLast4 = Annotated[str, Field(max_length=8), AfterValidator(parse_ssn_last4)]
ClientId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)]
CleanText = Annotated[str, AfterValidator(_no_clear_pii)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NewClientBody(_Body):
    """A client to add: email, phone and SSN digits are optional until they are needed."""

    email: Email | None = Field(None, description="Required before an invite.")
    phone: Phone | None = Field(None, description="Mobile number for one-time passwords.")
    ssn_last4: SsnLast4 | None = Field(
        None, description="Last 4 SSN digits, for SSN verification; kept only as a keyed hash."
    )
    origin: Literal["MANUAL", "API"] = Field(
        "MANUAL", description="API: added by an integration (never gets dynamic password invites)."
    )


class ContactChangeBody(_Body):
    """A new email and/or phone (at least one)."""

    email: Email | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.email is None and self.phone is None:
            raise ValueError("give a new email, a new phone, or both")
        return self


class GetRequestBody(_Body):
    kind: GetRequestKind = Field(description="DRL, QUESTIONNAIRE or LETTER.")


class BulkInviteBody(_Body):
    client_ids: list[ClientId] = Field(min_length=1, max_length=500)


class MessageBody(_Body):
    """A message for a Connected, verified client (no SSN, phone or email in clear)."""

    subject: CleanText = Field(min_length=1, max_length=200)
    body: CleanText = Field(min_length=1, max_length=10_000)


class SettingsChangeBody(_Body):
    """Settings to change; the others keep their current values."""

    sso_enabled: bool | None = None
    ssn_verification_allowed: bool | None = None
    automatic_invites_enabled: bool | None = None
    automatic_invite_grace_days: int | None = Field(None, ge=0, le=365)
    link_expiry_days: int | None = Field(None, ge=1, le=365)
    max_otp_failures: int | None = Field(None, ge=1, le=10)
    otp_lockout_minutes: int | None = Field(None, ge=1, le=10_080)
    max_access_failures: int | None = Field(None, ge=1, le=10)
    signing_reminder_interval_days: int | None = Field(None, ge=0, le=365)
    voucher_reminder_days_before: int | None = Field(None, ge=0, le=365)
    invitation_reminder_interval_days: int | None = Field(None, ge=0, le=365)

    def changes(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.changes():
            raise ValueError("give at least one setting to change")
        return self


class ReturnUnlockBody(_Body):
    recipient_role: RecipientRole | None = Field(
        None, description="TAXPAYER, SPOUSE or CC_RECIPIENT; none: every locked recipient."
    )


class CodeBody(_Body):
    code: str = Field(pattern=r"^\s*\d{4,10}\s*$", description="The code from the SMS.")


class SsnBody(_Body):
    last4: SsnLast4 = Field(description="The last 4 digits of your SSN.")


class LoginLinkBody(_Body):
    email: Email = Field(description="The email address your firm has for you.")


class PasswordBody(_Body):
    password: str = Field(min_length=1, max_length=1024)


class LoginBody(_Body):
    email: Email = Field(description="The email address your firm has for you.")
    password: str = Field(min_length=1, max_length=1024)
