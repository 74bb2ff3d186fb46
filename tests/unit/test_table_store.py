"""Every table of the worker opens its RocksDB databases inside one shared memory limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
import pytest
from pydantic import ValidationError

from ctrack.settings import StreamSettings
from streams.table_store import (
    SharedMemory,
    SharedMemoryOptions,
    store_options,
    tables_with_store_options,
)


def _app(tmp_path: Path, store: str = "rocksdb://") -> faust.App:
    return faust.App(
        "table-store-test", broker="kafka://localhost:1", store=store, datadir=tmp_path
    )


def test_tables_made_after_the_call_share_one_cache(tmp_path: Path) -> None:
    settings = StreamSettings(store_write_buffer_bytes=3 * 1024**2)
    shared = SharedMemory(8 * 1024**2, 4 * 1024**2)
    app = _app(tmp_path)
    tables_with_store_options(app, store_options(settings), shared)
    rows: Any = app.Table("rows", default=None)
    journal: Any = app.Table(
        "journal", default=None, value_type=bytes, options={"bloom_filter_size": 5}
    )
    for table in (rows, journal):
        options = table.data.rocksdb_options
        assert isinstance(options, SharedMemoryOptions)
        assert options.shared is shared
        assert options.write_buffer_size == 3 * 1024**2
        assert options.max_write_buffer_number == 2
    assert journal.data.rocksdb_options.bloom_filter_size == 5  # a table's own options stay
    assert journal.data.value_type is bytes


def test_databases_opened_with_the_options_charge_their_memtables_to_the_cache(
    tmp_path: Path,
) -> None:
    shared = SharedMemory(16 * 1024**2, 8 * 1024**2)
    options = SharedMemoryOptions(shared, write_buffer_size=1024**2, max_write_buffer_number=2)
    empty = shared.usage_bytes()
    dbs = [options.open(tmp_path / f"db{n}") for n in range(3)]
    for n, db in enumerate(dbs):
        for key in range(2_000):
            db[f"{n}-{key}".encode()] = b"x" * 100
    assert shared.usage_bytes() > empty + 3 * 200_000  # every database's writes are counted
    for db in dbs:
        db.close()


def test_databases_read_back_what_they_wrote(tmp_path: Path) -> None:
    options = SharedMemoryOptions(SharedMemory(4 * 1024**2, 2 * 1024**2))
    db = options.open(tmp_path / "db")
    db[b"k"] = b"v"
    db.flush()
    assert db[b"k"] == b"v"
    db.close()


def test_memory_stores_are_left_as_they_are(tmp_path: Path) -> None:
    app = _app(tmp_path, store="memory://")
    tables_with_store_options(app, {}, SharedMemory(4 * 1024**2, 2 * 1024**2))
    table: Any = app.Table("rows", default=None)
    assert not hasattr(table.data, "rocksdb_options")


def test_memtables_may_not_exceed_the_cache() -> None:
    with pytest.raises(ValidationError, match="must not exceed"):
        StreamSettings(store_block_cache_bytes=8 * 1024**2, store_memtable_bytes=16 * 1024**2)
