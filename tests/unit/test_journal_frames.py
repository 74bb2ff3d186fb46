"""A journal record holds one batch's changed rows and input offsets; it must read back as
written, whatever the bytes (keys and values are the stores' own encodings)."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.journal import ChangedRow, decode_frame, encode_frame

offsets = st.dictionaries(st.text(min_size=1, max_size=40), st.integers(-1, 2**62), max_size=4)
rows = st.lists(
    st.tuples(
        st.sampled_from(["lockout-state", "return-state", "return-timers", "x" * 200]),
        st.tuples(st.binary(max_size=64), st.none() | st.binary(max_size=512)),
    ),
    max_size=50,
)


@given(offsets, rows)
def test_a_frame_reads_back_as_written(through: dict[str, int], changed: list[ChangedRow]) -> None:
    assert decode_frame(encode_frame(through, changed)) == (through, changed)


def test_a_deleted_row_differs_from_an_empty_value() -> None:
    changed = [("t", (b"k1", None)), ("t", (b"k2", b""))]
    assert decode_frame(encode_frame({}, changed))[1] == changed


@pytest.mark.parametrize("damage", [lambda f: b"XX" + f[2:], lambda f: f[:-1]])
def test_a_damaged_frame_is_refused(damage: Callable[[bytes], bytes]) -> None:
    frame = encode_frame({"tracking": 7}, [("t", (b"key", b"value"))])
    with pytest.raises((ValueError, struct.error)):
        decode_frame(damage(frame))
