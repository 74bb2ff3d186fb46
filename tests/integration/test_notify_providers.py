"""Provider adapters against local peers: an SMTP server (STARTTLS + AUTH) and HTTP servers
standing in for SendGrid and Twilio. Checks request shape, auth, and that what the providers
will call back with maps (through the webhook ingest's own parsers) to our ids."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from schemas.pii import PiiHasher
from schemas.tracking import RecipientRole
from services.credentials import otp_secret_ref
from services.notifications.compose import Content, OutgoingMessage
from services.notifications.errors import ProviderError
from services.notifications.providers.sendgrid import SendGridSender
from services.notifications.providers.smtp import SmtpSender
from services.notifications.providers.twilio import TwilioSender
from services.notifications.requests import Notification
from services.webhooks import sendgrid, twilio
from services.webhooks.records import (
    Channel,
    DeliveryStatus,
    MessageIds,
    MessageKind,
    Provider,
)
from tests.integration.notify_peers import (
    SMTP_PASSWORD,
    SMTP_USER,
    Answer,
    HttpPeer,
    MailCatcher,
    free_port,
    self_signed_certificate,
    smtp_server,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EMAIL, PHONE = "jane.doe@example.com", "+15558675310"
ID = "9a1f3c2e-7b6d-4e5f-8a9b-0c1d2e3f4a5b"
LINK = "http://127.0.0.1:8092/client/links/L-1.mac"
HASHER = PiiHasher(b"provider-test-pii-key-0123456789")


def invite() -> OutgoingMessage:
    notification = Notification(
        ID,
        NOW,
        Channel.EMAIL,
        MessageKind.DYNAMIC_PASSWORD_INVITE,
        "F-1",
        client_id="C-1",
        recipient_role=RecipientRole.TAXPAYER,
        link_id="L-1",
    )
    content = Content("You are invited", f"Hello,\n\nOpen {LINK}\n", LINK, None)
    return OutgoingMessage(notification, EMAIL, content)


def otp() -> OutgoingMessage:
    notification = Notification(
        ID,
        NOW,
        Channel.SMS,
        MessageKind.OTP_SMS,
        "F-1",
        client_id="C-1",
        secret_ref=otp_secret_ref(3),
    )
    return OutgoingMessage(
        notification, PHONE, Content(None, "Your code is 123456.", None, "123456")
    )


OUR_IDS = MessageIds(
    message_id=ID,
    firm_id="F-1",
    message_kind=MessageKind.DYNAMIC_PASSWORD_INVITE,
    client_id="C-1",
    recipient_role=RecipientRole.TAXPAYER,
)


# -- SMTP ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def test_smtp_sends_over_starttls_with_login_and_our_ids(certificate: tuple[Path, Path]) -> None:
    catcher = MailCatcher()
    with smtp_server(catcher, certificate) as (port, client_tls):
        sender = SmtpSender(
            "127.0.0.1",
            port,
            "no-reply@firm.example",
            username=SMTP_USER,
            password=SMTP_PASSWORD,
            tls_context=client_tls,
        )
        receipt = sender.send(invite())
    assert (receipt.provider, receipt.status) == (Provider.SMTP, DeliveryStatus.PROCESSED)
    assert receipt.provider_message_id == ID
    [mail] = catcher.received
    assert mail.over_tls and mail.rcpt_tos == [EMAIL] and mail.mail_from == "no-reply@firm.example"
    assert mail.login == SMTP_USER
    parsed = message_from_bytes(mail.content, policy=policy.default)
    assert parsed["Subject"] == "You are invited"
    assert parsed["Message-ID"] == f"<{ID}@firm.example>"
    assert parsed["X-Ctrack-Message-Id"] == ID and parsed["X-Ctrack-Firm-Id"] == "F-1"
    assert LINK in parsed.get_body().get_content()  # type: ignore[union-attr]  # text/plain


def test_smtp_refuses_to_send_in_clear_when_starttls_is_missing() -> None:
    catcher = MailCatcher()
    with (
        smtp_server(catcher, tls=None) as (port, _),
        pytest.raises(ProviderError, match="STARTTLS") as raised,
    ):
        SmtpSender("127.0.0.1", port, "no-reply@firm.example").send(invite())
    assert not raised.value.retriable and catcher.received == []


def test_smtp_wrong_password_and_refused_recipient_are_not_retried(
    certificate: tuple[Path, Path],
) -> None:
    catcher = MailCatcher()
    catcher.refuse.add(EMAIL)
    with smtp_server(catcher, certificate) as (port, client_tls):
        with pytest.raises(ProviderError) as wrong_login:
            SmtpSender(
                "127.0.0.1",
                port,
                "a@firm.example",
                username=SMTP_USER,
                password="wrong-password",  # noqa: S106 - a test password
                tls_context=client_tls,
            ).send(invite())
        with pytest.raises(ProviderError, match="refused") as refused:
            SmtpSender(
                "127.0.0.1",
                port,
                "a@firm.example",
                username=SMTP_USER,
                password=SMTP_PASSWORD,
                tls_context=client_tls,
            ).send(invite())
    assert not wrong_login.value.retriable and wrong_login.value.code == "535"
    assert not refused.value.retriable and EMAIL not in str(refused.value)
    assert catcher.received == []


def test_smtp_server_not_listening_is_retriable() -> None:
    with pytest.raises(ProviderError, match="not reachable") as raised:
        SmtpSender("127.0.0.1", free_port(), "a@firm.example", timeout_s=2).send(invite())
    assert raised.value.retriable


# -- SendGrid -----------------------------------------------------------------------------
@pytest.fixture
def sendgrid_api() -> Iterator[HttpPeer]:
    with HttpPeer(Answer(202, {"X-Message-Id": "sg-msg-1"})) as peer:
        yield peer


def test_sendgrid_mail_send_carries_our_ids_as_custom_args(sendgrid_api: HttpPeer) -> None:
    sender = SendGridSender("SG.test-key", "no-reply@firm.example", base_url=sendgrid_api.url)
    receipt = sender.send(invite())
    sender.close()
    assert (receipt.provider, receipt.provider_message_id) == (Provider.SENDGRID, "sg-msg-1")
    assert receipt.status is DeliveryStatus.PROCESSED
    [request] = sendgrid_api.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["authorization"] == "Bearer SG.test-key"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["personalizations"] == [{"to": [{"email": EMAIL}]}]
    assert body["from"] == {"email": "no-reply@firm.example"}
    assert body["subject"] == "You are invited"
    assert body["content"] == [{"type": "text/plain", "value": f"Hello,\n\nOpen {LINK}\n"}]
    custom_args = body["custom_args"]
    assert all(isinstance(value, str) for value in custom_args.values())
    # SendGrid echoes custom args at the top level of each webhook event:
    event = {
        "email": EMAIL,
        "timestamp": int(NOW.timestamp()),
        "event": "delivered",
        "sg_event_id": "evt-1",
        "sg_message_id": "sg-msg-1.filter0001",
        **custom_args,
    }
    delivered = sendgrid.delivery_event(event, HASHER, NOW)
    assert delivered.ids == OUR_IDS
    assert delivered.recipient_hash == HASHER.email(EMAIL)


@pytest.mark.parametrize(
    ("answer", "retriable", "text"),
    [
        (Answer(429, body=b'{"errors":[{"message":"too many requests"}]}'), True, "HTTP 429"),
        (
            Answer(400, body=json.dumps({"errors": [{"message": f"bad to {EMAIL}"}]}).encode()),
            False,
            "bad to [redacted email address]",
        ),
        (Answer(500), False, "HTTP 500"),
    ],
)
def test_sendgrid_refusals(
    sendgrid_api: HttpPeer, answer: Answer, retriable: bool, text: str
) -> None:
    sendgrid_api.answers.append(answer)
    sender = SendGridSender("SG.test-key", "a@firm.example", base_url=sendgrid_api.url)
    with pytest.raises(ProviderError) as raised:
        sender.send(invite())
    assert raised.value.retriable is retriable
    assert text in str(raised.value) and EMAIL not in str(raised.value)
    assert raised.value.code == str(answer.status)


def test_unreachable_api_is_retriable() -> None:
    sender = SendGridSender("k", "a@firm.example", base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ProviderError, match="not reachable") as raised:
        sender.send(invite())
    assert raised.value.retriable


# -- Twilio -------------------------------------------------------------------------------
@pytest.fixture
def twilio_api() -> Iterator[HttpPeer]:
    answer = Answer(
        201,
        {"Content-Type": "application/json"},
        json.dumps({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}).encode(),
    )
    with HttpPeer(answer) as peer:
        yield peer


def twilio_sender(
    peer: HttpPeer, callback: str | None = "https://hooks.example.test"
) -> TwilioSender:
    return TwilioSender(
        "AC123",
        "twilio-test-token",
        "+15550001111",
        base_url=peer.url,
        status_callback_url=callback,
    )


def test_twilio_message_with_basic_auth_and_a_status_callback_carrying_our_ids(
    twilio_api: HttpPeer,
) -> None:
    receipt = twilio_sender(twilio_api).send(otp())
    assert receipt.provider is Provider.TWILIO and receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider_message_id == "SM0123456789abcdef0123456789abcdef"
    [request] = twilio_api.requests
    assert request.path == "/2010-04-01/Accounts/AC123/Messages.json"
    expected_auth = base64.b64encode(b"AC123:twilio-test-token").decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
    assert (form["To"], form["From"], form["Body"]) == (
        PHONE,
        "+15550001111",
        "Your code is 123456.",
    )
    callback = urlsplit(form["StatusCallback"])
    assert (callback.scheme, callback.netloc, callback.path) == (
        "https",
        "hooks.example.test",
        "/webhooks/twilio",
    )
    # what Twilio will POST back, read by the webhook ingest's own mapper:
    status_form = [
        ("MessageSid", receipt.provider_message_id),
        ("MessageStatus", "delivered"),
        ("To", PHONE),
    ]
    outgoing = twilio.map_callback(status_form, parse_qsl(callback.query), HASHER, NOW)
    assert outgoing.key == ID
    assert outgoing.record["message_id"] == ID and outgoing.record["client_id"] == "C-1"
    assert outgoing.record["message_kind"] == "OTP_SMS" and outgoing.record["firm_id"] == "F-1"
    assert outgoing.record["recipient_hash"] == HASHER.phone(PHONE)
    assert PHONE not in form["StatusCallback"]


def test_twilio_without_a_callback_url_asks_for_no_callback(twilio_api: HttpPeer) -> None:
    twilio_sender(twilio_api, callback=None).send(otp())
    assert "StatusCallback" not in parse_qs(twilio_api.requests[0].body.decode())


def test_twilio_refusal_is_reported_without_the_number(twilio_api: HttpPeer) -> None:
    body = {"code": 21211, "message": f"The 'To' number {PHONE} is not valid", "status": 400}
    twilio_api.answers.append(
        Answer(400, {"Content-Type": "application/json"}, json.dumps(body).encode())
    )
    with pytest.raises(ProviderError, match="error 21211") as raised:
        twilio_sender(twilio_api).send(otp())
    assert not raised.value.retriable and "5558675310" not in str(raised.value)
