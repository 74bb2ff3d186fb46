"""Opaque page cursors: the (time, event id) of the last row a page returned."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from uuid import UUID

MAX_CURSOR_LENGTH = 200


class InvalidCursor(ValueError):
    """A cursor this API did not hand out (or one that was altered)."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: rows strictly after (occurred_at in ms, event_id) come next."""

    occurred_at_ms: int
    event_id: UUID


def encode_cursor(position: Position) -> str:
    """The opaque, URL-safe cursor of `position`."""
    raw = json.dumps([position.occurred_at_ms, str(position.event_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position of a cursor from `encode_cursor`; InvalidCursor for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        millis, event_id = json.loads(raw)
        if not isinstance(millis, int) or isinstance(millis, bool) or not isinstance(event_id, str):
            raise InvalidCursor("invalid cursor")
        if not 0 <= millis < 2**53:
            raise InvalidCursor("invalid cursor")
        return Position(millis, UUID(event_id))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("invalid cursor") from exc
