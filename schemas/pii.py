"""Personal data never travels in clear: keyed hashes, masked forms, and a guard on every record.

SSNs, phone numbers and email addresses may appear on a topic only as a keyed hash
(HMAC-SHA256 with a deployment secret) or a masked display form. `assert_no_clear_pii` is run by
the producer on every record before it is encoded, and `redact` cleans dead-letter payloads.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from typing import Any

from schemas.errors import SerializationError

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])|(?<![\w-])\d{9}(?![\w-])")
PHONE = re.compile(r"(?<![\w+])\+?1?[\s.-]?\(?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{4}(?![\w])")
# A phone number written as one: with +country code, parentheses or separators.
FORMATTED_PHONE = re.compile(
    r"\+\d{10,15}(?!\d)|\(\d{3}\)\s?\d{3}[\s.-]?\d{4}(?!\d)"
    r"|(?<![\w.-])\d{3}[\s.-]\d{3}[\s.-]\d{4}(?![\w-])"
)
_PATTERNS = (("email address", EMAIL), ("SSN", SSN), ("phone number", PHONE))
# Identifiers (`*_id`, hashes) are often bare digit runs that look like phone numbers, so in
# them only an email, an SSN or a phone number written as one counts.
_ID_PATTERNS = (("email address", EMAIL), ("SSN", SSN), ("phone number", FORMATTED_PHONE))


class ClearPiiError(SerializationError):
    """A record carries an SSN, phone number or email address in clear; it was not sent."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    """Digits only, with a leading + (E.164-style); 10-digit numbers are taken as NANP (+1)."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 10:
        digits = "1" + digits
    return "+" + digits


class PiiHasher:
    """Keyed hashes of personal data; the key comes from the environment, never from code."""

    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("the PII hash key must be at least 16 bytes")
        self._key = key

    def _hash(self, purpose: str, value: str) -> str:
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def email(self, email: str) -> str:
        return self._hash("email", normalise_email(email))

    def phone(self, phone: str) -> str:
        return self._hash("phone", normalise_phone(phone))

    def ssn_last4(self, firm_id: str, client_id: str, last4: str) -> str:
        """Bound to the client, so equal digits of two clients never hash alike."""
        return self._hash("ssn-last4", f"{firm_id}\x00{client_id}\x00{last4.strip()}")


def mask_email(email: str) -> str:
    """j***@e***.com: enough for a firm user to recognise, useless to anyone else."""
    local, _, domain = normalise_email(email).partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***.{tld}"


def mask_phone(phone: str) -> str:
    """***-***-1234."""
    return f"***-***-{normalise_phone(phone)[-4:]}"


def clear_pii_kind(text: str, identifier: bool = False) -> str | None:
    """The kind of personal data found in clear in `text`, if any."""
    for kind, pattern in _ID_PATTERNS if identifier else _PATTERNS:
        if pattern.search(text):
            return kind
    return None


def assert_no_clear_pii(record: dict[str, Any], schema_name: str) -> None:
    """Raise ClearPiiError naming the field (never the value) if any string looks like PII."""
    for path, value in _strings(record, ""):
        identifier = path.endswith(("_id", "_hash", "_by"))
        if kind := clear_pii_kind(value, identifier):
            article = "an" if kind[0] in "aeiouS" else "a"
            raise ClearPiiError(
                f"{schema_name}.{path} holds {article} {kind} in clear; hash or mask it"
            )


def redact(payload: bytes) -> bytes:
    """Replace anything that looks like an SSN, phone number or email address."""
    for kind, pattern in _PATTERNS:
        label = f"[redacted {kind}]".encode()
        payload = re.sub(pattern.pattern.encode(), label, payload)
    return payload


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
