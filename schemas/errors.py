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
