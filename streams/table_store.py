"""How much memory each table partition's RocksDB database may hold.

The worker opens one database per table and partition (about 70), and faust opens each with
its own defaults: 64 MiB memtables, up to 3 of them, and a 2 GiB block cache. Memtables keep
every write until they flush, so a worker's memory grew with the writes of the season (1.6 GiB
after 2.9M events, a tenth of a full season). Here each database gets small memtables and a
small cache; rows are read once per batch and kept in the batch meanwhile, so a large cache
buys little.
"""

from __future__ import annotations

from typing import Any

import faust

from ctrack.settings import StreamSettings

# memtables per database: one filling while the other flushes
_WRITE_BUFFERS = 2


def store_options(settings: StreamSettings) -> dict[str, Any]:
    """faust's RocksDB options (`RocksDBOptions` keywords) for every table of the worker."""
    return {
        "write_buffer_size": settings.store_write_buffer_bytes,
        "max_write_buffer_number": _WRITE_BUFFERS,
        "block_cache_size": settings.store_block_cache_bytes,
    }


def tables_with_store_options(app: faust.App, options: dict[str, Any]) -> None:
    """Every table `app` makes from now on opens its databases with `options` (faust takes
    them per table only; the store pops keys from the dict it is given, so each gets a copy)."""
    make_table = app.Table

    def table(name: str, **kwargs: Any) -> Any:
        own = kwargs.pop("options", None) or {}
        return make_table(name, options={**options, **own}, **kwargs)

    app.Table = table  # type: ignore[method-assign]
