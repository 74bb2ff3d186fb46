"""The sink's errors."""

from __future__ import annotations

from schemas.errors import DeserializationError


class SinkError(Exception):
    """Root of the sink's errors."""


class InsertFailed(SinkError):
    """An insert still failed after the bounded retries; nothing after the last commit is
    acknowledged, so a restarted sink reads it again."""


class UnexpectedSchemaError(DeserializationError):
    """A record decoded fine but its schema is not the one its topic carries."""
