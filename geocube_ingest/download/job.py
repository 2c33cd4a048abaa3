"""The download job of one scene (SPEC section 6): providers in order, safe unpacking, scene graph.

The job never reports to the workflow: the worker that holds the scene's lease reports
the returned Outcome. It only adds history lines (`workflow.note`), so the provider that
failed before the one that succeeded stays visible in the scene's events.

Crash safety: a job works in `<work_dir>/download/scene-<id>/`, guarded by an exclusive
lock on `scene-<id>.lock`. A job killed half way leaves its folder behind; the next job
of that scene takes the lock (the dead process no longer holds it) and wipes the folder
before starting, so a partial file is never used. Products reach storage through the
atomic writes of geocube_ingest.storage, so storage never holds a partial product either.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geocube_ingest import shutdown
from geocube_ingest.access import NotAllowed, check_source_name
from geocube_ingest.download.archive import is_archive, unpack_archive
from geocube_ingest.download.limits import provider_slot
from geocube_ingest.download.providers import ProductRequest, ProviderResult, ResultKind, build_providers
from geocube_ingest.download.redact import Redactor
from geocube_ingest.errors import FatalError, RetriableError, TaskError, TemporaryError
from geocube_ingest.settings import Settings
from geocube_ingest.storage import resolve_storage_uri
from geocube_ingest.workflow import Outcome, Scene, Tile, Workflow

if TYPE_CHECKING:
    from geocube_ingest.download.providers import Progress

log = logging.getLogger(__name__)

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def scene_work_dir(settings: Settings, scene_id: int) -> Path:
    return settings.resolved_work_dir / "download" / f"scene-{scene_id}"


@contextmanager
def _exclusive(work_dir: Path) -> Iterator[None]:
    """Hold the scene's lock; a second live job of the same scene is a temporary error.

    The lock file is removed on release (no file per scene piles up); a job that opened
    the old file just before checks the inode after locking and starts over.
    """
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = work_dir.with_name(work_dir.name + ".lock")
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise TemporaryError("this scene is being downloaded by another process") from None
        held = os.fstat(fd)
        try:
            current = os.stat(lock_path)
        except FileNotFoundError:
            os.close(fd)
            continue
        if (held.st_dev, held.st_ino) != (current.st_dev, current.st_ino):
            os.close(fd)
            continue
        break
    try:
        yield
    finally:
        with suppress(FileNotFoundError):
            lock_path.unlink()
        os.close(fd)


def _reset(folder: Path) -> None:
    """Start from an empty folder: leftovers of a killed job are never reused."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def _secrets(settings: Settings) -> Redactor:
    redactor = Redactor()
    for config in settings.download.providers:
        for secret in (config.password, config.token):
            redactor.add(secret.get_secret_value() if secret is not None else None)
    for secret in (settings.s3.access_key_id, settings.s3.secret_access_key, settings.s3.session_token):
        redactor.add(secret.get_secret_value() if secret is not None else None)
    return redactor


def _note(workflow: Workflow, scene_id: int, message: str) -> None:
    try:
        workflow.note("scene", scene_id, message)
    except Exception as exc:  # the history is a help, never a reason to lose a download
        log.warning("could not add a history line to scene %d: %s", scene_id, exc)


def _combined_error(name: str, results: list[ProviderResult]) -> TaskError:
    """One error for the whole scene: temporary wins (try later), then fatal, then not found."""
    details = "; ".join(f"{r.provider}: {r.kind.value}: {r.message}" for r in results)
    if any(r.kind is ResultKind.TEMPORARY for r in results):
        waits = [r.error.retry_after for r in results if isinstance(r.error, TemporaryError) and r.error.retry_after]
        return TemporaryError(f"{name}: no provider could deliver it for now ({details})", max(waits, default=None))
    fatal = next((r for r in results if r.kind is ResultKind.FATAL), None)
    if fatal is not None:
        cls = type(fatal.error) if isinstance(fatal.error, FatalError | RetriableError) else FatalError
        return cls(f"{name}: download failed ({details})")
    return RetriableError(f"{name}: product not found or unavailable ({details})")


def fetch_product(
    workflow: Workflow,
    scene: Scene,
    work_dir: Path,
    settings: Settings,
    progress: Progress | None = None,
) -> tuple[Path, str]:
    """Try the providers in order; returns the product's local path and the provider's name."""
    request = ProductRequest.from_scene(scene)
    try:  # the name is input, and names the files and folders of every provider
        check_source_name(request.product_name)
    except NotAllowed as exc:
        raise FatalError(str(exc)) from None
    providers = build_providers(settings)
    results: list[ProviderResult] = []
    try:
        for provider in providers:
            destination = work_dir / "fetch" / (_UNSAFE_NAME.sub("_", provider.name) or "provider")
            _reset(destination)
            log.info("scene %d (%s): trying provider %s", scene.id, request.product_name, provider.name)
            limit = provider.config.max_concurrency
            with provider_slot(workflow, provider.name, limit, aoi=scene.aoi, purpose=f"scene {scene.id}"):
                result = provider.download(request, destination, _stoppable(progress))
            if result.kind is ResultKind.FOUND and result.path is not None:
                size = f" ({result.size} bytes)" if result.size is not None else ""
                _note(workflow, scene.id, f"downloaded by provider {provider.name}{size}")
                return result.path, provider.name
            results.append(result)
            _note(workflow, scene.id, f"download provider {provider.name}: {result.kind.value}: {result.message}")
            log.info("scene %d: provider %s: %s: %s", scene.id, provider.name, result.kind.value, result.message)
            shutil.rmtree(destination, ignore_errors=True)
    finally:
        for provider in providers:
            with suppress(Exception):
                provider.close()
    raise _combined_error(request.product_name, results)


def _stoppable(progress: Progress | None) -> Progress:
    """Progress that also ends the transfer, at its next chunk, when the process is asked to stop."""

    def report(done: int, total: int | None) -> None:
        shutdown.check()
        if progress is not None:
            progress(done, total)

    return report


def prepare_product(path: Path, work_dir: Path, settings: Settings) -> Path:
    """The product as the scene graph takes it: a folder (a `.SAFE`) or a plain file.

    Archives are unpacked safely under `work_dir`; when the archive holds one top folder
    (the usual `X.SAFE/`), that folder is the product. A downloaded archive is deleted once
    unpacked (disk space); one that lives elsewhere (a local provider) is never touched.
    """
    if path.is_dir() or not is_archive(path):
        return path
    stem = path.name
    for suffix in (".zip", ".tar.gz", ".tgz", ".tar"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    unpacked = work_dir / "unpacked" / (stem or "product")
    unpack_archive(
        path,
        unpacked,
        max_bytes=settings.download.max_unpacked_bytes,
        max_members=settings.download.max_archive_members,
        max_ratio=settings.security.max_compression_ratio,
    )
    if path.resolve().is_relative_to(work_dir.resolve()):
        path.unlink(missing_ok=True)
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def _scene_graph_runner() -> Callable[..., dict[int, list[str]]]:
    # Imported when a job runs: processing pulls in the raster stack, which listing providers never needs.
    try:
        runner: Callable[..., dict[int, list[str]]] = importlib.import_module(
            "geocube_ingest.processing"
        ).run_scene_graph
    except (ImportError, AttributeError) as exc:
        raise FatalError(f"the processing engine is not available: {exc}") from None
    return runner


def download_scene(
    workflow: Workflow,
    scene_id: int,
    *,
    settings: Settings | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Outcome:
    """Download one scene's product, run its scene graph once per tile, and say how it went.

    Returns Outcome.done() on success; on failure the Outcome of the error
    (TemporaryError → temporary; otherwise the scene's `is_retriable` decides RETRY vs
    FAILED, FatalError is always FAILED). The caller reports it with its lease.
    """
    settings = settings or workflow.settings
    scene = workflow.scene(scene_id)
    is_retriable = bool((scene.data or {}).get("is_retriable", False))
    work_dir = scene_work_dir(settings, scene_id)
    redactor = _secrets(settings)
    try:
        with _exclusive(work_dir):
            try:
                _reset(work_dir)
                outputs = _run(workflow, scene, work_dir, settings, progress)
            finally:
                if not settings.download.keep_work_dir:
                    shutil.rmtree(work_dir, ignore_errors=True)
    except TemporaryError as exc:
        outcome = Outcome.from_error(TemporaryError(redactor.clean(str(exc)), exc.retry_after), is_retriable)
    except TaskError as exc:
        outcome = Outcome.from_error(type(exc)(redactor.clean(str(exc))), is_retriable)
    except Exception as exc:
        message = redactor.clean(f"{type(exc).__name__}: {exc}")
        log.error("download of scene %d failed unexpectedly: %s", scene_id, message)
        outcome = Outcome.from_error(RetriableError(message), is_retriable)
    else:
        stored = sum(len(urls) for urls in outputs.values())
        log.info("scene %d (%s): done, %d files stored", scene_id, scene.source_id, stored)
        return Outcome.done()
    log.info("scene %d (%s): %s: %s", scene_id, scene.source_id, outcome.kind, outcome.message)
    return outcome


def _run(
    workflow: Workflow,
    scene: Scene,
    work_dir: Path,
    settings: Settings,
    progress: Progress | None,
) -> dict[int, list[str]]:
    tiles: list[Tile] = workflow.tiles(scene_id=scene.id)
    if not tiles:  # the workflow refuses tile-less scenes; never download for nothing all the same
        _note(workflow, scene.id, "no tile in this scene: nothing to download")
        return {}
    run_scene_graph = _scene_graph_runner()
    fetched, _provider = fetch_product(workflow, scene, work_dir, settings, progress)
    # On the cluster, the worker running the scene job unpacks it: staged as downloaded.
    product = fetched if settings.processing.cluster_jobs else prepare_product(fetched, work_dir, settings)
    graph_dir = work_dir / "graph"
    graph_dir.mkdir(parents=True, exist_ok=True)
    result: Any = run_scene_graph(
        scene,
        tiles,
        product,
        work_dir=graph_dir,
        storage_uri=resolve_storage_uri(scene.data or {}, settings=settings),
        settings=settings,
    )
    return dict(result or {})
