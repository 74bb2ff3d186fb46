"""Which provider sends each channel, per CTRACK_NOTIFY_EMAIL_PROVIDER / _SMS_PROVIDER."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ctrack.settings import NotificationSettings
from services.notifications.errors import ProviderConfigError
from services.notifications.providers import MessageSender
from services.notifications.providers.local import LocalOutbox
from services.webhooks.records import Channel

EMAIL_PROVIDERS = ("local", "smtp", "sendgrid")
SMS_PROVIDERS = ("local", "twilio")


@dataclass(frozen=True)
class Senders:
    """One sender per channel (the local outbox may serve both)."""

    email: MessageSender
    sms: MessageSender

    def for_channel(self, channel: Channel) -> MessageSender:
        return self.email if channel is Channel.EMAIL else self.sms

    def close(self) -> None:
        self.email.close()
        if self.sms is not self.email:
            self.sms.close()


def build_senders(
    settings: NotificationSettings,
    clock: Callable[[], datetime],
    announce: Callable[[str], None] | None = None,
) -> Senders:
    """The configured senders; ProviderConfigError names what is missing.

    Args:
        settings: provider choice and credentials.
        clock: the time written on local outbox files.
        announce: where the local outbox prints its one-line summaries (default stdout).
    """
    email_choice = settings.email_provider.strip().lower()
    sms_choice = settings.sms_provider.strip().lower()
    if email_choice not in EMAIL_PROVIDERS:
        raise ProviderConfigError(
            f"CTRACK_NOTIFY_EMAIL_PROVIDER={settings.email_provider!r}: "
            f"choose one of {', '.join(EMAIL_PROVIDERS)}"
        )
    if sms_choice not in SMS_PROVIDERS:
        raise ProviderConfigError(
            f"CTRACK_NOTIFY_SMS_PROVIDER={settings.sms_provider!r}: "
            f"choose one of {', '.join(SMS_PROVIDERS)}"
        )
    local = (
        LocalOutbox(settings.outbox_dir, clock, announce)
        if "local" in (email_choice, sms_choice)
        else None
    )
    email: MessageSender = (
        local if local and email_choice == "local" else _email_sender(email_choice, settings)
    )
    sms: MessageSender = local if local and sms_choice == "local" else _twilio(settings)
    return Senders(email=email, sms=sms)


def _email_sender(choice: str, settings: NotificationSettings) -> MessageSender:
    if choice == "smtp":
        from services.notifications.providers.smtp import SmtpSender

        password = settings.smtp_password
        return SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.email_from,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            starttls=settings.smtp_starttls,
            timeout_s=settings.provider_timeout_s,
        )
    from services.notifications.providers.sendgrid import SendGridSender

    if settings.sendgrid_api_key is None:
        raise ProviderConfigError("the sendgrid email provider needs SENDGRID_API_KEY")
    return SendGridSender(
        settings.sendgrid_api_key.get_secret_value(),
        settings.email_from,
        base_url=settings.sendgrid_api_url,
        timeout_s=settings.provider_timeout_s,
    )


def _twilio(settings: NotificationSettings) -> MessageSender:
    from services.notifications.providers.twilio import TwilioSender

    missing = [
        name
        for name, value in (
            ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
            ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
            ("TWILIO_FROM_NUMBER", settings.twilio_from),
        )
        if not value
    ]
    if missing:
        raise ProviderConfigError(f"the twilio SMS provider needs {', '.join(missing)}")
    assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from  # noqa: S101
    return TwilioSender(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        settings.twilio_from,
        base_url=settings.twilio_api_url,
        status_callback_url=settings.status_callback_url,
        timeout_s=settings.provider_timeout_s,
    )
