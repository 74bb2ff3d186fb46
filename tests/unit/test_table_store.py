"""Every table of the worker opens its RocksDB databases with the configured memory limits."""

from __future__ import annotations

from typing import Any

import faust

from ctrack.settings import StreamSettings
from streams.table_store import store_options, tables_with_store_options


def test_tables_made_after_the_call_take_the_limits() -> None:
    settings = StreamSettings(
        store_write_buffer_bytes=3 * 1024**2, store_block_cache_bytes=5 * 1024**2
    )
    app = faust.App(
        "table-store-test", broker="kafka://localhost:1", store="rocksdb://", datadir="/"
    )
    tables_with_store_options(app, store_options(settings))
    rows: Any = app.Table("rows", default=None)
    journal: Any = app.Table(
        "journal", default=None, value_type=bytes, options={"bloom_filter_size": 5}
    )
    for table in (rows, journal):
        options = table.data.rocksdb_options
        assert options.write_buffer_size == 3 * 1024**2
        assert options.max_write_buffer_number == 2
        assert options.block_cache_size == 5 * 1024**2
    assert journal.data.rocksdb_options.bloom_filter_size == 5  # a table's own options stay
    assert journal.data.value_type is bytes
