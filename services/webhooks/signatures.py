"""Provider signature checks, pure: keys, headers, body and the current time are passed in."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from services.webhooks.errors import BadSignature, StaleTimestamp, Unsigned

SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"


def load_sendgrid_key(encoded: str) -> ec.EllipticCurvePublicKey:
    """The P-256 key of SendGrid's settings page (base64 DER SubjectPublicKeyInfo).

    Raises ValueError for anything else, so a wrong key stops the service at start-up.
    """
    try:
        key = load_der_public_key(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(
            f"SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 DER public key: {exc}"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("SENDGRID_WEBHOOK_PUBLIC_KEY must be an ECDSA P-256 public key")
    return key


def verify_sendgrid(
    key: ec.EllipticCurvePublicKey,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance_s: float,
) -> None:
    """Check SendGrid's ECDSA P-256 / SHA-256 signature over `timestamp + body`, then its age.

    Args:
        key: SendGrid's verification key.
        headers: request headers (a case-insensitive mapping, as Starlette gives).
        body: the raw body, exactly as received.
        now: the current time (UTC, aware).
        tolerance_s: how far the signed timestamp may be from `now`, either way.
    """
    signature, timestamp = (
        headers.get(SENDGRID_SIGNATURE_HEADER),
        headers.get(SENDGRID_TIMESTAMP_HEADER),
    )
    if not signature or not timestamp:
        raise Unsigned(f"missing {SENDGRID_SIGNATURE_HEADER} or {SENDGRID_TIMESTAMP_HEADER}")
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise BadSignature("SendGrid signature does not verify") from exc
    try:
        signed_at = int(timestamp)
    except ValueError as exc:
        raise BadSignature("SendGrid timestamp is not a number of seconds") from exc
    age_s = now.timestamp() - signed_at
    if abs(age_s) > tolerance_s:
        raise StaleTimestamp(
            f"SendGrid timestamp is {age_s:.0f}s from now (tolerance {tolerance_s:.0f}s)"
        )


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(auth token, url + each POST parameter as name+value, sorted))."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], headers: Mapping[str, str]
) -> None:
    """Check `X-Twilio-Signature` for the full URL Twilio called and the form it posted.

    Args:
        auth_token: the account's auth token.
        url: the full URL as Twilio saw it, query string included.
        params: every POST parameter, unknown ones included (Twilio signs them all).
        headers: request headers.
    """
    given = headers.get(TWILIO_SIGNATURE_HEADER)
    if not given:
        raise Unsigned(f"missing {TWILIO_SIGNATURE_HEADER}")
    expected = twilio_signature(auth_token, url, params)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise BadSignature("Twilio signature does not verify")
