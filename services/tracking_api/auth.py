"""API keys, one firm each: only their SHA-256 digests are held, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

MAX_KEY_LENGTH = 512  # longer bearer tokens are refused unhashed


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class KeyRing:
    """The digests of the firms' API keys."""

    digests: tuple[tuple[bytes, str], ...]

    @classmethod
    def of(cls, firm_keys: Iterable[tuple[str, str]]) -> KeyRing:
        """A ring from (firm_id, key) pairs; the keys themselves are not kept."""
        return cls(tuple((_digest(key), firm_id) for firm_id, key in firm_keys))

    def firm_of(self, key: str) -> str | None:
        """The firm `key` belongs to, or None; every digest is compared (no early exit)."""
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        presented, firm = _digest(key), None
        for known, firm_id in self.digests:
            if hmac.compare_digest(known, presented):
                firm = firm_id
        return firm
