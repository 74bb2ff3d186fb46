"""The FastAPI app of the tracking query API: one ClickHouse client and the firms' key ring."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from ctrack.settings import QueryApiSettings
from services.tracking_api.auth import KeyRing
from services.tracking_api.dashboard import dashboard_router
from services.tracking_api.routes import router


def create_app(clickhouse: Client, settings: QueryApiSettings) -> FastAPI:
    """The app (OpenAPI at /docs and /openapi.json).

    Args:
        clickhouse: the client every query uses; tests pass their session's chdb client.
        settings: the firms' API keys (only their SHA-256 digests are kept).
    """
    app = FastAPI(
        title="ctrack tracking API",
        description="A firm's Client Tracking timelines, client history and engagement. "
        "Every request carries `Authorization: Bearer <api key>`; a key sees its firm only. "
        "The engagement dashboard (a page that asks for the key) is at /dashboard.",
        version="1",
    )
    app.state.clickhouse = clickhouse
    app.state.key_ring = KeyRing.of(settings.firm_keys())
    app.include_router(router)
    app.include_router(dashboard_router)
    return app
