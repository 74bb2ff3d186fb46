"""Contact details as firms type them: checked and normalised, never echoed back in errors."""

from __future__ import annotations

import re

from schemas.pii import EMAIL, normalise_email, normalise_phone

MAX_EMAIL_LENGTH = 254
_PHONE_CHARACTERS = re.compile(r"[0-9+()\-. ]{7,25}")
_SSN_LAST4 = re.compile(r"\d{4}")


class InvalidContact(ValueError):
    """A contact value that cannot be used; the message never contains the value."""


def parse_email(raw: str) -> str:
    """The normalised address, or InvalidContact."""
    email = normalise_email(raw)
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL.fullmatch(email):
        raise InvalidContact("email is not a valid address")
    return email


def parse_phone(raw: str) -> str:
    """The E.164 form (+ and 11-15 digits; 10 digits are a US number), or InvalidContact."""
    if not _PHONE_CHARACTERS.fullmatch(raw.strip()):
        raise InvalidContact("phone must be a mobile number such as +1 555 010 1234")
    phone = normalise_phone(raw)
    if not 11 <= len(phone) - 1 <= 15:
        raise InvalidContact("phone must have 10 digits (US) or a + and 11 to 15 digits")
    return phone


def parse_ssn_last4(raw: str) -> str:
    digits = raw.strip()
    if not _SSN_LAST4.fullmatch(digits):
        raise InvalidContact("ssn_last4 must be exactly 4 digits")
    return digits
