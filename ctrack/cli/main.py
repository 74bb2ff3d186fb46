"""`ctrack`: one entry point, a subcommand per job."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ctrack.cli.api import api_app
from ctrack.cli.auth import auth_app
from ctrack.cli.notify import notify_app
from ctrack.cli.schemas import schemas_app
from ctrack.cli.serve import SERVE_HELP, serve_command
from ctrack.cli.simulate import simulate_command
from ctrack.cli.tail import tail_command
from ctrack.cli.webhooks import webhooks_app
from ctrack.logs import configure_logging
from ctrack.settings import ClickHouseSettings, KafkaSettings, StackSettings, StreamSettings

if TYPE_CHECKING:
    from services.timeline.query import TimelineEntry

app = typer.Typer(help="ctrack: client tracking on Kafka for tax practices.", no_args_is_help=True)
stack_app = typer.Typer(help="The local single-node Kafka broker.", no_args_is_help=True)
topics_app = typer.Typer(help="Topics of the catalogue.", no_args_is_help=True)
db_app = typer.Typer(help="ClickHouse schema.", no_args_is_help=True)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(db_app, name="db")
app.add_typer(schemas_app, name="schemas")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(api_app, name="api")
app.add_typer(auth_app, name="auth")
app.add_typer(notify_app, name="notify")
app.command("simulate")(simulate_command)
app.command("serve", help=SERVE_HELP)(serve_command)
app.command("tail")(tail_command)

console = Console(stderr=True)
out = Console()


@app.callback()
def _setup(log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO") -> None:
    configure_logging(log_level.upper())


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


@stack_app.command("up")
def stack_up() -> None:
    """Start the local broker (or use KAFKA_BOOTSTRAP_SERVERS) and wait until it answers."""
    from ctrack.stack.local_kafka import LocalKafka, StackError, broker_answers

    kafka = KafkaSettings()
    if kafka.uses_external_cluster:
        state = "answers" if broker_answers(kafka.bootstrap) else "does NOT answer"
        console.print(
            f"KAFKA_BOOTSTRAP_SERVERS is set: using {kafka.bootstrap} ({state}); nothing started"
        )
        return
    try:
        status = LocalKafka(StackSettings()).up(on_progress=lambda msg: console.print(f"• {msg}"))
    except StackError as exc:
        raise _fail(str(exc)) from None
    out.print(f"kafka up: {status.bootstrap} (pid {status.pid})")


@stack_app.command("down")
def stack_down() -> None:
    """Stop the broker this data directory started (nothing else)."""
    from ctrack.stack.local_kafka import LocalKafka

    stopped = LocalKafka(StackSettings()).down()
    out.print("kafka stopped" if stopped else "no broker of ours was running")


@stack_app.command("status")
def stack_status() -> None:
    """Say whether the broker answers, and whether we started it."""
    from ctrack.stack.local_kafka import LocalKafka, broker_answers

    kafka = KafkaSettings()
    if kafka.uses_external_cluster:
        answers = broker_answers(kafka.bootstrap)
        out.print(f"external {kafka.bootstrap}: {'answers' if answers else 'does not answer'}")
        raise typer.Exit(code=0 if answers else 1)
    status = LocalKafka(StackSettings()).status()
    owner = f"pid {status.pid}" if status.started_by_us else "not started by ctrack"
    out.print(
        f"local {status.bootstrap}: {'answers' if status.answers else 'does not answer'} ({owner})"
    )
    raise typer.Exit(code=0 if status.answers else 1)


@topics_app.command("create")
def topics_create() -> None:
    """Create the catalogue's topics, or bring existing ones up to it (idempotent)."""
    from ctrack.topic_admin import ensure_topics
    from schemas.catalogue import ALL_TOPICS, TopicNames, changelog_topics

    kafka = KafkaSettings()
    specs = ALL_TOPICS + changelog_topics(StreamSettings().app_id)
    changes = ensure_topics(
        kafka.bootstrap, TopicNames(kafka.topic_prefix), kafka.replication_factor, specs
    )
    for change in changes:
        out.print(f"{change.action:22} {change.topic} {change.detail}".rstrip())


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending ClickHouse migrations (idempotent)."""
    from sinks.clickhouse.connection import connect
    from sinks.clickhouse.migrations import migrate

    applied = migrate(connect(ClickHouseSettings().resolved_dsn))
    for migration in applied:
        out.print(f"applied {migration.version}: {migration.name}")
    if not applied:
        out.print("schema is up to date")


@app.command()
def worker() -> None:
    """Run the stream worker (faust): lockouts and the other rules."""
    from ctrack.runtime import run_worker

    run_worker()


@app.command()
def sink() -> None:
    """Run the ClickHouse sink until interrupted."""
    from ctrack.runtime import run_sink_forever

    run_sink_forever()


@app.command()
def timeline(
    return_id: Annotated[str, typer.Argument(help="The return whose Client Tracking to show.")],
    firm_id: Annotated[str, typer.Option(help="Restrict to one firm.")] = "",
) -> None:
    """Print a return's Client Tracking events in order, in the glossary's wording."""
    from services.timeline.query import return_timeline
    from sinks.clickhouse.connection import connect

    entries = return_timeline(connect(ClickHouseSettings().resolved_dsn), return_id, firm_id)
    if not entries:
        raise _fail(f"no events stored for return {return_id}")
    out.print(render_timeline(return_id, entries))


def render_timeline(return_id: str, entries: list[TimelineEntry]) -> Table:
    table = Table(title=f"Client Tracking - return {return_id}")
    table.add_column("When (UTC)")
    table.add_column("Event")
    table.add_column("By")
    for entry in entries:
        by = entry.firm_user or entry.actor.value.replace("_", " ").lower()
        table.add_row(entry.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), entry.description, by)
    return table


@app.command()
def status(client_id: Annotated[str, typer.Argument(help="The client to look up.")]) -> None:
    """Show a client's Dynamic Password status and login lock state."""
    from ctrack.runtime import process_codec
    from schemas.catalogue import CLIENT_STATUS_TOPIC, TopicNames
    from services.status.latest import latest_for_key

    kafka = KafkaSettings()
    topic = TopicNames(kafka.topic_prefix).of(CLIENT_STATUS_TOPIC)
    record = latest_for_key(kafka.bootstrap, topic, client_id, process_codec())
    if record is None:
        raise _fail(f"no status recorded for client {client_id}")
    table = Table(title=f"Client {client_id}", show_header=False)
    for field, value in record.items():
        if field not in ("client_id", "caused_by"):  # the title names the client
            table.add_row(field, str(value))
    out.print(table)


@app.command()
def demo(
    keep_running: Annotated[bool, typer.Option(help="Leave the broker running afterwards.")] = True,
) -> None:
    """The walking skeleton: broker, topics, worker, events, sink, then timelines."""
    from ctrack.demo import run_demo

    sys.exit(run_demo(out, console, keep_broker=keep_running))


if __name__ == "__main__":
    app()
