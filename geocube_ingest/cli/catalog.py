"""`geocube-ingest catalog scenes|tiles PAYLOAD`: the `/catalog/scenes` and `/catalog/tiles` of the API.

The GeoJSON goes to stdout (or `-o FILE`); progress and a summary go to stderr, so the output
can be piped, edited and given back (`catalog tiles --scenes scenes.json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from geocube_ingest.cli.common import make_console, workflow
from geocube_ingest.payload import Payload

if TYPE_CHECKING:
    from geocube_ingest.catalogue.models import Progress as ProgressCallback

catalog_app = typer.Typer(
    help="List the scenes and tiles of a payload (as the API's /catalog/scenes and /catalog/tiles).",
    no_args_is_help=True,
)
err_console = make_console(stderr=True)

PayloadArg = Annotated[
    Path, typer.Argument(help="Payload file (GeoJSON with name, dates, scene_type...).", exists=True, dir_okay=False)
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the GeoJSON here instead of stdout.", dir_okay=False)
]


@contextmanager
def _progress(label: str) -> Iterator[ProgressCallback]:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None, message: str) -> None:
            bar.update(task, completed=done, total=total, description=message[:70])

        yield update


def _write(document: dict[str, Any], output: Path | None) -> None:
    text = json.dumps(document, indent=2)
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")


def scenes(
    payload: PayloadArg,
    output: OutputOpt = None,
    page: Annotated[int | None, typer.Option("--page", min=0, help="0-based page (needs --limit).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Scenes per page.")] = None,
) -> None:
    """Search the configured catalogues for the payload's scenes (upstream's scenes GeoJSON)."""
    area = Payload.parse(payload)
    from geocube_ingest.processing.admission import admit_graphs

    admit_graphs(area, runnable=False)
    with _progress("searching") as progress:
        from geocube_ingest.catalogue import search_scenes  # the catalogue stack loads for this command only

        result = search_scenes(area, page=page, limit=limit, progress=progress)
    paged = page is not None or limit is not None or area.limit is not None
    properties = {"next": str(result.next).lower(), "provider": result.provider} if paged else None
    from geocube_ingest.catalogue import scenes_to_geojson

    _write(scenes_to_geojson(result.scenes, area, properties=properties), output)
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    more = " (more: next page)" if result.next else ""
    err_console.print(f"{len(result.scenes)} scenes from {result.provider}{more}", highlight=False)


def tiles(
    payload: PayloadArg,
    scenes_file: Annotated[
        Path | None,
        typer.Option(
            "--scenes", help="Scenes GeoJSON (from `catalog scenes`, maybe edited); searched if absent.", exists=True
        ),
    ] = None,
    output: OutputOpt = None,
    database: Annotated[
        str | None, typer.Option("--database", "-d", help="Workflow database URL (default: settings).")
    ] = None,
    no_workflow: Annotated[
        bool, typer.Option("--no-workflow", help="Ignore the tiles already in the AOI (no appending, no backfill).")
    ] = False,
    link: Annotated[
        bool | None,
        typer.Option("--link/--no-link", help="Force chaining tiles (default: when the tile graph needs it)."),
    ] = None,
) -> None:
    """Split the scenes into tiles (Sentinel-1 bursts) and chain them into time series (upstream's tiles GeoJSON)."""
    from geocube_ingest.catalogue import list_tiles, scenes_from_geojson, search_scenes, tiles_to_geojson
    from geocube_ingest.processing.admission import admit_graphs

    area = Payload.parse(payload)
    if scenes_file is not None:
        found = scenes_from_geojson(scenes_file)
        admit_graphs(area, scenes=found, runnable=False)
    else:
        admit_graphs(area, runnable=False)
        with _progress("searching") as progress:
            found = search_scenes(area, progress=progress).scenes
    wf = None if no_workflow else workflow(database)
    with _progress("tiles") as progress:
        result = list_tiles(area, found, workflow=wf, link=link, progress=progress)
    _write(tiles_to_geojson(result, area), output)
    new = [t for t in result if not t.ingested]
    rewired = len(result) - len(new)
    scene_count = len({t.scene_source_id for t in new})
    line = f"{len(new)} tiles in {scene_count} scenes"
    err_console.print(line + (f", {rewired} existing tiles re-wired" if rewired else ""), highlight=False)


def register(app: typer.Typer) -> None:
    catalog_app.command("scenes")(scenes)
    catalog_app.command("tiles")(tiles)
    app.add_typer(catalog_app, name="catalog")
