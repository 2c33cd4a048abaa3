"""`geocube-ingest graph`: list the graphs known by name, check a graph file."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from geocube_ingest.cli.common import console, print_json
from geocube_ingest.errors import InvalidInput

graph_app = typer.Typer(help="Processing graphs: list the library, check a graph.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _config(items: list[str] | None) -> dict[str, str]:
    config = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--config {item!r}: expected KEY=VALUE")
        config[key] = value
    return config


@graph_app.command("check")
def check(
    graph: Annotated[str, typer.Argument(help="Graph name, file or URL (any: this is the operator's check).")],
    config: Annotated[
        list[str] | None, typer.Option("--config", "-c", help="KEY=VALUE overriding the graph's config (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Report every problem of a graph, with where it is (exit status 2 when there is one)."""
    from geocube_ingest.processing.validate import check_graph  # processing loads for this command only

    problems = check_graph(graph, config=_config(config), trusted=True)
    if as_json:
        print_json([{"location": p.location, "message": p.message} for p in problems])
    elif not problems:
        console.print(f"[green]ok[/] {graph}")
    else:
        for problem in problems:
            console.print(f"[bold]{problem.location}[/]: {problem.message}", highlight=False, soft_wrap=True)
    if problems:
        raise InvalidInput(f"graph {graph}: {len(problems)} problem{'s' if len(problems) > 1 else ''}")


@graph_app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """The graphs known by name (configured folders first, then the library)."""
    from geocube_ingest.processing.graph import list_graphs, load_graph

    found = list_graphs()
    rows: list[tuple[str, str, int, str]] = []
    for name, file in found.items():
        try:
            graph = load_graph(str(file), trusted=True).graph
            rows.append((name, str(file), len(graph.processing_steps), graph.description))
        except InvalidInput as exc:
            rows.append((name, str(file), -1, f"invalid: {exc}"))
    if as_json:
        print_json([{"name": n, "path": p, "steps": s, "description": d} for n, p, s, d in rows])
        return
    table = Table("graph", "steps", "description", box=None)
    for name, where, steps, description in rows:
        table.add_row(f"[bold]{name}[/]\n[dim]{where}[/]", str(steps) if steps >= 0 else "?", description)
    console.print(table if rows else "[dim]no graph[/]")


@graph_app.command("steps")
def steps(as_json: JsonOpt = False) -> None:
    """The built-in steps of the `xarray` engine and their arguments."""
    from geocube_ingest.processing.engines.xarray import BUILTINS

    entries = sorted(BUILTINS.values(), key=lambda b: b.name)
    if as_json:
        print_json(
            [
                {"name": b.name, "required": list(b.required), "optional": list(b.optional), "summary": b.summary}
                for b in entries
            ]
        )
        return
    table = Table("step", "arguments", "what it does", box=None)
    for b in entries:
        args = " ".join([*b.required, *(f"[dim]\\[{a}][/]" for a in b.optional)])
        table.add_row(f"[bold]{b.name}[/]", args + (" [dim]+ named inputs[/]" if b.variables else ""), b.summary)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(graph_app, name="graph")
