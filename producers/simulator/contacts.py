"""Synthetic contact details, only ever handed out as keyed hashes and masked forms.

The addresses and numbers are made up from ids (example.* domains, 555 numbers) and hashed with a
fixed simulation key: the simulation is reproducible and never needs the deployment's secret.
"""

from __future__ import annotations

from zlib import crc32

from schemas.pii import PiiHasher, mask_email, mask_phone

SIMULATION_PII_KEY = b"ctrack-simulator: synthetic contacts only, not a secret"
GIVEN_NAMES = ("alex", "jordan", "maria", "li", "sam", "priya", "omar", "grace", "diego", "ruth")
DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "cpa.example.com")


def made_up_address(owner: str) -> str:
    """A plausible, unique address for `owner` under the reserved example domains."""
    pick = crc32(owner.encode())
    given, domain = GIVEN_NAMES[pick % len(GIVEN_NAMES)], DOMAINS[(pick >> 8) % len(DOMAINS)]
    return f"{given}.{owner.lower()}@{domain}"


class Contacts:
    """Hashes and masks of the made-up email address or phone number of a party."""

    def __init__(self, key: bytes = SIMULATION_PII_KEY):
        self._hasher = PiiHasher(key)

    def email(self, owner: str) -> tuple[str, str]:
        """(keyed hash, masked form) of the email address of `owner` (an id)."""
        address = made_up_address(owner)
        return self._hasher.email(address), mask_email(address)

    def email_hash(self, owner: str) -> str:
        return self._hasher.email(made_up_address(owner))

    def phone(self, number: int) -> tuple[str, str]:
        """(keyed hash, masked form) of the 555 mobile number `number` (0..9_999_999)."""
        phone = f"+1555{number % 10_000_000:07d}"
        return self._hasher.phone(phone), mask_phone(phone)
