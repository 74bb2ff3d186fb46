"""Which provider sends each channel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from ctrack.settings import NotificationSettings
from services.notifications.errors import ProviderConfigError
from services.notifications.providers.local import LocalOutbox
from services.notifications.providers.sendgrid import SendGridSender
from services.notifications.providers.smtp import SmtpSender
from services.notifications.providers.twilio import TwilioSender
from services.notifications.selection import build_senders
from services.webhooks.records import Channel


def now() -> datetime:
    return datetime(2026, 3, 2, tzinfo=UTC)


def settings(tmp_path: Path, **values: object) -> NotificationSettings:
    return NotificationSettings(outbox_dir=tmp_path / "outbox", **values)  # type: ignore[arg-type]


def test_local_outbox_sends_both_channels_by_default(tmp_path: Path) -> None:
    senders = build_senders(settings(tmp_path), now)
    assert isinstance(senders.email, LocalOutbox) and senders.sms is senders.email
    assert senders.for_channel(Channel.SMS) is senders.email
    assert (tmp_path / "outbox").is_dir()


def test_smtp_and_twilio_when_chosen(tmp_path: Path) -> None:
    senders = build_senders(
        settings(
            tmp_path,
            email_provider="SMTP",
            sms_provider="twilio",
            twilio_account_sid="AC1",
            twilio_auth_token=SecretStr("token"),
            twilio_from="+15550001111",
        ),
        now,
    )
    assert isinstance(senders.for_channel(Channel.EMAIL), SmtpSender)
    assert isinstance(senders.for_channel(Channel.SMS), TwilioSender)
    assert not (tmp_path / "outbox").exists()
    senders.close()


def test_sendgrid_with_local_sms(tmp_path: Path) -> None:
    senders = build_senders(
        settings(tmp_path, email_provider="sendgrid", sendgrid_api_key=SecretStr("SG.x")), now
    )
    assert isinstance(senders.email, SendGridSender) and isinstance(senders.sms, LocalOutbox)
    senders.close()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"email_provider": "mailgun"}, "CTRACK_NOTIFY_EMAIL_PROVIDER='mailgun'"),
        ({"sms_provider": "pigeon"}, "CTRACK_NOTIFY_SMS_PROVIDER='pigeon'"),
        ({"email_provider": "sendgrid"}, "needs SENDGRID_API_KEY"),
        (
            {"sms_provider": "twilio", "twilio_account_sid": "AC1"},
            "needs TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER",
        ),
    ],
)
def test_a_provider_without_its_settings_is_refused_by_name(
    tmp_path: Path, values: dict[str, object], message: str
) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        build_senders(settings(tmp_path, **values), now)
