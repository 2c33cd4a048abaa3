"""The processing jobs as they run, wherever they run: what a Dask worker executes.

One job is one tile (the tile graph) or one scene (its scene graph, once per tile). A job
gets everything as plain data (`TileJob`, `SceneJob`: slots, the resolved graph, its
config, the staged product's URL) and its settings without secrets (`run_*_job` on a
worker reads storage credentials from the worker's own environment). It makes its scratch
folder on the machine that runs it, imports its inputs from storage URLs, runs the steps
(chunked steps compute with the threads of that machine: `job_settings`), stores the
outputs atomically, and returns a `JobResult`: stored URLs, what to index, what to delete,
the classified error. It never touches the workflow database nor the index: the
orchestrating process does, with the result (`processing.submit`).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from geocube_ingest import storage
from geocube_ingest.errors import FatalError, NotFound, RetriableError, TaskError, TemporaryError
from geocube_ingest.processing import conditions
from geocube_ingest.processing.cog import DeferredCog
from geocube_ingest.processing.errors import classify_exception
from geocube_ingest.processing.graph import InArg, LoadedGraph, companion_extension, is_product
from geocube_ingest.processing.outputs import ProcessResult, store_outputs
from geocube_ingest.processing.runner import run_steps, select_outputs
from geocube_ingest.processing.workspace import SlotTile, Workspace
from geocube_ingest.settings import Settings, get_settings

log = logging.getLogger(__name__)

__all__ = ["JobResult", "SceneJob", "TileJob", "run_scene_job", "run_tile_job"]

T = TypeVar("T")
_ERRORS: dict[str, type[TaskError]] = {cls.__name__: cls for cls in (TemporaryError, RetriableError, FatalError)}


@dataclass(frozen=True)
class TileJob:
    """A tile graph run: the tile, its previous and its reference as slots (storage URLs inside)."""

    label: str
    graph: LoadedGraph
    overrides: Mapping[str, Any]
    slots: list[SlotTile]
    index_required: bool


@dataclass(frozen=True)
class SceneJob:
    """A scene graph run on every tile of a scene; `product` is a storage URL (or a local path
    when the job runs in the process that downloaded it)."""

    label: str
    graph: LoadedGraph
    overrides: Mapping[str, Any]
    product: str
    slots: list[SlotTile]


@dataclass
class JobResult:
    """What a job did: stored outputs, what to index and delete, and the error (plain data:
    it travels back from a worker)."""

    result: ProcessResult = field(default_factory=ProcessResult)
    error_class: str | None = None
    error_message: str = ""
    retry_after: float | None = None

    @classmethod
    def failed(cls, error: TaskError, result: ProcessResult | None = None) -> JobResult:
        retry_after = error.retry_after if isinstance(error, TemporaryError) else None
        return cls(result or ProcessResult(), type(error).__name__, str(error), retry_after)

    @property
    def error(self) -> TaskError | None:
        if self.error_class is None:
            return None
        cls = _ERRORS.get(self.error_class, RetriableError)
        if cls is TemporaryError:
            return TemporaryError(self.error_message, self.retry_after)
        return cls(self.error_message)


@lru_cache(maxsize=8)
def _merged(shipped: str) -> Settings:
    return get_settings().with_overrides(json.loads(shipped))


def _worker_threads() -> int | None:
    """The thread count of the Dask worker running this task, None outside a worker task."""
    from distributed import get_worker

    try:
        return int(get_worker().state.nthreads)
    except ValueError:
        return None


def job_settings(settings: Settings | Mapping[str, Any]) -> Settings:
    """The settings a job runs with: given as is in-process; on a worker, the worker's own
    (storage credentials, scratch folder) under what the orchestrator shipped, and a cluster
    of this worker's threads to compute chunks on: the job's files are in its scratch folder,
    which no other worker sees."""
    if isinstance(settings, Settings):
        return settings
    shipped = dict(settings)
    threads = _worker_threads()
    if threads is not None:
        local = {"dask_scheduler": None, "jobs_on_cluster": False, "processes": False, "n_workers": 1,
                 "threads_per_worker": threads, "adapt_minimum": None, "adapt_maximum": None}  # fmt: skip
        shipped["processing"] = {**shipped.get("processing", {}), **local}
    return _merged(json.dumps(shipped, sort_keys=True))


def _outside_task(function: Callable[..., T], *args: Any) -> T:
    """Run `function` in a thread of its own when called in a Dask worker task.

    Code that finds itself in a worker task computes through the worker's client, on the
    whole cluster (`cog.cluster_client`); outside it, it uses the settings' cluster, which
    `job_settings` made this worker's threads. The new thread does not inherit the task's
    context, so the job's chunks stay on the machine that has its files.
    """
    if _worker_threads() is None:
        return function(*args)
    with ThreadPoolExecutor(1, thread_name_prefix="geocube-job") as pool:
        return pool.submit(function, *args).result()


def scratch_root(settings: Settings) -> Path:
    """Where jobs sent to this machine make their scratch folders (read where the job runs)."""
    return settings.processing.scratch_dir or Path(tempfile.gettempdir()) / "geocube-ingest"


@contextmanager
def _scratch(work_dir: Path | None, label: str, settings: Settings) -> Iterator[Path]:
    root = Path(work_dir or scratch_root(settings)) / f"{label}-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True, exist_ok=True)
    try:
        yield root
    finally:
        if not settings.processing.keep_work_dir:
            shutil.rmtree(root, ignore_errors=True)


def _import_inputs(loaded: LoadedGraph, workspace: Workspace, settings: Settings) -> None:
    """Bring the `in_files` of each slot whose condition holds into the scratch folder, once each."""
    imported: dict[Path, Path] = {}
    for slot, files in enumerate(loaded.graph.in_files):
        for infile in files:
            if not conditions.tile_condition(infile.condition, workspace.slots):
                continue
            if workspace.is_registered(slot, infile.layer, infile.extension):
                continue
            wanted = workspace.path(slot, infile.layer, infile.extension)
            if wanted in imported:
                workspace.register(slot, infile.layer, infile.extension, imported[wanted])
                continue
            tile = workspace.slots[slot]
            url = tile.uri(infile.layer, infile.extension)
            log.info("import %s", url)
            try:
                local = storage.get_path(url, workspace.root, settings=settings)
            except (FileNotFoundError, NotFound):
                raise RetriableError(
                    f"input {infile.layer}.{infile.extension} of slot {slot} ({tile.tile_source_id}) not found at {url}"
                ) from None
            except TaskError:
                raise
            except Exception as exc:
                raise classify_exception(exc, f"import {url}") from exc
            imported[wanted] = Path(local)
            workspace.register(slot, infile.layer, infile.extension, Path(local))
            _import_companion(url, infile.extension, workspace.root, settings)


def _import_companion(url: str, extension: str, local_dir: Path, settings: Settings) -> None:
    """`X.data` with `X.dim`, when it was stored (a DIMAP header without its folder is unreadable)."""
    companion = companion_extension(extension)
    if companion is None:
        return
    companion_url = url.removesuffix(f".{extension}") + f".{companion}"
    try:
        storage.get_path(companion_url, local_dir, settings=settings)
    except (FileNotFoundError, NotFound):
        log.warning("%s has no %s folder stored next to it", url, companion)


def deferred_outputs(loaded: LoadedGraph, workspace: Workspace) -> dict[Path, DeferredCog]:
    """The outputs a step writes straight to their final URL: GeoTIFFs the graph keeps
    (`to_create`, `to_index`) and that no step reads. They appear there only when the job
    stores its outputs (`store_outputs` commits them), so a failed job replaces nothing."""
    read = {
        workspace.key(arg.tile_index, arg.layer, arg.extension)
        for step in loaded.graph.processing_steps
        for arg in step.args.values()
        if isinstance(arg, InArg)
    }
    deferred: dict[Path, DeferredCog] = {}
    for out in loaded.graph.out_files[0] if loaded.graph.out_files else []:
        kept = out.action in ("to_create", "to_index") and out.extension.lower() in ("tif", "tiff")
        if not kept or is_product(out.layer) or workspace.key(0, out.layer, out.extension) in read:
            continue
        url = workspace.slots[0].uri(out.layer, out.extension)
        if storage.holds_pending(url):
            deferred[workspace.path(0, out.layer, out.extension)] = DeferredCog(url)
    return deferred


@contextmanager
def _deferring(loaded: LoadedGraph, workspace: Workspace) -> Iterator[None]:
    """Give `workspace` its deferred outputs for the run; those not committed at the end
    (not selected, a failure) are dropped: their uploads cancelled, their files removed."""
    workspace.deferred = deferred_outputs(loaded, workspace)
    try:
        yield
    finally:
        for output in workspace.deferred.values():
            if output.pending is not None:
                output.pending.discard()
        workspace.deferred = {}


def _run(
    loaded: LoadedGraph,
    overrides: Mapping[str, Any],
    workspace: Workspace,
    index_required: bool,
    settings: Settings,
) -> JobResult:
    """Inputs, steps, then outputs (also after a failure: on_failure outputs), then the error if any."""
    with _deferring(loaded, workspace):
        return _run_deferring(loaded, overrides, workspace, index_required, settings)


def _run_deferring(
    loaded: LoadedGraph, overrides: Mapping[str, Any], workspace: Workspace, index_required: bool, settings: Settings
) -> JobResult:
    config = loaded.graph.resolved_config(overrides, workspace.root)
    try:
        _import_inputs(loaded, workspace, settings)
    except TaskError as exc:
        return JobResult.failed(exc)
    error = run_steps(loaded, config, workspace, settings)
    selected = select_outputs(loaded, workspace, error)
    try:
        result = store_outputs(selected, workspace, config, index_required=index_required, settings=settings)
    except Exception as exc:
        store_error = classify_exception(exc, "outputs")
        if error is not None:
            return JobResult.failed(type(error)(f"{error} (then, handling outputs: {store_error})"))
        return JobResult.failed(store_error)
    return JobResult(result) if error is None else JobResult.failed(error, result)


def run_tile_job(job: TileJob, settings: Settings | Mapping[str, Any], work_dir: Path | None = None) -> JobResult:
    """Run a tile graph here (a Dask worker, or the orchestrating process with a LocalCluster)."""
    return _outside_task(_tile_job, job, job_settings(settings), work_dir)


def _tile_job(job: TileJob, settings: Settings, work_dir: Path | None) -> JobResult:
    with _scratch(work_dir, job.label, settings) as root:
        workspace = Workspace(root, list(job.slots))
        outcome = _run(job.graph, job.overrides, workspace, job.index_required, settings)
    log.info("%s: %d outputs stored (%s)", job.label, len(outcome.result.outputs), outcome.error_class or "ok")
    return outcome


def run_scene_job(
    job: SceneJob, settings: Settings | Mapping[str, Any], work_dir: Path | None = None
) -> list[tuple[int, JobResult]]:
    """Run a scene graph once per tile here, on the product brought from storage; stops at the
    first tile that fails (its result carries the error)."""
    return _outside_task(_scene_job, job, job_settings(settings), work_dir)


def _scene_job(job: SceneJob, settings: Settings, work_dir: Path | None) -> list[tuple[int, JobResult]]:
    from geocube_ingest.download.job import prepare_product  # download imports processing lazily

    results: list[tuple[int, JobResult]] = []
    with _scratch(work_dir, job.label, settings) as root:
        try:
            if storage.protocol_of(job.product) == "file" and Path(job.product).exists():
                fetched = Path(job.product)
            else:
                fetched = storage.get_path(job.product, root / "product", settings=settings)
            product = prepare_product(fetched, root / "product", settings)
        except (FileNotFoundError, NotFound):
            return [(-1, JobResult.failed(RetriableError(f"product {job.product} is not there")))]
        except Exception as exc:
            return [(-1, JobResult.failed(classify_exception(exc, f"product {job.product}")))]
        for slot in job.slots:
            tile_root = root / f"tile-{slot.tile_id}"
            tile_root.mkdir()
            workspace = Workspace(tile_root, [slot, slot, slot], product=product)
            outcome = _run(job.graph, job.overrides, workspace, False, settings)
            results.append((slot.tile_id or 0, outcome))
            if outcome.error_class is not None:
                break
    return results
