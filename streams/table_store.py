"""How much memory the worker's RocksDB databases may hold, all of them together.

The worker opens one database per table and partition (about 70), and faust opens each with
its own defaults: 64 MiB memtables, up to 3 of them, a 2 GiB block cache, and index and filter
blocks held outside any cache for every file the database has open. Each of those grows with
the number of databases or with the season's writes (1.6 GiB after 2.9M events with faust's
defaults; 1.05 GiB steady over a full season with small per-database limits, still growing with
the files). Here every database of the worker shares one block cache, index and filter blocks
live in it, and the memtables are charged to it through one write buffer manager: RocksDB's
memory is one figure, `store_block_cache_bytes`, whatever the number of partitions or files.
"""

from __future__ import annotations

from typing import Any

import faust
import rocksdict
import structlog
from faust.stores.rocksdb import RocksDBOptions

from ctrack.settings import StreamSettings

log = structlog.get_logger(__name__)

# memtables per database: one filling while the other flushes
_WRITE_BUFFERS = 2


class SharedMemory:
    """One block cache for every database of a worker, with all memtables charged to it."""

    def __init__(self, cache_bytes: int, memtable_bytes: int):
        self.cache = rocksdict.Cache(cache_bytes)
        # no stall: a write past the limit makes RocksDB flush memtables, it is never held
        self.write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            memtable_bytes, False, self.cache
        )

    def usage_bytes(self) -> int:
        """Bytes held in the cache now: blocks, index and filter blocks, memtables."""
        return int(self.cache.get_usage())


class SharedMemoryOptions(RocksDBOptions):
    """faust's options for one database, opened inside the worker's `SharedMemory`
    (faust's own `as_options` makes a cache per database and keeps index blocks outside)."""

    def __init__(self, shared: SharedMemory, **options: Any):
        super().__init__(**options)
        self.shared = shared

    def as_options(self) -> rocksdict.Options:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(-1 if self.max_open_files is None else self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(self.shared.write_buffers)
        tables = rocksdict.BlockBasedOptions()
        tables.set_bloom_filter(self.bloom_filter_size, True)
        tables.set_block_cache(self.shared.cache)
        tables.set_cache_index_and_filter_blocks(True)
        # the newest files' index and filters are read by every lookup: never evicted
        tables.set_pin_l0_filter_and_index_blocks_in_cache(True)
        tables.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(tables)
        return options


def store_options(settings: StreamSettings) -> dict[str, Any]:
    """faust's RocksDB options (`RocksDBOptions` keywords) for every table of the worker."""
    return {
        "write_buffer_size": settings.store_write_buffer_bytes,
        "max_write_buffer_number": _WRITE_BUFFERS,
    }


def tables_with_store_options(
    app: faust.App, options: dict[str, Any], shared: SharedMemory
) -> None:
    """Every table `app` makes from now on opens its databases with `options`, inside
    `shared` (faust takes options per table only; the store pops keys from the dict it is
    given, so each gets a copy)."""
    make_table = app.Table

    def table(name: str, **kwargs: Any) -> Any:
        own = kwargs.pop("options", None) or {}
        made: Any = make_table(name, options={**options, **own}, **kwargs)
        new_store = made._new_store

        def store_in_shared_memory() -> Any:
            store = new_store()
            own_options = getattr(store, "rocksdb_options", None)  # none for memory:// stores
            if isinstance(own_options, RocksDBOptions):
                store.rocksdb_options = _shared(own_options, shared)
            return store

        made._new_store = store_in_shared_memory
        return made

    app.Table = table  # type: ignore[method-assign]


def _shared(options: RocksDBOptions, shared: SharedMemory) -> SharedMemoryOptions:
    return SharedMemoryOptions(
        shared,
        max_open_files=options.max_open_files,
        write_buffer_size=options.write_buffer_size,
        max_write_buffer_number=options.max_write_buffer_number,
        target_file_size_base=options.target_file_size_base,
        bloom_filter_size=options.bloom_filter_size,
        use_rocksdict=options.use_rocksdict,
        ttl=options.ttl,
        **options.extra_options,
    )


def log_usage(app: faust.App, shared: SharedMemory, every_s: float) -> None:
    """Log what RocksDB holds in `shared` every `every_s` (the rest of the worker's memory is
    Python's: read the two apart from the process's RSS)."""

    @app.timer(every_s)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def store_memory() -> None:
        log.info("store_memory", cache_bytes=shared.usage_bytes())
