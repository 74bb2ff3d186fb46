"""`ctrack schemas`: the compatibility check, releases, and the generated subscriber docs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schemas.schema_set import AVRO_DIR, RELEASED_DIR

if TYPE_CHECKING:
    from schemas.evolution import Problem
    from schemas.releases import Definition, Release

schemas_app = typer.Typer(help="Schema releases, compatibility and docs.", no_args_is_help=True)

console = Console(stderr=True)
out = Console()

AvroDir = Annotated[Path, typer.Option(help="Folder of the current .avsc files.")]
ReleasedDir = Annotated[Path, typer.Option(help="Folder of the released v<N>.json files.")]


@schemas_app.command("check")
def check(avro_dir: AvroDir = AVRO_DIR, released_dir: ReleasedDir = RELEASED_DIR) -> None:
    """Check every current schema against every release, backward and forward."""
    from schemas.evolution import check_compatibility
    from schemas.releases import current_definitions, load_releases

    current, releases = current_definitions(avro_dir), load_releases(released_dir)
    problems = check_compatibility(current, releases)
    out.print(_summary(current, releases, problems))
    if problems:
        out.print(_problem_table(problems))
        raise typer.Exit(code=1)


@schemas_app.command("release")
def release(avro_dir: AvroDir = AVRO_DIR, released_dir: ReleasedDir = RELEASED_DIR) -> None:
    """Write the next release when the schemas changed and the check passes."""
    from schemas.evolution import check_compatibility
    from schemas.releases import current_definitions, load_releases, next_release, write_release

    current, releases = current_definitions(avro_dir), load_releases(released_dir)
    candidate = next_release(current, releases)
    if candidate is None:
        out.print(f"schemas unchanged since v{releases[-1].version}; nothing released")
        return
    problems = check_compatibility(current, releases)
    if problems:
        out.print(_problem_table(problems))
        console.print(
            f"[red]error:[/red] v{candidate.version} not released: {len(problems)} problems"
        )
        raise typer.Exit(code=1)
    path = write_release(candidate, released_dir)
    out.print(f"released v{candidate.version}: {len(candidate.schemas)} schemas -> {path}")


@schemas_app.command("docs")
def docs(
    docs_dir: Annotated[
        Path, typer.Option(help="Where docs/asyncapi.yaml and TOPICS.md go.")
    ] = Path("docs"),
) -> None:
    """Regenerate docs/asyncapi.yaml and docs/TOPICS.md from the catalogue and schemas."""
    from schemas.asyncapi import write_subscriber_docs

    for path in write_subscriber_docs(docs_dir):
        out.print(f"wrote {path}")


def _summary(
    current: dict[str, Definition], releases: list[Release], problems: list[Problem]
) -> Table:
    table = Table(title="Schema compatibility (backward and forward)")
    table.add_column("Schema")
    table.add_column("Released in")
    table.add_column("Result")
    for name in sorted(current):
        versions = [f"v{r.version}" for r in releases if name in r.schemas]
        count = sum(1 for problem in problems if problem.schema == name)
        result = (
            f"[red]{count} problem{'s' if count != 1 else ''}[/red]"
            if count
            else "[green]compatible[/green]"
        )
        table.add_row(name, ", ".join(versions) or "new", result if versions else "-")
    for name in sorted({p.schema for p in problems} - set(current)):
        table.add_row(name, "released", "[red]removed[/red]")
    return table


def _problem_table(problems: list[Problem]) -> Table:
    table = Table(title="Problems")
    for column in ("Schema", "Against", "Direction", "Where", "Problem"):
        table.add_column(column)
    for problem in problems:
        table.add_row(
            problem.schema,
            f"v{problem.version}",
            str(problem.direction),
            problem.path,
            escape(problem.message),  # messages hold Avro types such as [null, int]
        )
    return table
