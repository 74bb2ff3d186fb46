"""Opens a clickhouse-connect client for a DSN: chdb:///path (embedded) or http(s)://host:8123."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

# One embedded engine per process: chdb allows a single data directory per process.
_embedded: dict[str, Client] = {}


def connect(dsn: str, **kwargs: Any) -> Client:
    """A client for `dsn`; embedded clients are shared within the process."""
    if not dsn.startswith("chdb://"):
        return clickhouse_connect.get_client(dsn=dsn, **kwargs)
    if dsn not in _embedded:
        Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
        _embedded[dsn] = clickhouse_connect.get_client(dsn=dsn, **kwargs)
    return _embedded[dsn]
