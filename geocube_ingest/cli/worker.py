"""`geocube-ingest worker download|process`: a long-running worker, without Prefect.

The same loop as the Prefect flows `download-worker` and `process-worker` and as every
ingestion (`geocube_ingest.pipeline.drain`), on one pool: start as many as you like, on as
many machines, against one database and one storage. SIGTERM or SIGINT stops it within
seconds and gives its leases and provider slots back.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from geocube_ingest import shutdown
from geocube_ingest.cli.common import EXIT_CODES_HELP, console, leave_stopped, stoppable, workflow
from geocube_ingest.settings import get_settings
from geocube_ingest.workflow.owners import process_prefix


class Pool(StrEnum):
    download = "download"
    process = "process"


def worker(
    pool: Annotated[Pool, typer.Argument(help="download (PENDING scenes) or process (ready tiles).")],
    aoi: Annotated[str | None, typer.Option("--aoi", help="Only this AOI (default: every AOI).")] = None,
    idle_seconds: Annotated[
        float, typer.Option("--idle-seconds", min=0, help="Stop after this long without work (0: never).")
    ] = 0,
    max_batches: Annotated[
        int | None, typer.Option("--max-batches", min=1, help="Stop after this many batches.")
    ] = None,
) -> None:
    """Claim and run due work of one pool until stopped (or idle, or after --max-batches)."""
    from geocube_ingest.index import get_index
    from geocube_ingest.pipeline import drain, recover, thread_runner
    from geocube_ingest.pipeline.drain import Kind

    settings = get_settings()
    wf = workflow()
    recover(wf, settings, aoi)
    kind: Kind = "download" if pool is Pool.download else "processing"
    runner = thread_runner(wf, get_index(settings), settings, aoi)
    scope = f"AOI {aoi}" if aoi else "every AOI"
    console.print(f"{pool.value} worker {process_prefix()[:-1]}: {scope}", highlight=False)
    with stoppable(settings):
        try:
            report = drain(
                wf,
                settings,
                aoi,
                runner=runner,
                pools=(kind,),
                idle_seconds=idle_seconds,
                max_batches=max_batches,
                on_notice=lambda text: console.print(f"[dim]{text}[/]", highlight=False),
            )
        finally:
            runner.close()
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(report.outcomes.items())) or "no task"
    console.print(f"{report.batches} batches ({outcomes})", highlight=False)
    for line in report.failures[:20]:
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    if shutdown.requested():
        given_back = ": work in progress was given back." if report.interrupted else "."
        console.print(f"[yellow]Stopped on request[/]{given_back}")
        leave_stopped(settings, None if shutdown.work_left() else 0)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES_HELP)(worker)
