"""`ctrack webhooks`: the provider webhook ingest (SendGrid events, Twilio SMS statuses)."""

from __future__ import annotations

import typer

webhooks_app = typer.Typer(help="Provider webhook ingest (HTTP).", no_args_is_help=True)


@webhooks_app.command("serve")
def serve() -> None:
    """Serve POST /webhooks/sendgrid and /webhooks/twilio until interrupted."""
    import uvicorn

    from ctrack.settings import WebhookSettings
    from services.webhooks.bootstrap import build_app

    settings = WebhookSettings()
    uvicorn.run(build_app(webhooks=settings), host=settings.host, port=settings.port)
