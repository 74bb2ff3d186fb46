"""`ctrack serve`: the sink, the query API and the dashboard in one process (embedded chdb)."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console(stderr=True)


SERVE_HELP = (
    "Run the ClickHouse sink and the tracking query API (dashboard at /dashboard) in ONE "
    "process sharing one embedded ClickHouse client, until SIGTERM/SIGINT; the sink flushes "
    "and commits before the process exits.\n\n"
    "For chdb:// CLICKHOUSE_DSN data dirs (the default): chdb lets one process open a data dir, "
    "so `ctrack sink` and `ctrack api serve` cannot both open it. With a ClickHouse server "
    "(http(s):// DSN) run those two as separate processes instead. Listens on "
    "CTRACK_API_HOST:CTRACK_API_PORT; keys from CTRACK_API_KEYS (firm_id:key,firm_id:key)."
)


def serve_command() -> None:
    """Serve the sink and the API together until interrupted (see SERVE_HELP)."""
    from ctrack.embedded import NotEmbedded, serve_from_environment
    from sinks.clickhouse.sink import InsertFailed

    try:
        stats = serve_from_environment()
    except NotEmbedded as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    except InsertFailed as exc:
        console.print(f"[red]sink stopped:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    written = sum(stats.rows_written.values())
    console.print(f"stopped: {written:,} rows stored in {stats.flushes:,} flushes")
