"""Secrets shared by the dynamic password service and the notification dispatcher.

Neither a link token, a one-time password nor a contact ever travels on a topic in clear:
- a link token is `link_id.HMAC(link_id)`: the service checks it without storing tokens, the
  dispatcher builds it from the `link_id` on the notification;
- a one-time password is HOTP(secret(firm, client), counter): the notification carries only
  the counter (`secret_ref = "otp:<counter>"`) and the dispatcher derives the same code;
- a contact (email, phone) is sealed with AES-256-GCM, firm and client bound as associated data.

Each purpose has its own key, derived from one master secret with HKDF.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

OTP_REF_PREFIX = "otp:"
_NONCE_BYTES = 12


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose; the same master and purpose always give the same key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"ctrack-auth", info=purpose.encode()
    ).derive(master)


class LinkTokens:
    """Tokens in invite and login links: `<link_id>.<mac>`, checked without a lookup."""

    def __init__(self, master: bytes):
        self._key = derive_key(master, "link-token")

    def _mac(self, link_id: str) -> str:
        digest = hmac.new(self._key, link_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")

    def issue(self, link_id: str) -> str:
        return f"{link_id}.{self._mac(link_id)}"

    def link_id(self, token: str) -> str | None:
        """The link id a genuine token names, or None for anything forged or malformed."""
        if len(token) > 200 or not token.isascii():  # ours are ASCII; compare_digest needs it
            return None
        link_id, dot, mac = token.rpartition(".")
        if not dot or not link_id:
            return None
        return link_id if hmac.compare_digest(mac, self._mac(link_id)) else None


def login_url(public_url: str, token: str) -> str:
    """The link a client opens: the service's client page for that token."""
    return f"{public_url.rstrip('/')}/client/links/{token}"


class OneTimeCodes:
    """HOTP codes per client: only the counter is ever stored or sent, never the code."""

    def __init__(self, master: bytes, digits: int = 6):
        self._key = derive_key(master, "otp-secret")
        self._digits = digits

    def _hotp(self, firm_id: str, client_id: str) -> pyotp.HOTP:
        seed = hmac.new(self._key, f"{firm_id}\x00{client_id}".encode(), hashlib.sha256).digest()
        return pyotp.HOTP(base64.b32encode(seed).decode(), digits=self._digits)

    def code(self, firm_id: str, client_id: str, counter: int) -> str:
        return str(self._hotp(firm_id, client_id).at(counter))

    def verify(self, firm_id: str, client_id: str, counter: int, code: str) -> bool:
        """Constant-time check of `code` against exactly one counter (the newest one)."""
        return bool(self._hotp(firm_id, client_id).verify(code.strip(), counter))


def otp_secret_ref(counter: int) -> str:
    return f"{OTP_REF_PREFIX}{counter}"


def otp_counter(secret_ref: str | None) -> int | None:
    """The counter a notification's `secret_ref` names, or None if it names no code."""
    if not secret_ref or not secret_ref.startswith(OTP_REF_PREFIX):
        return None
    digits = secret_ref[len(OTP_REF_PREFIX) :]
    return int(digits) if digits.isdigit() else None


@dataclass(frozen=True, slots=True)
class Contact:
    """Where a client can be reached; either part may be missing until an invite."""

    email: str | None = None
    phone: str | None = None


class ContactSealer:
    """Seals contacts for the compacted client-contacts topic (AES-256-GCM)."""

    def __init__(self, master: bytes, key_id: str):
        self._aead = AESGCM(derive_key(master, f"contact-seal:{key_id}"))
        self.key_id = key_id

    @staticmethod
    def _bound(firm_id: str, client_id: str) -> bytes:
        return f"{firm_id}\x00{client_id}".encode()

    def seal(self, firm_id: str, client_id: str, contact: Contact) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps({"email": contact.email, "phone": contact.phone}).encode()
        return nonce + self._aead.encrypt(nonce, plain, self._bound(firm_id, client_id))

    def open(self, firm_id: str, client_id: str, sealed: bytes) -> Contact:
        """Raises cryptography's InvalidTag for anything not sealed by us for this client."""
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        values = json.loads(self._aead.decrypt(nonce, ciphertext, self._bound(firm_id, client_id)))
        return Contact(email=values.get("email"), phone=values.get("phone"))
