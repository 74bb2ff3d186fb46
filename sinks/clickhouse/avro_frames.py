"""Kafka values -> one Avro object container that ClickHouse parses itself (the sink's fast path).

A record in single-object encoding is `C3 01` + 8-byte fingerprint + Avro body. Avro encodes a
record as its fields one after the other, so the value followed by a few bytes is itself the
encoding of a wider "frame" record:

    ctrack_header  fixed(10)   the value's own header (marker + fingerprint), checked on insert
    ...            the writer schema's fields, unchanged
    kafka_partition int, kafka_offset long   where the value was read
    ctrack_frame   long        a per-batch constant, checked on insert

Concatenating frames needs no decoding in Python: one bytes append per field. ClickHouse then
reads every field and must find `ctrack_frame` where it was written, so a body that reads
shorter or longer than it is (junk, truncation) fails the insert, and the sink falls back to
decoding that batch record by record to name the bad ones (dead letters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Message

from schemas.avro_writer import write_long

HEADER_FIELD = "ctrack_header"
FRAME_FIELD = "ctrack_frame"
_CONTAINER_MAGIC = b"Obj\x01"
_SYNC_LEN = 16


def frame_schema(writer_source: str, header_len: int) -> str:
    """The frame record's schema (JSON) around a writer schema (self-contained JSON)."""
    writer = json.loads(writer_source)
    header = {
        "name": HEADER_FIELD,
        "type": {"type": "fixed", "name": "CtrackHeader", "size": header_len},
    }
    tail = [
        {"name": "kafka_partition", "type": "int"},
        {"name": "kafka_offset", "type": "long"},
        {"name": FRAME_FIELD, "type": "long"},
    ]
    frame = {
        **writer,
        "name": f"{writer['name']}Frame",
        "fields": [header, *writer["fields"], *tail],
    }
    return json.dumps(frame, separators=(",", ":"))


def field_names(writer_source: str) -> set[str]:
    """The top-level field names of a record schema (self-contained JSON)."""
    return {field["name"] for field in json.loads(writer_source)["fields"]}


def text_fields(writer_source: str) -> set[str]:
    """Fields holding free text (`string`, optional or not; not enums, not UUIDs): the ones
    whose bytes must be checked as UTF-8, which ClickHouse's String does not demand."""

    def is_text(kind: object) -> bool:
        if isinstance(kind, list):
            return any(is_text(branch) for branch in kind)
        return kind == "string"

    return {f["name"] for f in json.loads(writer_source)["fields"] if is_text(f["type"])}


def new_frame_mark() -> int:
    """A fresh random `ctrack_frame` value: junk cannot be made to match it."""
    return int.from_bytes(os.urandom(8), "little") >> 1  # a non-negative long


@dataclass
class Frames:
    """One table's records of one partition that ClickHouse will decode, in offset order.

    Frames are built as messages arrive (on the consuming thread, so the inserting thread does
    little Python work); the messages are kept too (their values are not copied) so that a
    batch ClickHouse refuses can be decoded record by record.
    """

    partition_suffix: bytes  # kafka_partition, encoded once
    mark_suffix: bytes  # ctrack_frame, encoded once
    parts: list[bytes]
    messages: list[Message]

    @classmethod
    def open(cls, partition: int, mark: int) -> Frames:
        return cls(write_long(partition), write_long(mark), [], [])

    def add(self, message: Message, value: bytes, offset: int) -> None:
        """Frame a message whose value starts with the expected header (the sink's hot loop
        does the same inline)."""
        self.parts += (value, self.partition_suffix, write_long(offset), self.mark_suffix)
        self.messages.append(message)


def container(schema_json: str, frames: Iterable[Frames]) -> bytes:
    """An Avro object container (one data block, no compression) holding every frame.

    Built with one `join` (a C loop): the inserting thread then needs the GIL only briefly.
    """
    frames = list(frames)
    data = b"".join([b"".join(batch.parts) for batch in frames])
    count = sum(len(batch.messages) for batch in frames)
    sync = os.urandom(_SYNC_LEN)
    metadata = b"".join(
        write_long(len(key)) + key + write_long(len(value)) + value
        for key, value in ((b"avro.schema", schema_json.encode()), (b"avro.codec", b"null"))
    )
    return b"".join(
        (
            _CONTAINER_MAGIC,
            write_long(2),  # metadata: one block of two entries, then its end
            metadata,
            b"\x00",
            sync,
            write_long(count),
            write_long(len(data)),
            data,
            sync,
        )
    )
