"""Errors raised by the contract layer."""

from __future__ import annotations


class SchemaError(Exception):
    """Root of every error in `schemas`."""


class SerializationError(SchemaError):
    """A record could not be encoded against its schema; nothing was sent."""


class DeserializationError(SchemaError):
    """Bytes could not be decoded into a known record."""


class UnknownEncodingError(DeserializationError):
    """The bytes start with neither the single-object marker nor the registry magic byte."""


class UnknownSchemaError(DeserializationError):
    """The bytes name a schema (fingerprint or registry id) that this reader cannot find."""


class RecordTooLargeError(DeserializationError):
    """A record's value is over the size limit (`KafkaSettings.max_record_bytes`): poison,
    dead-lettered (with its first bytes only) instead of used."""

    def __init__(self, size: int, limit: int, kept: int):
        """`kept`: how many leading bytes of the value its dead letter keeps."""
        super().__init__(
            f"record of {size} bytes exceeds the {limit}-byte limit"
            f" (its dead letter keeps the first {kept} bytes)"
        )
        self.size, self.limit = size, limit
