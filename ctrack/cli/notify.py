"""`ctrack notify`: the notification dispatcher (email and SMS, each notification sent once)."""

from __future__ import annotations

import signal
import threading

import typer
from rich.console import Console

notify_app = typer.Typer(help="Notification dispatcher (email, SMS).", no_args_is_help=True)
console = Console(stderr=True)


@notify_app.command("run")
def run() -> None:
    """Send the notifications outbox until interrupted (Ctrl-C / SIGTERM), then print counters."""
    from services.notifications.bootstrap import run_dispatcher
    from services.notifications.errors import ProviderConfigError

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        stats = run_dispatcher(stop.is_set)
    except (ProviderConfigError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    console.print(
        f"dispatcher stopped: {stats.sent} sent, {stats.skipped_duplicate} skipped as "
        f"duplicates, {stats.failed} failed, {stats.dead_lettered} dead-lettered, "
        f"{stats.in_doubt} in doubt",
        highlight=False,
        soft_wrap=True,
    )
