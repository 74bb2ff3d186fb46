"""Composition root of the tracking query API: settings from the environment, one client."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from ctrack.settings import ClickHouseSettings, QueryApiSettings
from services.tracking_api.app import create_app
from sinks.clickhouse.connection import connect


def build_app(
    api: QueryApiSettings | None = None, clickhouse: ClickHouseSettings | None = None
) -> FastAPI:
    """The API app; each setting defaults to the environment's."""
    dsn = (clickhouse or ClickHouseSettings()).resolved_dsn
    return create_app(connect_for_queries(dsn), api or QueryApiSettings())


def connect_for_queries(dsn: str) -> Client:
    """A client that request threads may share: a server client gets no session id, because
    ClickHouse refuses concurrent queries in one session and clickhouse-connect generates
    one per client by default; an embedded (chdb) client serializes its calls itself."""
    if dsn.startswith("chdb://"):
        return connect(dsn)
    return connect(dsn, autogenerate_session_id=False)
