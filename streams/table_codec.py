"""Table keys and rows in exactly the bytes faust's json codec writes, without its registry.

faust's tables (json keys and values, the app default) encode through the serializer registry
(codec lookup, payload preparation) and, with orjson installed, end in one `orjson.dumps` call
with the options below (`faust.utils.json.dumps`). Calling it directly gives the same bytes at
a fraction of the cost; the worker reads and writes table rows once per changed key per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

# faust.utils.json.dumps's options when orjson is installed (as this project requires)
_FAUST_JSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def encode(value: Any) -> bytes:
    """A table key or row (JSON types only) as faust's json codec stores it."""
    return orjson.dumps(value, option=_FAUST_JSON)


def encode_kept(value: Any) -> bytes:
    """`encode` for bytes that are kept a while (a batch's changed rows, until written).

    orjson (3.12 on) returns its output inside a buffer of at least 4 KiB, whatever its length:
    an end-of-window tick changes tens of thousands of rows in one batch (mostly 15-byte keys
    of emptied minutes), whose 2 MB of bytes took 136-233 MiB (traced in a large season's
    worker). A copy (here by join, the cheapest one: about 0.1 us) is exactly its length; a
    lookup's key (gone at once) needs none.
    """
    return b"".join((orjson.dumps(value, option=_FAUST_JSON), b""))


def decode(stored: bytes) -> Any:
    """A stored key or row, as faust's json codec reads it."""
    return orjson.loads(stored)


def value_encoder(store: Any) -> Callable[[Any], bytes]:
    """How a faust table store's values are written: `encode_kept` where the store uses faust's
    json codec (every row table), the store's own encoding otherwise (the journal's raw bytes)."""
    if store.value_serializer == "json" and store.value_type is None:
        return encode_kept
    own: Callable[[Any], bytes] = store._encode_value
    return own
