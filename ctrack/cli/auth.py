"""`ctrack auth`: the dynamic password service (firm and client flows, one-time passwords)."""

from __future__ import annotations

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
