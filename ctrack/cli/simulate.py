"""`ctrack simulate`: a deterministic tax season, produced onto the catalogue's topics."""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from producers.simulator import SimulationPlan, simulate
from producers.simulator.plan import DEFAULT_START

if TYPE_CHECKING:  # imported lazily at run time: confluent-kafka slows every ctrack command
    from rich.progress import TaskID

    from producers.event_producer import EventProducer
    from schemas.catalogue import TopicNames

console = Console(stderr=True)
out = Console()

PROGRESS_EVERY = 2_000  # records between progress refreshes (rich is slow per call)
PACE_CHECKS_PER_S = 100  # how often the --rate limit is checked


def simulate_command(
    firms: Annotated[int, typer.Option(min=1, help="Tax practices.")] = 5,
    clients_per_firm: Annotated[int, typer.Option(min=0, help="Clients each firm adds.")] = 40,
    returns: Annotated[int, typer.Option(min=0, help="Returns delivered in the window.")] = 300,
    seed: Annotated[int, typer.Option(min=0, help="Same seed and plan, same records.")] = 0,
    days: Annotated[
        float, typer.Option(help="Length of the window in days: 1 = a day, 75 = a season.")
    ] = 1.0,
    rate: Annotated[float, typer.Option(min=0, help="Events/s limit (0 = unlimited).")] = 0.0,
    start: Annotated[
        str | None, typer.Option(help="Start of the window, ISO 8601 (UTC if no offset).")
    ] = None,
    source_only: Annotated[
        bool,
        typer.Option(
            help="Leave out the events the stream worker derives itself (status changes, "
            "login locked, superseded links, identity verified by a code)."
        ),
    ] = False,
) -> None:
    """Simulate a tax season (firms, clients, returns, emails, SMS) and produce it to Kafka."""
    from ctrack.runtime import process_codec
    from ctrack.settings import KafkaSettings
    from ctrack.topic_admin import ensure_topics
    from producers.errors import ProducerError
    from producers.event_producer import EventProducer
    from schemas.catalogue import TOPIC_OF_SCHEMA, TopicNames
    from schemas.errors import SchemaError

    try:
        plan = SimulationPlan(
            seed=seed,
            firms=firms,
            clients_per_firm=clients_per_firm,
            returns=returns,
            start=_parse_start(start),
            duration=timedelta(days=days),
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    kafka = KafkaSettings()
    names = TopicNames(kafka.topic_prefix)
    # The topics must exist with the catalogue's partition counts before the first key lands.
    ensure_topics(kafka.bootstrap, names, kafka.replication_factor, TOPIC_OF_SCHEMA.values())
    counts: Counter[str] = Counter()
    started = time.monotonic()
    try:
        with _relaxed_gc(), EventProducer(kafka, process_codec()) as producer:
            _produce(plan, producer, counts, rate, source_only)
    except (ProducerError, SchemaError) as exc:
        _summary(counts, names, time.monotonic() - started)
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: what was produced so far was flushed")
    _summary(counts, names, time.monotonic() - started)


def _produce(
    plan: SimulationPlan,
    producer: EventProducer,
    counts: Counter[str],
    rate: float,
    source_only: bool = False,
) -> None:
    """Send every record of the plan, paced to `rate`, with a progress bar over the window."""
    window_ms = plan.end_ms - plan.start_ms
    pace_every = max(1, int(rate / PACE_CHECKS_PER_S))
    sent, started = 0, time.monotonic()
    with _progress() as progress:
        first = f"{plan.start:%Y-%m-%d %H:%M}"
        task = progress.add_task(first, total=window_ms, events=0, rate=0.0)
        for schema_name, key, record in simulate(plan, source_only=source_only):
            producer.send_record(schema_name, key, record)
            counts[schema_name] += 1
            sent += 1
            if rate and sent % pace_every == 0:
                ahead = started + sent / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            if sent % PROGRESS_EVERY == 0:
                _advance(progress, task, plan, record, sent, started)
        elapsed = max(time.monotonic() - started, 1e-9)
        end = f"{plan.start + plan.duration:%Y-%m-%d %H:%M}"
        progress.update(
            task, completed=window_ms, events=sent, rate=sent / elapsed, description=end
        )


def _advance(
    progress: Progress,
    task: TaskID,
    plan: SimulationPlan,
    record: dict[str, Any],
    sent: int,
    started: float,
) -> None:
    """Move the bar to the simulated time of `record` (every record has one)."""
    moment: datetime = record.get("occurred_at") or record["updated_at"]
    elapsed = max(time.monotonic() - started, 1e-9)
    progress.update(
        task,
        completed=int(moment.timestamp() * 1000) - plan.start_ms,
        events=sent,
        rate=sent / elapsed,
        description=f"{moment:%Y-%m-%d %H:%M}",
    )


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("simulated up to {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[events]:>12,} events"),
        TextColumn("{task.fields[rate]:>10,.0f} events/s"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _summary(counts: Counter[str], names: TopicNames, elapsed: float) -> None:
    from schemas.catalogue import TOPIC_OF_SCHEMA

    table = Table(title="Produced")
    table.add_column("Schema")
    table.add_column("Topic")
    table.add_column("Records", justify="right")
    for schema_name, count in sorted(counts.items()):
        table.add_row(schema_name, names.of(TOPIC_OF_SCHEMA[schema_name]), f"{count:,}")
    total = sum(counts.values())
    table.add_row("total", "", f"{total:,}", end_section=True)
    out.print(table)
    out.print(f"{total:,} records in {elapsed:.1f}s ({total / max(elapsed, 1e-9):,.0f} events/s)")


@contextmanager
def _relaxed_gc() -> Iterator[None]:
    """Collect cycles rarely while simulating: the simulator makes none, but the cyclic GC
    would keep rescanning its pending beats (a third of the generation time at 100k returns)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _parse_start(text: str | None) -> datetime:
    if text is None:
        return DEFAULT_START
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--start {text!r} is not an ISO 8601 date or time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)
