"""Table keys and rows coded directly are byte for byte what faust's json codec stores."""

from __future__ import annotations

import tracemalloc
from typing import Any

import faust
from hypothesis import given
from hypothesis import strategies as st

from streams import table_codec

# a worker's table store, as `streams/bootstrap.py` configures the app (never opened here)
STORE: Any = (
    faust.App("table-codec-test", broker="kafka://localhost:1", store="rocksdb://", datadir="/")
    .Table("rows", default=None)
    .data
)
keys = st.text()
rows = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(keys)
def test_keys_match_fausts_json_codec(key: str) -> None:
    stored = STORE._encode_key(key)
    assert table_codec.encode(key) == stored
    assert table_codec.decode(stored) == STORE._decode_key(stored) == key


@given(rows)
def test_rows_match_fausts_json_codec(row: Any) -> None:
    stored = STORE._encode_value(row)
    assert table_codec.encode(row) == stored == table_codec.encode_kept(row)
    assert table_codec.decode(stored) == STORE._decode_value(stored) == row


def test_kept_rows_take_their_length_not_the_encoders_buffer() -> None:
    """A batch keeps its changed rows until they are written: each must cost about its bytes
    (orjson 3.12+ hands back a short output inside a 4 KiB buffer)."""
    minutes = [f"{partition}:{29_926_169 + m}" for partition in range(6) for m in range(500)]
    tracemalloc.start()
    try:
        kept = [table_codec.encode_kept(key) for key in minutes]
        per_row = tracemalloc.get_traced_memory()[0] / len(kept)
    finally:
        tracemalloc.stop()
    assert kept == [table_codec.encode(key) for key in minutes]
    assert per_row < 100  # a 12-byte key in a bytes object (33 bytes of header), plus the list


def test_each_table_writes_values_in_its_stores_encoding() -> None:
    journal: Any = (
        faust.App("table-codec-test", broker="kafka://localhost:1", store="rocksdb://", datadir="/")
        .Table("journal", default=None, value_type=bytes)
        .data
    )
    frame = b"\x00raw journal frame\xff"
    assert table_codec.value_encoder(journal)(frame) == journal._encode_value(frame) == frame
    assert table_codec.value_encoder(STORE) is table_codec.encode_kept
