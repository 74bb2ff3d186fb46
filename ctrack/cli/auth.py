"""`ctrack auth`: the dynamic password service (firm and client flows, one-time passwords)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

auth_app = typer.Typer(help="The dynamic password service (HTTP).", no_args_is_help=True)

_SERVE_HELP = (
    "Serve the dynamic password service (firm side /v1, client side /client, docs at /docs) on "
    "CTRACK_AUTH_HOST:CTRACK_AUTH_PORT until interrupted. Firms use their CTRACK_API_KEYS key; "
    "state is kept in CTRACK_AUTH_DATA_DIR (one process per directory). Creates missing topics."
)


@auth_app.command("serve", help=_SERVE_HELP)
def serve() -> None:
    """Serve the service until interrupted (see _SERVE_HELP)."""
    import uvicorn

    from ctrack.settings import AuthSettings, KafkaSettings
    from ctrack.topic_admin import ensure_topics
    from schemas.catalogue import TopicNames
    from services.dynamic_password.bootstrap import build_app

    kafka, settings = KafkaSettings(), AuthSettings()
    ensure_topics(kafka.bootstrap, TopicNames(kafka.topic_prefix), kafka.replication_factor)
    uvicorn.run(build_app(auth=settings, kafka=kafka), host=settings.host, port=settings.port)


_DEMO_HELP = (
    "The article's flow end to end: the broker, the stream worker, this service and the "
    "dispatcher (local provider) start; a firm adds and invites a client; the link the local "
    "provider printed is opened and the SMS code it printed entered; the client ends Connected "
    "(firm view and client-status stream). Exit code 0 when it does."
)


@auth_app.command("demo", help=_DEMO_HELP)
def demo(
    keep_running: Annotated[bool, typer.Option(help="Leave the broker running afterwards.")] = True,
) -> None:
    """Run the demo (see _DEMO_HELP)."""
    from rich.console import Console

    from services.dynamic_password.demo import run_auth_demo

    sys.exit(run_auth_demo(Console(), Console(stderr=True), keep_broker=keep_running))
