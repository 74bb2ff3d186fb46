"""SendGrid's ECDSA and Twilio's HMAC signatures: what verifies, and every way one does not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.webhooks.errors import BadSignature, StaleTimestamp, Unsigned
from services.webhooks.signatures import (
    SENDGRID_SIGNATURE_HEADER,
    SENDGRID_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    load_sendgrid_key,
    twilio_signature,
    verify_sendgrid,
    verify_twilio,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BODY = b'[{"email":"jane@example.com","event":"delivered","sg_event_id":"abc"}]'
TOKEN = "test-auth-token-0123456789abcdef"  # noqa: S105 - a test token
URL = "https://hooks.example.test/webhooks/twilio?message_id=M-1&firm_id=F-1"
FORM = [("MessageSid", "SM1"), ("MessageStatus", "delivered"), ("To", "+15558675310")]


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def signed(private_key: ec.EllipticCurvePrivateKey, body: bytes, at: datetime) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    signature = private_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SENDGRID_SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        SENDGRID_TIMESTAMP_HEADER: timestamp,
    }


def test_sendgrid_signature_over_timestamp_and_body_verifies(
    private_key: ec.EllipticCurvePrivateKey,
) -> None:
    key = load_sendgrid_key(public_key_b64(private_key))
    verify_sendgrid(key, signed(private_key, BODY, NOW), BODY, now=NOW, tolerance_s=300)


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (lambda h, b: ({}, b), Unsigned),
        (lambda h, b: ({SENDGRID_SIGNATURE_HEADER: h[SENDGRID_SIGNATURE_HEADER]}, b), Unsigned),
        (lambda h, b: (h, b + b" "), BadSignature),
        (lambda h, b: (h | {SENDGRID_TIMESTAMP_HEADER: "1"}, b), BadSignature),
        (lambda h, b: (h | {SENDGRID_SIGNATURE_HEADER: "not base64!"}, b), BadSignature),
        (lambda h, b: (h | {SENDGRID_SIGNATURE_HEADER: "AAAA"}, b), BadSignature),
    ],
    ids=["no-headers", "no-timestamp", "body-changed", "timestamp-changed", "junk", "not-der"],
)
def test_sendgrid_signature_refused(
    private_key: ec.EllipticCurvePrivateKey, tamper: object, error: type[Exception]
) -> None:
    key = load_sendgrid_key(public_key_b64(private_key))
    headers, body = tamper(signed(private_key, BODY, NOW), BODY)  # type: ignore[operator]  # lambdas of the table
    with pytest.raises(error):
        verify_sendgrid(key, headers, body, now=NOW, tolerance_s=300)


def test_sendgrid_signature_of_another_key_is_refused(
    private_key: ec.EllipticCurvePrivateKey,
) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    key = load_sendgrid_key(public_key_b64(private_key))
    with pytest.raises(BadSignature):
        verify_sendgrid(key, signed(other, BODY, NOW), BODY, now=NOW, tolerance_s=300)


@pytest.mark.parametrize(
    ("age", "fresh"),
    [
        (timedelta(seconds=0), True),
        (timedelta(seconds=299), True),
        (timedelta(seconds=301), False),
        (timedelta(seconds=-301), False),  # from the future: a wrong clock, refused alike
        (timedelta(days=1), False),
    ],
)
def test_sendgrid_timestamp_tolerance(
    private_key: ec.EllipticCurvePrivateKey, age: timedelta, fresh: bool
) -> None:
    key = load_sendgrid_key(public_key_b64(private_key))
    headers = signed(private_key, BODY, NOW - age)
    if fresh:
        verify_sendgrid(key, headers, BODY, now=NOW, tolerance_s=300)
    else:
        with pytest.raises(StaleTimestamp):
            verify_sendgrid(key, headers, BODY, now=NOW, tolerance_s=300)


@pytest.mark.parametrize(
    "encoded",
    ["", "not base64!", base64.b64encode(b"not der").decode()],
)
def test_a_wrong_sendgrid_key_stops_start_up(encoded: str) -> None:
    with pytest.raises(ValueError, match="SENDGRID_WEBHOOK_PUBLIC_KEY"):
        load_sendgrid_key(encoded)


def test_a_key_on_another_curve_is_refused() -> None:
    with pytest.raises(ValueError, match="P-256"):
        load_sendgrid_key(public_key_b64(ec.generate_private_key(ec.SECP384R1())))


def test_twilio_signature_matches_twilio_documented_example() -> None:
    # The example of Twilio's "Webhooks security" page (auth token 12345).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    assert twilio_signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_signature_verifies_with_unknown_parameters() -> None:
    form = [*FORM, ("SomethingTwilioAddedLater", "x")]
    headers = {TWILIO_SIGNATURE_HEADER: twilio_signature(TOKEN, URL, form)}
    verify_twilio(TOKEN, URL, form, headers)


@pytest.mark.parametrize(
    ("url", "form", "headers"),
    [
        (URL, FORM, {}),
        (URL, FORM, {TWILIO_SIGNATURE_HEADER: "bm90IGl0"}),
        (URL.replace("M-1", "M-2"), FORM, None),
        (URL, [*FORM[:2], ("To", "+15550000000")], None),
        (URL, FORM, {TWILIO_SIGNATURE_HEADER: twilio_signature("other-token", URL, FORM)}),
    ],
    ids=["unsigned", "junk", "url-changed", "param-changed", "other-token"],
)
def test_twilio_signature_refused(
    url: str, form: list[tuple[str, str]], headers: dict[str, str] | None
) -> None:
    given = (
        headers
        if headers is not None
        else {TWILIO_SIGNATURE_HEADER: twilio_signature(TOKEN, URL, FORM)}
    )
    with pytest.raises(Unsigned if not given else BadSignature):
        verify_twilio(TOKEN, url, form, given)
