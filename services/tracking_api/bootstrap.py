"""Composition root of the tracking query API: settings from the environment, one client."""

from __future__ import annotations

from fastapi import FastAPI

from ctrack.settings import ClickHouseSettings, QueryApiSettings
from services.tracking_api.app import create_app
from sinks.clickhouse.connection import connect


def build_app(
    api: QueryApiSettings | None = None, clickhouse: ClickHouseSettings | None = None
) -> FastAPI:
    """The API app; each setting defaults to the environment's."""
    dsn = (clickhouse or ClickHouseSettings()).resolved_dsn
    return create_app(connect(dsn), api or QueryApiSettings())
