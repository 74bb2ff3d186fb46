"""Message texts per kind, and the links and codes the dispatcher rebuilds from ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.credentials import Contact, LinkTokens, OneTimeCodes, login_url, otp_secret_ref
from services.notifications.compose import MessageSecrets, address_for, content_of
from services.notifications.errors import ContactUnavailable, InvalidNotification
from services.notifications.requests import Notification, from_record, to_record
from services.notifications.templates import TEMPLATES, render, validity_text
from services.webhooks.records import Channel, MessageKind

MASTER = b"unit-test-master-key-0123456789abcdef"
PUBLIC = "https://portal.example.test/"
LINK = "https://portal.example.test/client/links/L-1.abc"


def notification(
    kind: MessageKind, channel: Channel = Channel.EMAIL, **fields: str
) -> Notification:
    values: dict[str, str] = {"client_id": "C-1"} | fields
    return Notification(
        notification_id="0b7d6f8e-3c1a-4f55-9a51-1f0e6c1d2a3b",
        requested_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        channel=channel,
        message_kind=kind,
        firm_id="F-1",
        **values,  # type: ignore[arg-type]  # only str-typed optional fields are passed
    )


def secrets() -> MessageSecrets:
    return MessageSecrets(LinkTokens(MASTER), OneTimeCodes(MASTER), PUBLIC, 300)


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_renders_an_email_with_subject_greeting_and_sign_off(kind: MessageKind) -> None:
    rendered = render(kind, Channel.EMAIL, link=LINK, code="123456")
    assert rendered.subject
    assert rendered.body.startswith("Hello,")
    assert rendered.body.rstrip().endswith("Your tax professional")
    assert "{" not in rendered.body


@pytest.mark.parametrize(
    "kind",
    [MessageKind.DYNAMIC_PASSWORD_INVITE, MessageKind.INVITATION_REMINDER, MessageKind.LOGIN_LINK],
)
def test_link_kinds_carry_the_link_and_refuse_to_render_without_one(kind: MessageKind) -> None:
    assert LINK in render(kind, Channel.EMAIL, link=LINK).body
    with pytest.raises(InvalidNotification, match="needs a link_id"):
        render(kind, Channel.EMAIL)


def test_otp_sms_is_short_and_says_the_code_and_its_validity() -> None:
    rendered = render(MessageKind.OTP_SMS, Channel.SMS, code="042917", code_validity_s=300)
    assert rendered.subject is None
    assert "042917" in rendered.body and "5 minutes" in rendered.body
    assert len(rendered.body) <= 160
    with pytest.raises(InvalidNotification, match="one-time code"):
        render(MessageKind.OTP_SMS, Channel.SMS)


def test_kinds_without_a_template_fall_back_to_a_generic_text() -> None:
    assert set(TEMPLATES) == set(MessageKind)
    assert "update" in render(MessageKind.OTHER, Channel.SMS).body


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(300, "5 minutes"), (60, "1 minute"), (45, "45 seconds"), (90, "90 seconds")],
)
def test_validity_text(seconds: int, text: str) -> None:
    assert validity_text(seconds) == text


def test_content_rebuilds_the_login_link_from_the_link_id() -> None:
    content = content_of(
        notification(MessageKind.DYNAMIC_PASSWORD_INVITE, link_id="L-9"), secrets()
    )
    tokens = LinkTokens(MASTER)
    assert content.link == login_url(PUBLIC, tokens.issue("L-9"))
    assert content.link is not None and content.link in content.body
    assert tokens.link_id(content.link.rsplit("/", 1)[1]) == "L-9"
    assert content.code is None


def test_content_derives_the_code_the_service_will_verify() -> None:
    otp = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=otp_secret_ref(7))
    content = content_of(otp, secrets())
    assert content.code is not None and content.code in content.body
    assert OneTimeCodes(MASTER).verify("F-1", "C-1", 7, content.code)
    assert not OneTimeCodes(MASTER).verify("F-1", "C-1", 8, content.code)


@pytest.mark.parametrize("secret_ref", ["otp:x", "link:1", "otp:"])
def test_a_secret_ref_that_names_no_code_is_invalid(secret_ref: str) -> None:
    otp = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=secret_ref)
    with pytest.raises(InvalidNotification):
        content_of(otp, secrets())


def test_a_code_needs_its_client() -> None:
    otp = notification(MessageKind.OTP_SMS, Channel.SMS, secret_ref=otp_secret_ref(1))
    otp_for_return = replace(otp, client_id=None, return_id="R-1")
    with pytest.raises(InvalidNotification, match="client_id"):
        content_of(otp_for_return, secrets())


def test_address_is_the_channels_part_of_the_contact() -> None:
    contact = Contact(email="jane@example.com", phone=None)
    assert address_for(Channel.EMAIL, contact) == "jane@example.com"
    with pytest.raises(ContactUnavailable, match="mobile number") as raised:
        address_for(Channel.SMS, contact)
    assert not raised.value.permanent


def test_record_round_trip_and_a_notification_for_nobody_is_invalid() -> None:
    invite = notification(MessageKind.LOGIN_LINK, link_id="L-1")
    assert from_record(to_record(invite)) == invite
    with pytest.raises(InvalidNotification, match="neither"):
        from_record({**to_record(invite), "client_id": None})
