"""`ctrack api`: the tracking query API (timelines, client history, engagement) over HTTP."""

from __future__ import annotations

import typer

api_app = typer.Typer(help="The tracking query API (HTTP).", no_args_is_help=True)


_SERVE_HELP = (
    "Serve the tracking query API (/v1, docs at /docs) on CTRACK_API_HOST:CTRACK_API_PORT "
    "until interrupted; keys come from CTRACK_API_KEYS (firm_id:key,firm_id:key).\n\n"
    "Embedded ClickHouse (a chdb:// CLICKHOUSE_DSN, the default) allows one process per data "
    "dir: the API and the sink must then share one process, so this command cannot open a data "
    "dir a running `ctrack sink` holds. Use a ClickHouse server (http(s):// DSN) to run them apart."
)


@api_app.command("serve", help=_SERVE_HELP)
def serve() -> None:
    """Serve the API until interrupted (see _SERVE_HELP)."""
    import uvicorn

    from ctrack.settings import QueryApiSettings
    from services.tracking_api.bootstrap import build_app

    settings = QueryApiSettings()
    uvicorn.run(build_app(api=settings), host=settings.host, port=settings.port)
