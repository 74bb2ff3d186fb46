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


class RecordTooLargeError(SinkError):
    """A record's value is over the size limit (`KafkaSettings.max_record_bytes`): poison,
    dead-lettered instead of stored."""

    def __init__(self, size: int, limit: int, kept: int):
        """`kept`: how many leading bytes of the value its dead letter keeps."""
        super().__init__(
            f"record of {size} bytes exceeds the {limit}-byte limit"
            f" (its dead letter keeps the first {kept} bytes)"
        )
        self.size, self.limit = size, limit
