"""Kafka values -> plain records for ClickHouse: epoch-millis ints, day numbers, UUID strings.

The common case (Avro single-object encoding with a current contract schema) is read with the
schema's logical types removed: fastavro then skips building `datetime` and `UUID` objects that
clickhouse-connect would only turn back into integers and bytes (a third of the decode time).
Anything else (registry wire format, older writer schemas) goes through the process's
`AvroCodec` and has its logical values flattened the same way, so both paths give equal rows.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from fastavro import parse_schema, schemaless_reader

from schemas.codec import SINGLE_OBJECT_MARKER, AvroCodec
from schemas.errors import DeserializationError
from schemas.schema_set import contract_schemas

_HEADER_LEN = 10  # marker (2) + CRC-64-AVRO fingerprint (8)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_MILLISECOND = timedelta(milliseconds=1)


class PlainDecoder:
    """Decodes contract records into plain values, schemas parsed once."""

    def __init__(self, codec: AvroCodec):
        self._codec = codec
        schemas = contract_schemas()
        self._plain: dict[bytes, tuple[str, Any]] = {
            fingerprint: (schema.full_name, _without_logical_types(schema.source))
            for fingerprint, schema in schemas.by_fingerprint.items()
            if schemas.by_name.get(schema.full_name) is schema  # current: writer == reader
        }

    def decode(self, payload: bytes) -> tuple[str, dict[str, Any]]:
        """(schema name, plain record); raises a DeserializationError for anything unreadable."""
        plain = (
            self._plain.get(payload[2:_HEADER_LEN]) if payload[:2] == SINGLE_OBJECT_MARKER else None
        )
        if plain is None:
            decoded = self._codec.decode(payload)
            return decoded.schema_name, flatten(decoded.record)
        name, schema = plain
        stream = io.BytesIO(payload)
        stream.seek(_HEADER_LEN)
        try:
            record = schemaless_reader(stream, schema, None)
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, ... on junk
            raise DeserializationError(f"{name}: body does not decode: {exc!r}") from exc
        if stream.tell() != len(payload):
            raise DeserializationError(
                f"{name}: {len(payload) - stream.tell()} trailing bytes after the record"
            )
        return name, record  # type: ignore[return-value]  # a record schema reads as a dict

    def decode_checked(self, payload: bytes) -> tuple[str, dict[str, Any]]:
        """As `decode`, with every logical type read and so checked (a UUID that does not
        parse, say, is a DeserializationError): for records ClickHouse refused."""
        decoded = self._codec.decode(payload)
        return decoded.schema_name, flatten(decoded.record)

    def current_header(self, schema_name: str) -> bytes | None:
        """The single-object header of the current version of `schema_name`, when records
        with it decode without schema resolution."""
        for fingerprint, (name, _) in self._plain.items():
            if name == schema_name:
                return SINGLE_OBJECT_MARKER + fingerprint
        return None


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with datetimes as epoch millis, dates as day numbers and UUIDs as strings."""
    return {name: _plain_value(value) for name, value in record.items()}


def _plain_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MILLISECOND
    if isinstance(value, date):
        return value.toordinal() - _EPOCH_DAY
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list):
        return [_plain_value(item) for item in value]
    return value


def _without_logical_types(source: str) -> Any:
    """The parsed schema of `source` (self-contained JSON) minus every logicalType."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: strip(item) for key, item in node.items() if key != "logicalType"}
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    return parse_schema(strip(json.loads(source)), named_schemas={})
