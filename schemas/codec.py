"""Avro codec: single-object encoding by default, Confluent wire format with a schema registry.

Single-object: 0xC3 0x01 + 8-byte CRC-64-AVRO fingerprint (little-endian) + Avro body.
Confluent:     0x00 + 4-byte big-endian schema id + Avro body.
The decoder accepts both and resolves older writer schemas to the current reader schema.
Bodies are written by a writer compiled once per schema (`schemas/avro_writer.py`, proven
byte-identical to fastavro's), and by fastavro for anything that writer does not take; they are
read likewise by a compiled reader (`schemas/avro_reader.py`, proven to return what fastavro
returns) when the writer schema equals the reader's, and by fastavro otherwise (resolution of
older writer schemas, bytes the compiled reader declines, junk).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer

from schemas.avro_reader import CompiledReader, compile_reader
from schemas.avro_writer import CompiledWriter, compile_writer
from schemas.errors import (
    DeserializationError,
    SerializationError,
    UnknownEncodingError,
    UnknownSchemaError,
)
from schemas.schema_set import LoadedSchema, SchemaSet, contract_schemas

SINGLE_OBJECT_MARKER = b"\xc3\x01"
CONFLUENT_MAGIC = 0
_SINGLE_OBJECT_HEADER_LEN = 10
_CONFLUENT_HEADER = struct.Struct(">bI")

Record = dict[str, Any]


@dataclass(frozen=True)
class Decoded:
    """A decoded record and the name of its (reader) schema."""

    schema_name: str
    record: Record


@dataclass(frozen=True)
class _Encoder:
    """What encoding needs of one schema, looked up once per name."""

    schema: LoadedSchema
    single_object_header: bytes
    compiled: CompiledWriter | None  # None: every record goes through fastavro


class SchemaRegistry(Protocol):
    """The slice of confluent-kafka's `SchemaRegistryClient` the codec uses."""

    def register_schema(self, subject_name: str, schema: Any) -> int: ...

    def get_schema(self, schema_id: int) -> Any: ...


class AvroCodec:
    """Encodes and decodes contract records; one instance per process, schemas parsed once."""

    def __init__(self, schemas: SchemaSet | None = None, registry: SchemaRegistry | None = None):
        self._schemas = schemas or contract_schemas()
        self._registry = registry
        self._registered_ids: dict[tuple[str, str], int] = {}
        self._writers_by_id: dict[int, tuple[Any, LoadedSchema]] = {}
        self._encoders: dict[str, _Encoder] = {}
        # By id of the parsed writer schema (kept alive here, so the id stays its own).
        self._readers: dict[int, tuple[Any, CompiledReader | None]] = {}

    @property
    def uses_registry(self) -> bool:
        return self._registry is not None

    def schema(self, schema_name: str) -> LoadedSchema:
        """The schema `encode` writes `schema_name` with; SerializationError if there is none."""
        return (self._encoders.get(schema_name) or self._encoder(schema_name)).schema

    def encode(self, schema_name: str, record: Record, *, topic: str) -> bytes:
        """Encode `record`; raises SerializationError (and returns nothing) if it does not fit."""
        encoder = self._encoders.get(schema_name) or self._encoder(schema_name)
        if self._registry is None:
            header = encoder.single_object_header
        else:
            header = self._header(encoder.schema, topic)
        if encoder.compiled is not None:
            try:
                return encoder.compiled(header, record)
            except Exception:  # noqa: S110 - outside the compiled writer's domain: fastavro decides
                pass
        body = io.BytesIO()
        body.write(header)
        try:
            schemaless_writer(body, encoder.schema.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise SerializationError(f"{schema_name}: {exc}") from exc
        return body.getvalue()

    def _encoder(self, schema_name: str) -> _Encoder:
        try:
            schema = self._schemas.get(schema_name)
        except KeyError as exc:
            raise SerializationError(f"unknown schema {schema_name!r}") from exc
        encoder = _Encoder(
            schema, SINGLE_OBJECT_MARKER + schema.fingerprint, compile_writer(schema.parsed)
        )
        self._encoders[schema_name] = encoder
        return encoder

    def decode(self, data: bytes) -> Decoded:
        """Decode bytes in either encoding; raises a DeserializationError subclass otherwise."""
        if data[:2] == SINGLE_OBJECT_MARKER:
            writer = self._schemas.by_fingerprint.get(bytes(data[2:_SINGLE_OBJECT_HEADER_LEN]))
            if writer is None:
                raise UnknownSchemaError(f"unknown schema fingerprint {data[2:10].hex()}")
            reader = self._schemas.by_name.get(writer.full_name, writer)
            return self._read(data, _SINGLE_OBJECT_HEADER_LEN, writer.parsed, reader)
        if data[:1] == b"\x00" and len(data) >= _CONFLUENT_HEADER.size:
            _, schema_id = _CONFLUENT_HEADER.unpack_from(data)
            writer_parsed, reader = self._registry_writer(schema_id)
            return self._read(data, _CONFLUENT_HEADER.size, writer_parsed, reader)
        raise UnknownEncodingError(
            "not an Avro single-object or Confluent record "
            f"(starts with {data[:2].hex() or 'nothing'})"
        )

    def _header(self, schema: LoadedSchema, topic: str) -> bytes:
        if self._registry is None:
            return SINGLE_OBJECT_MARKER + schema.fingerprint
        return _CONFLUENT_HEADER.pack(CONFLUENT_MAGIC, self._registry_id(schema, topic))

    def _registry_id(self, schema: LoadedSchema, topic: str) -> int:
        subject = f"{topic}-value"
        key = (subject, schema.full_name)
        if key not in self._registered_ids:
            from confluent_kafka.schema_registry import Schema

            assert self._registry is not None  # noqa: S101 - only called in registry mode
            try:
                self._registered_ids[key] = self._registry.register_schema(
                    subject, Schema(schema.source, "AVRO")
                )
            except Exception as exc:  # registry client raises many types; all mean "cannot encode"
                raise SerializationError(f"schema registry refused {subject}: {exc}") from exc
        return self._registered_ids[key]

    def _registry_writer(self, schema_id: int) -> tuple[Any, LoadedSchema]:
        if schema_id in self._writers_by_id:
            return self._writers_by_id[schema_id]
        if self._registry is None:
            raise UnknownSchemaError(
                f"record uses schema registry id {schema_id} but SCHEMA_REGISTRY_URL is not set"
            )
        try:
            writer_source = self._registry.get_schema(schema_id).schema_str
        except Exception as exc:  # any registry failure means we cannot know the writer schema
            raise UnknownSchemaError(f"schema id {schema_id} not found: {exc}") from exc
        import json

        from fastavro import parse_schema

        writer_parsed: Any = parse_schema(json.loads(writer_source), named_schemas={})
        reader = self._schemas.by_name.get(writer_parsed["name"])
        if reader is None:
            raise UnknownSchemaError(f"schema id {schema_id} is {writer_parsed['name']}, not ours")
        self._writers_by_id[schema_id] = (writer_parsed, reader)
        return writer_parsed, reader

    def _read(self, data: bytes, offset: int, writer: Any, reader: LoadedSchema) -> Decoded:
        compiled = self._compiled_reader(writer, reader)
        if compiled is not None and data.__class__ is bytes:
            try:
                compiled_record, end = compiled(data, offset)
            except Exception:  # noqa: S110 - outside the compiled reader's domain: fastavro decides
                pass
            else:
                if end != len(data):
                    raise DeserializationError(
                        f"{reader.full_name}: {len(data) - end} trailing bytes after the record"
                    )
                return Decoded(reader.full_name, compiled_record)
        stream = io.BytesIO(data)
        stream.seek(offset)
        reader_schema = None if writer is reader.parsed else reader.parsed
        try:
            record = schemaless_reader(stream, writer, reader_schema)
        except Exception as exc:  # fastavro raises EOFError, ValueError, IndexError, ... on junk
            raise DeserializationError(
                f"{reader.full_name}: body does not decode: {exc!r}"
            ) from exc
        if stream.tell() != len(data):
            raise DeserializationError(
                f"{reader.full_name}: {len(data) - stream.tell()} trailing bytes after the record"
            )
        return Decoded(reader.full_name, record)  # type: ignore[arg-type]  # reader returns a dict

    def _compiled_reader(self, writer: Any, reader: LoadedSchema) -> CompiledReader | None:
        """The compiled reader of `writer`, if fastavro would read with it alone (equal schemas)."""
        cached = self._readers.get(id(writer))
        if cached is None:
            same = writer is reader.parsed or writer == reader.parsed  # fastavro's own test
            cached = (writer, compile_reader(writer) if same else None)
            self._readers[id(writer)] = cached
        return cached[1]


def build_codec(registry_url: str | None, basic_auth: str | None = None) -> AvroCodec:
    """The codec for this process: registry wire format when a URL is configured."""
    if not registry_url:
        return AvroCodec()
    from confluent_kafka.schema_registry import SchemaRegistryClient

    conf: dict[str, str] = {"url": registry_url}
    if basic_auth:
        conf["basic.auth.user.info"] = basic_auth
    return AvroCodec(registry=SchemaRegistryClient.new_client(conf))
