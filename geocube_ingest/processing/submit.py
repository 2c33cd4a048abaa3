"""The orchestrating side of the processing jobs: build them, run them where they belong, finish them.

A job (`processing.job`) runs as one Dask task on the cluster when `processing.jobs_on_cluster`
says so (default: when a scheduler address is set), else in this process with the chunks on
the LocalCluster, as before. Either way this process then indexes what the job stored and
deletes what the graph says (`publish_outputs`): workers need storage credentials, never
database or index ones. Settings travel without secrets (`shipped_settings`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from geocube_ingest import shutdown, storage
from geocube_ingest.errors import FatalError, InvalidInput, NotFound, RetriableError, TaskError
from geocube_ingest.index.base import Index
from geocube_ingest.processing.errors import classify_exception
from geocube_ingest.processing.graph import LoadedGraph, load_graph
from geocube_ingest.processing.job import JobResult, SceneJob, TileJob, run_scene_job, run_tile_job
from geocube_ingest.processing.outputs import ProcessResult, publish_outputs
from geocube_ingest.processing.validate import require_valid
from geocube_ingest.processing.workspace import SlotTile, scene_slot
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow.models import Scene, Tile

if TYPE_CHECKING:
    from distributed import Future

log = logging.getLogger(__name__)

__all__ = ["ProcessResult", "process_tile", "run_scene_graph", "shipped_settings"]

T = TypeVar("T")

# What a job needs of the orchestrator's settings. Never credentials (workers have their own)
# nor where a worker keeps its scratch folders (a path of the worker's machine).
_SHIPPED: dict[str, Any] = {
    "storage_uri": True,
    "log_level": True,
    "processing": {"scratch_dir"},
    "graphs": True,
    "docker": True,
    "security": True,
    "download": {"max_unpacked_bytes", "max_archive_members"},
}
# Staged products of scene jobs, below the scene's storage root.
STAGING = ".staging"


def shipped_settings(settings: Settings) -> dict[str, Any]:
    """The settings a job needs, as JSON (no secret, no path of this machine's scratch)."""
    include: dict[str, Any] = {}
    for key, value in _SHIPPED.items():
        if value is True:
            include[key] = True
        elif key == "download":
            include[key] = value
        else:
            fields = type(getattr(settings, key)).model_fields
            include[key] = {name for name in fields if name not in value}
    shipped: dict[str, Any] = settings.model_dump(mode="json", include=include, exclude_none=True)
    return shipped


def _graph(name: Any, config: Mapping[str, Any] | None, settings: Settings) -> LoadedGraph:
    """The graph to run, checked; a graph that cannot run is a fatal error of the task."""
    if not name:
        raise FatalError("no graph_name")
    try:
        loaded = load_graph(str(name), settings)
        require_valid(loaded, settings, {str(k): str(v) for k, v in (config or {}).items()})
    except (InvalidInput, NotFound) as exc:  # unknown, refused (graphs.allowed_sources) or invalid
        raise FatalError(str(exc)) from exc
    return loaded


def _run_job(
    function: Callable[[Any, Any, Path | None], T], job: TileJob | SceneJob, settings: Settings, work_dir: Path
) -> T:
    """One Dask task per job on the cluster, or a call here (chunks then go to the LocalCluster)."""
    if not settings.processing.cluster_jobs:
        return function(job, settings, work_dir)
    from geocube_ingest.processing.cluster import get_client

    client = get_client(settings)
    future = client.submit(function, job, shipped_settings(settings), None, key=f"{job.label}-{uuid.uuid4().hex}")
    try:
        result: T = _wait(future)
    except (TaskError, shutdown.Stopped):
        raise
    except Exception as exc:  # the worker died more often than the scheduler allows, lost connection...
        error = classify_exception(exc, f"{job.label} on the cluster")
        log.warning("%s: %s", type(error).__name__, error, exc_info=exc)  # where it came from, not only what
        raise error from exc
    return result


def _wait(future: Future[Any]) -> Any:
    """The task's result; once a second, whether this process is asked to stop (the task is then
    cancelled: its lease is given back, and the job runs again elsewhere).

    No `result(timeout=)`: distributed bounds the wait for the task and the transfer of its
    result together, so a job finishing just before a timeout read as "timed out after 1 s."
    (a temporary error: the 60 s stalls of bench/scale_out.py), and a timeout racing the
    result's arrival ended in "UnboundLocalError: cannot access local variable 'result'"
    (a failed scene). Here only the wait for the task is bounded; the result of a finished
    task is then fetched without a bound. It is released at once: a finished job held by a
    worker that dies later would otherwise be run again by the scheduler for nothing.
    """
    finished = threading.Event()
    future.add_done_callback(lambda _: finished.set())
    try:
        while not finished.wait(1.0):
            if shutdown.requested():
                future.cancel()
                raise shutdown.Stopped() from None
        return future.result()
    finally:
        future.release()


def finish(outcome: JobResult, *, index: Index | None, settings: Settings) -> ProcessResult:
    """Index what a job stored and delete what its graph says; then its error, if any."""
    error = outcome.error
    try:
        result = publish_outputs(outcome.result, index=index, settings=settings)
    except Exception as exc:
        publish_error = classify_exception(exc, "outputs")
        if error is not None:
            raise type(error)(f"{error} (then, handling outputs: {publish_error})") from exc
        raise publish_error from exc
    if error is not None:
        raise error
    return result


def _linked_slot(other: Tile | None, tile: Tile, storage_uri: str, settings: Settings) -> SlotTile:
    """The previous/reference slot (the tile itself when none), read from its own root: one the operator allows."""
    if other is None:
        return SlotTile.from_tile(tile, storage_uri)
    own = storage.resolve_storage_uri(other.scene_data, settings=settings)
    return SlotTile.from_tile(other, own if other.scene_data.get("storage_uri") else storage_uri)


def process_tile(
    tile: Tile,
    previous: Tile | None,
    reference: Tile | None,
    *,
    work_dir: Path,
    storage_uri: str,
    index: Index | None,
    settings: Settings | None = None,
) -> ProcessResult:
    """Run the tile graph (`tile.data["graph_name"]`) on a tile, its previous and its reference.

    A missing previous/reference is the tile itself. `work_dir` holds the scratch folder when
    the job runs in this process. Raises TemporaryError, RetriableError or FatalError (after
    handling the outputs the graph keeps or deletes on failure).
    """
    settings = settings or get_settings()
    overrides = dict(tile.scene_data.get("graph_config") or {})
    job = TileJob(
        label=f"tile-{tile.id}",
        graph=_graph(tile.data.get("graph_name"), overrides, settings),
        overrides=overrides,
        slots=[
            SlotTile.from_tile(tile, storage_uri),
            _linked_slot(previous, tile, storage_uri, settings),
            _linked_slot(reference, tile, storage_uri, settings),
        ],
        index_required=index is not None,
    )
    result = finish(_run_job(run_tile_job, job, settings, Path(work_dir)), index=index, settings=settings)
    log.info("tile %s: %d outputs stored, %d indexed", tile.source_id, len(result.outputs), len(result.indexed))
    return result


def run_scene_graph(
    scene: Scene,
    tiles: list[Tile],
    product: Path,
    *,
    work_dir: Path,
    storage_uri: str,
    settings: Settings | None = None,
) -> dict[int, list[str]]:
    """Run the scene graph (`scene.data["graph_name"]`) once per tile on the downloaded product.

    The product is every product layer (`product`, `__product__`) of the graph; its
    `to_create` outputs are stored with `storage.tile_output_uri`. On the cluster, the product
    (as downloaded: an archive is unpacked on the worker) is first staged to storage below
    `<storage root>/.staging/`, and removed once the job ends. Returns tile id → stored URLs.
    """
    settings = settings or get_settings()
    overrides = dict(scene.data.get("graph_config") or {})
    graph = _graph(scene.data.get("graph_name"), overrides, settings)
    slots = [scene_slot(scene, tile, storage_uri) for tile in tiles]
    label = f"scene-{scene.id}"
    if not settings.processing.cluster_jobs:
        job = SceneJob(label, graph, overrides, str(product), slots)
        return _finish_scene(_run_job(run_scene_job, job, settings, Path(work_dir)), settings)
    if not Path(product).exists():
        raise RetriableError(f"product {product} is not there")
    staged_root = storage.join(storage_uri, STAGING, f"{label}-{uuid.uuid4().hex[:8]}")
    staged = storage.join(staged_root, Path(product).name)
    try:
        log.info("stage %s for the cluster at %s", Path(product).name, staged_root)
        storage.put_path(Path(product), staged, settings=settings)
        job = SceneJob(label, graph, overrides, staged, slots)
        return _finish_scene(_run_job(run_scene_job, job, settings, Path(work_dir)), settings)
    finally:
        try:
            storage.delete(staged_root, recursive=True, settings=settings)
        except Exception as exc:  # a leftover staged product costs space, never correctness
            log.warning("could not remove the staged product %s: %s", staged_root, exc)


def _finish_scene(results: list[tuple[int, JobResult]], settings: Settings) -> dict[int, list[str]]:
    stored: dict[int, list[str]] = {}
    for tile_id, outcome in results:
        stored[tile_id] = finish(outcome, index=None, settings=settings).outputs
    return stored
