"""The text of every message kind, by email and by SMS: plain, small templates, pure."""

from __future__ import annotations

from dataclasses import dataclass

from services.notifications.errors import InvalidNotification
from services.webhooks.records import Channel, MessageKind

SIGN_OFF = "Your tax professional"


@dataclass(frozen=True, slots=True)
class Template:
    """One message kind: its email subject and its text ({code} and {validity} filled in)."""

    subject: str
    text: str
    needs_link: bool = False
    needs_code: bool = False


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready for a provider; SMS has no subject."""

    subject: str | None
    body: str


_K = MessageKind
TEMPLATES: dict[MessageKind, Template] = {
    _K.DYNAMIC_PASSWORD_INVITE: Template(
        "You are invited to your tax professional's client portal",
        "Your tax professional invited you to their secure client portal. Open the link below "
        "to sign in; we will text a one-time code to your mobile phone to confirm it is you.",
        needs_link=True,
    ),
    _K.INVITATION_REMINDER: Template(
        "Reminder: your client portal invitation",
        "A reminder to join your tax professional's secure client portal. Use the new link "
        "below; links sent earlier no longer work.",
        needs_link=True,
    ),
    _K.LOGIN_LINK: Template(
        "Your new login link",
        "Here is the new login link you asked for. Links sent earlier no longer work.",
        needs_link=True,
    ),
    _K.OTP_SMS: Template(
        "Your verification code",
        "Your verification code is {code}. It is valid for {validity} and works once. "
        "Never share it: we will never ask you for it.",
        needs_code=True,
    ),
    _K.ACCESS_CODE_EMAIL: Template(
        "Your access code",
        "Your access code is {code}. It is valid for {validity} and works once.",
        needs_code=True,
    ),
    _K.FIRM_MESSAGE: Template(
        "You have a new message from your tax professional",
        "Your tax professional sent you a message. Sign in to the client portal to read it.",
    ),
    _K.INITIAL_EMAIL: Template(
        "Your tax return is ready",
        "Your tax professional delivered your tax return. Open it from the secure portal.",
    ),
    _K.SIGNING_REMINDER: Template(
        "Reminder: your tax return is ready to sign",
        "Your tax return is waiting for your signature. Please review and sign it soon.",
    ),
    _K.VOUCHER_REMINDER: Template(
        "Reminder: a tax payment is due soon",
        "A tax payment voucher of your return comes due soon. Please pay it by its due date.",
    ),
    _K.UNLOCK_NOTICE: Template(
        "Your access has been unlocked",
        "Your tax professional unlocked your access. Links sent before the lock no longer "
        "work; use the newest one you receive.",
    ),
    _K.OTHER: Template(
        "A message from your tax professional",
        "Your tax professional has an update for you. Sign in to the client portal to see it.",
    ),
}


def render(
    kind: MessageKind,
    channel: Channel,
    *,
    link: str | None = None,
    code: str | None = None,
    code_validity_s: int = 300,
) -> Rendered:
    """The subject (emails) and body of one message.

    Args:
        kind: which template.
        channel: EMAIL gets a subject, greeting and sign-off; SMS only the text.
        link: the client's login link, appended when given (required by link kinds).
        code: the one-time code (required by code kinds).
        code_validity_s: how long the code works, said in the text.

    Raises InvalidNotification when the kind needs a link or code that is missing.
    """
    template = TEMPLATES.get(kind, TEMPLATES[MessageKind.OTHER])
    if template.needs_link and not link:
        raise InvalidNotification(f"{kind.value} needs a link_id")
    if template.needs_code and not code:
        raise InvalidNotification(f"{kind.value} needs a one-time code (secret_ref otp:<n>)")
    text = template.text.format(code=code or "", validity=validity_text(code_validity_s))
    if channel is Channel.SMS:
        return Rendered(None, f"{text} {link}" if link else text)
    parts = ["Hello,", text, *([link] if link else []), SIGN_OFF]
    return Rendered(template.subject, "\n\n".join(parts) + "\n")


def validity_text(seconds: int) -> str:
    """'5 minutes', '1 minute', '45 seconds'."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
