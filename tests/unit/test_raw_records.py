"""Agents' sources hand over key and value exactly as faust's raw codec would."""

from __future__ import annotations

import asyncio

import faust
from faust.types import TP, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.raw_records import RawRecords

APP = faust.App("raw-records-test", broker="kafka://localhost:1")
FAUST_RAW: faust.Schema[bytes, bytes] = faust.Schema(
    key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
)
maybe_bytes = st.none() | st.binary(max_size=64)


def message(key: bytes | None, value: bytes | None) -> Message:
    return Message(
        topic="t", partition=3, offset=42, timestamp=1.0, timestamp_type=0, headers=[],
        key=key, value=value, checksum=None, tp=TP("t", 3),
    )  # fmt: skip


def decode(schema: faust.Schema[bytes, bytes], record: Message) -> faust.EventT[bytes]:
    async def decoded() -> faust.EventT[bytes]:
        return await schema.compile(APP)(record, propagate=True)

    return asyncio.run(decoded())


@settings(max_examples=200)
@given(maybe_bytes, maybe_bytes)
def test_events_match_fausts_raw_decoding(key: bytes | None, value: bytes | None) -> None:
    record = message(key, value)
    ours, fausts = decode(RawRecords(), record), decode(FAUST_RAW, record)
    assert (ours.key, ours.value) == (fausts.key, fausts.value) == (key, value)
    assert ours.message is record
    assert type(ours) is type(fausts)
