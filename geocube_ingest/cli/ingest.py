"""`geocube-ingest ingest PAYLOAD` and `geocube-ingest demo`: the main job from the command line.

Both run the Prefect flow `ingest-aoi` (flows/ingest.py): against the Prefect server of
PREFECT_API_URL when one is configured, else in Prefect's ephemeral mode. `--no-prefect`
runs the same pipeline without Prefect. Progress is read from the workflow database, the
source of truth, so the bars are the same whichever way the work runs.

SIGTERM or SIGINT stops a run within seconds and gives its work back (exit 128+signal);
`ingest` exits 0 only when the AOI is DONE (see EXIT_CODES_HELP).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from geocube_ingest import shutdown
from geocube_ingest.cli.common import EXIT_CODES_HELP, EXIT_NOT_DONE, console, leave_stopped, stoppable
from geocube_ingest.errors import InvalidInput
from geocube_ingest.index import get_index
from geocube_ingest.payload import Payload
from geocube_ingest.progress import WorkflowProgress
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Workflow
from geocube_ingest.workflow.render import summary_text

PrefectOpt = Annotated[
    bool, typer.Option("--prefect/--no-prefect", help="Run as the Prefect flow ingest-aoi (default), or directly.")
]


def _read_json(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the {what} file {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"the {what} file {path} must hold a GeoJSON FeatureCollection")
    return document


def _prepare_prefect() -> None:
    """Quiet Prefect's console logs (they would drown the progress bars; the Prefect UI keeps
    them), and create PREFECT_HOME, which Prefect needs but does not create."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The ephemeral server's first start (database migrations) outlasts Prefect's 20 s on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    home = os.environ.get("PREFECT_HOME")
    if home:
        Path(home).expanduser().mkdir(parents=True, exist_ok=True)
    shutdown.on_exit_now(_stop_ephemeral_server)


def _stop_ephemeral_server() -> None:
    """Prefect stops the ephemeral API server it started for this process at exit (atexit); a
    command stopped by a signal leaves through `shutdown.exit_now`, which skips that."""
    from prefect.server.api.server import SubprocessASGIServer

    SubprocessASGIServer().stop()


def _quiet_run_logs() -> None:
    """Flow and task run logs go to the Prefect API (the UI shows them), not to this terminal:
    an error the user made arrives here once, as one line, not after two Prefect tracebacks."""
    import logging

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.setLevel(logging.INFO)  # PREFECT_LOGGING_LEVEL=WARNING quiets the console, not the UI


def run_ingestion(
    payload: dict[str, Any],
    *,
    scenes: dict[str, Any] | None = None,
    tiles: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    use_prefect: bool = True,
) -> dict[str, Any]:
    """Run one ingestion with progress bars; returns the flow's result dict."""
    from geocube_ingest.catalogue import scenes_from_geojson, scenes_of, tiles_from_geojson
    from geocube_ingest.pipeline.prepare import nothing_to_do
    from geocube_ingest.processing.admission import admit_graphs

    parsed = Payload.parse(payload)
    settings = get_settings().with_overrides(overrides)
    # Bad graphs and layers are user errors: say so in one line before anything starts.
    given_tiles = tiles_from_geojson(tiles) if tiles is not None else None
    given_scenes = scenes_from_geojson(scenes) if scenes is not None else None
    if given_scenes is None and given_tiles is not None:
        given_scenes = scenes_of(given_tiles)
    admit_graphs(parsed, scenes=given_scenes, tiles=given_tiles, settings=settings)
    get_index(settings).resolve_layers({k: v.model_dump() for k, v in parsed.layers.items()})
    runner: Callable[[], dict[str, Any]]
    how = "Prefect flow ingest-aoi" if use_prefect else "in-process"
    if use_prefect and nothing_to_do(
        parsed, Workflow(settings=settings), settings, scenes=given_scenes, tiles=given_tiles
    ):
        # A flow run costs seconds (Prefect, its API server) and would change nothing.
        how = "nothing new: no flow run started"

        def runner() -> dict[str, Any]:
            return {"noop": True}
    elif use_prefect:
        _prepare_prefect()
        from flows.ingest import ingest_aoi

        _quiet_run_logs()

        def runner() -> dict[str, Any]:
            return ingest_aoi(payload=payload, scenes=scenes, tiles=tiles, settings=overrides)
    else:
        from geocube_ingest.pipeline import ingest

        def runner() -> dict[str, Any]:
            report = ingest(parsed, scenes=given_scenes, tiles=given_tiles, settings=settings)
            return {
                "noop": report.was_noop,
                "stac_collection": report.stac_collection,
                "failures": report.drained.failures,
                "stopped": report.drained.stopped,
            }

    console.print(f"Ingesting [bold]{parsed.name}[/] ({how})")
    started = time.monotonic()
    with WorkflowProgress(parsed.name, settings, console=console):
        result = runner()
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _report(aoi: str, result: dict[str, Any], settings: Settings) -> bool:
    """Print the outcome; True when the AOI is DONE."""
    if result.get("noop"):
        console.print(f"[green]Nothing to do:[/] AOI {aoi} is already ingested (no new scene, no pending work).")
    summary = Workflow(settings=settings).summary(aoi)
    console.print(summary_text(summary), end="", highlight=False)
    if result.get("stac_collection"):
        console.print(f"STAC collection: {result['stac_collection']}")
    console.print(f"[dim]{result['seconds']} s[/]")
    done = summary.status == Status.DONE
    if shutdown.requested():
        console.print("[yellow]Stopped on request:[/] work in progress was given back; run again to resume.")
    elif not done:
        state = summary.status.value if summary.status else "empty (no scene)"
        console.print(f"[yellow]AOI {aoi} is {state}, not DONE[/] (see `geocube-ingest status {aoi}`).")
    return done


def _ingest_or_stop(run: Callable[[], dict[str, Any]], settings: Settings) -> dict[str, Any]:
    """Run with SIGTERM/SIGINT stopping it; a stop that ends the run by an exception leaves at once."""
    with stoppable(settings):
        try:
            return run()
        except BaseException:
            if shutdown.requested():  # Prefect turns SIGTERM into an exception out of the flow
                console.print("[yellow]Stopped on request:[/] work in progress was given back; run again to resume.")
                leave_stopped(settings)
            raise


def _finish(done: bool, settings: Settings) -> None:
    if shutdown.requested():
        leave_stopped(settings, 0 if done else None)
    if not done:
        raise typer.Exit(EXIT_NOT_DONE)


def ingest(
    payload: Annotated[Path, typer.Argument(help="The payload file (GeoJSON).", exists=False)],
    scenes: Annotated[Path | None, typer.Option("--scenes", help="A scenes file from 'catalog scenes'.")] = None,
    tiles: Annotated[Path | None, typer.Option("--tiles", help="A tiles file from 'catalog tiles'.")] = None,
    prefect: PrefectOpt = True,
) -> None:
    """Ingest a payload: catalogue, records, workflow, downloads, processing, index (resumable)."""
    document = _read_json(payload, "payload")
    assert document is not None
    if scenes is not None and tiles is not None:
        raise InvalidInput("give --scenes or --tiles, not both")
    parsed = Payload.parse(document)
    settings = get_settings()
    result = _ingest_or_stop(
        lambda: run_ingestion(
            document, scenes=_read_json(scenes, "scenes"), tiles=_read_json(tiles, "tiles"), use_prefect=prefect
        ),
        settings,
    )
    _finish(_report(parsed.name, result, settings), settings)


def demo(
    prefect: PrefectOpt = True,
    folder: Annotated[
        Path | None, typer.Option("--folder", help="Where the demo catalogue goes (default: <home>/demo).")
    ] = None,
) -> None:
    """Run the main job offline on small local catalogues: Sentinel-2 L2A over Colorado, Sentinel-1 GRD in France,
    Sentinel-1 SLC bursts in Morocco (gamma0 and coherence)."""
    from geocube_ingest.demo import build, s1_slc_world, s1_world
    from geocube_ingest.demo.world import overrides

    settings = get_settings()
    folder = folder or settings.home / "demo"
    worlds: list[tuple[Any, Path, str, tuple[str, str, str]]] = [  # modules, or objects with their attributes
        (build, folder, "10 Sentinel-2 L2A products of tile 13TDE", ("NDVI", "demo", "mean NDVI")),
        (s1_world, folder / "sentinel1", "4 Sentinel-1 GRD passes", ("Sigma0dB", "VV", "mean sigma0 VV (dB)")),
        (
            s1_slc_world.BACKSCATTER,
            folder / "sentinel1-slc",
            "3 Sentinel-1 SLC passes",
            ("Gamma0dB", "VV", "mean gamma0 VV (dB)"),
        ),
        (
            s1_slc_world.COHERENCE,
            folder / "sentinel1-slc",
            "3 Sentinel-1 SLC passes",
            ("Coherence", "VV", "mean coherence VV"),
        ),
    ]
    for module, where, what, cube in worlds:
        with console.status(f"Building the demo catalogue ({what})..."):
            world = module.build(where)
        console.print(f"Demo catalogue: {world.catalogue} ({len(world.products)} products)")
        demo_settings = settings.with_overrides(overrides(world))
        module.prepare_index(get_index(demo_settings))
        result = _ingest_or_stop(
            partial(run_ingestion, world.payload, overrides=overrides(world), use_prefect=prefect), demo_settings
        )
        done = _report(module.AOI_NAME, result, demo_settings)
        if not done or shutdown.requested():
            _finish(done, demo_settings)
        _show_cube(module.AOI_NAME, demo_settings, *cube)
        console.print(
            "Ingest it yourself (its settings point at the demo catalogue, not the internet's):\n"
            f"  [cyan]GEOCUBE_INGEST_CONFIG={world.settings_path} geocube-ingest ingest {world.payload_path}[/]\n",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        "\nSee them in the web page: [cyan]geocube-ingest serve[/] then http://127.0.0.1:8080/ui", highlight=False
    )


def _show_cube(aoi: str, settings: Settings, variable: str, instance: str, label: str) -> None:
    """Open what was ingested as a data cube, as a user would in a notebook."""
    import numpy as np

    from geocube_ingest.index import open_cube
    from geocube_ingest.index.stac import aoi_root

    cube = open_cube(variable, instance, collection=aoi, settings=settings).compute()
    console.print(f"\nLayers (COGs) under: {aoi_root(aoi, None, settings)}")
    sizes = f"{cube.sizes['time']} dates x {cube.sizes['y']} x {cube.sizes['x']} pixels"
    console.print(f"Cube: {variable}/{instance}, {sizes}", highlight=False)
    for when, values in zip(cube.time.values, cube.values, strict=True):
        valid = float(np.isfinite(values).mean())
        mean = float(np.nanmean(values)) if valid else float("nan")
        console.print(f"  {str(when)[:10]}  {label} {mean:6.2f}  valid {valid:4.0%}", highlight=False)
    console.print(
        "Open it yourself:\n"
        "  [cyan]from geocube_ingest.index import open_cube\n"
        f"  cube = open_cube('{variable}', '{instance}', collection='{aoi}')[/]\n"
    )


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES_HELP)(ingest)
    app.command(epilog=EXIT_CODES_HELP)(demo)
