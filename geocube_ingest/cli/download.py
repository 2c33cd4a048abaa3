"""`geocube-ingest download SCENE_ID`: run one scene's download job by hand, with a progress bar.

The job runs exactly as a worker runs it (providers in order, verification, scene graph,
storage). A PENDING scene is leased like a worker would and its result recorded; a scene
in any other status runs but its result is only printed (use `force` to set it by hand).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from geocube_ingest import shutdown
from geocube_ingest.cli.common import EXIT_CODES_HELP, console, leave_stopped, stoppable, workflow
from geocube_ingest.errors import InvalidInput

STYLE = {"DONE": "green", "RETRY": "dark_orange", "FAILED": "red", "TEMPORARY": "yellow"}


def download(
    scene_id: Annotated[int, typer.Argument(help="Id of the scene (see `geocube-ingest scenes AOI`).")],
    database: Annotated[
        str | None,
        typer.Option("--database", "-d", help="Workflow database URL (default: settings).", show_default=False),
    ] = None,
) -> None:
    """Download one scene from the configured providers and run its scene graph (exit 1 unless DONE)."""
    from geocube_ingest.download import download_scene  # the download stack loads for this command only
    from geocube_ingest.pipeline.workers import heartbeat, recover
    from geocube_ingest.workflow.owners import owner_id

    wf = workflow(database)
    scene = wf.scene(scene_id)
    recover(wf, wf.settings, scene.aoi)  # a killed earlier run must not keep its lease until expiry
    leases = wf.claim("scene", owner_id("cli-download"), limit=1, ids=[scene_id]) if scene.status == "PENDING" else []
    if scene.status == "PENDING" and not leases:
        raise InvalidInput(f"scene {scene_id} is being downloaded by a worker (leased): wait for it")
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(scene.source_id[:60], total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        with stoppable(wf.settings):
            try:
                with heartbeat(wf, leases, wf.settings.workflow.lease_seconds) if leases else nullcontext():
                    outcome = download_scene(wf, scene_id, progress=progress)
            except shutdown.Stopped:
                wf.give_back(leases)
                console.print(f"[yellow]stopped on request:[/] scene {scene_id} is given back, not downloaded")
                leave_stopped(wf.settings)
    recorded = bool(leases) and wf.report(leases[0], outcome)
    style = STYLE.get(outcome.kind, "white")
    line = f"scene {scene_id}: [{style}]{outcome.kind}[/]"
    if outcome.message:
        line += f": {outcome.message}"
    console.print(line, highlight=False, soft_wrap=True)
    if recorded:
        console.print(f"recorded: scene {scene_id} is now {wf.scene(scene_id).status.value}")
    else:
        console.print(f"[dim]not recorded: the scene is {scene.status.value}, not PENDING[/]")
    if outcome.kind != "DONE":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES_HELP)(download)
