"""Batches of work for download and processing workers, wherever they run.

A batch claims up to N due tasks with leases, keeps the leases alive while it works
(a heartbeat thread), and reports every outcome in one transaction. The workflow database
decides what is due and records what happened; nothing here keeps state between batches,
so batches can run in threads, Prefect tasks, or processes on other machines.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from geocube_ingest import shutdown, storage
from geocube_ingest.errors import FatalError, GeocubeIngestError, TaskError
from geocube_ingest.index import Index
from geocube_ingest.index.base import processing_date_tag
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Lease, Outcome, Workflow
from geocube_ingest.workflow.owners import Owner, dead_local_owners, is_mine, pid_alive, process_prefix

log = logging.getLogger(__name__)


def recover(workflow: Workflow, settings: Settings, aoi: str | None = None) -> int:
    """Hand out again at once the tasks of dead local workers, and drop their scratch folders.

    Without this a killed run's leases would block its tasks until they expire.
    """
    dead = dead_local_owners(workflow.lease_owners(aoi))
    released = workflow.release_leases(dead) if dead else 0
    if released:
        log.info("released %d leases of dead workers %s", released, ", ".join(dead))
    for prefix in {Owner.parse(owner).prefix for owner in dead}:
        workflow.slots.release_owned(prefix)
    root = settings.resolved_work_dir / "processing"
    if root.is_dir():
        for folder in root.iterdir():
            host, _, pid = folder.name.rpartition("-")  # host names may hold dashes
            mine = host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid()
            if mine and not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
    return released


def give_back_mine(workflow: Workflow) -> int:
    """Give back every lease and provider slot of this process (it stops): their tasks are
    claimable at once, and a late result of a job still running here is ignored."""
    mine = [owner for owner in workflow.lease_owners() if is_mine(owner)]
    released = workflow.release_leases(mine)
    slots = workflow.slots.release_owned(process_prefix())
    if released or slots:
        log.warning("gave back %d leases and %d provider slots of this process", released, slots)
    return released


@contextmanager
def heartbeat(workflow: Workflow, leases: Sequence[Lease], seconds: float) -> Iterator[None]:
    """Extend `leases` every third of their duration while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(seconds / 3):
            try:
                alive = workflow.heartbeat(leases, seconds)
            except Exception as exc:  # a missed beat only shortens the lease
                log.warning("heartbeat failed: %s", exc)
                continue
            lost = [lease.id for lease, kept in zip(leases, alive, strict=True) if kept is None]
            if lost and not shutdown.requested():
                log.warning("leases lost (re-dispatched by an operator?): %s %s", leases[0].kind, lost)

    thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


@dataclass
class BatchResult:
    kind: str
    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    # Worth saying, not problems: leases taken over from workers whose lease had expired.
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.claimed > 0


def _takeover_note(lease: Lease) -> str:
    holder = Owner.parse(lease.taken_over_from or "")
    return (
        f"{lease.kind} {lease.id} ({lease.source_id}): taken over from {lease.taken_over_from} "
        f"({holder.where()}), whose lease had expired"
    )


def _run_batch(
    workflow: Workflow,
    leases: list[Lease],
    job: Callable[[Lease], Outcome],
    concurrency: int,
    lease_seconds: float,
) -> BatchResult:
    """Run `job` on each lease (threads), report the outcomes together.

    Once the process is asked to stop, jobs not started yet are skipped and jobs that stop
    half way (`Stopped`) report nothing: their tasks are given back at once.
    """
    result = BatchResult(leases[0].kind if leases else "", claimed=len(leases))
    if not leases:
        return result
    result.notes = [_takeover_note(lease) for lease in leases if lease.taken_over_from]
    for note in result.notes:
        log.info(note)
    stop = shutdown.event()

    def run(lease: Lease) -> Outcome | None:
        if stop.is_set():
            return None
        try:
            return job(lease)
        except shutdown.Stopped:
            return None

    with heartbeat(workflow, leases, lease_seconds), ThreadPoolExecutor(min(concurrency, len(leases))) as pool:
        outcomes = list(pool.map(run, leases))
    finished = [(lease, outcome) for lease, outcome in zip(leases, outcomes, strict=True) if outcome is not None]
    stopped = [lease for lease, outcome in zip(leases, outcomes, strict=True) if outcome is None]
    accepted = workflow.report_many(finished)
    for (lease, outcome), ok in zip(finished, accepted, strict=True):
        result.outcomes[outcome.kind if ok else "IGNORED"] += 1
        if outcome.kind != "DONE" and ok:
            result.messages.append(f"{lease.kind} {lease.source_id}: {outcome.kind}: {outcome.message}")
    if stopped:
        workflow.give_back(stopped)
        result.outcomes["STOPPED"] += len(stopped)
    return result


def download_batch(
    workflow: Workflow,
    settings: Settings,
    owner: str,
    *,
    aoi: str | None = None,
    limit: int | None = None,
) -> BatchResult:
    """Claim due downloads (PENDING scenes) and run them on threads (per-provider limits apply)."""
    from geocube_ingest.download import download_scene

    lease_seconds = settings.workflow.lease_seconds
    leases = workflow.claim("scene", owner, limit=limit or settings.pipeline.download_batch, aoi=aoi)

    def job(lease: Lease) -> Outcome:
        try:
            return download_scene(workflow, lease.id, settings=settings)
        except Exception as exc:  # download_scene classifies its own errors: this is a bug guard
            log.exception("download of scene %d crashed", lease.id)
            return Outcome.retry(f"{type(exc).__name__}: {exc}")

    return _run_batch(workflow, leases, job, settings.pipeline.download_concurrency, lease_seconds)


def processing_dir(settings: Settings) -> Path:
    """This process's scratch folder (`recover` removes those of dead processes)."""
    folder = settings.resolved_work_dir / "processing" / f"{socket.gethostname()}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def process_one(workflow: Workflow, lease: Lease, index: Index | None, settings: Settings) -> Outcome:
    """Run the tile graph of a leased tile and say how it went (the caller reports it)."""
    from geocube_ingest.processing import process_tile
    from geocube_ingest.processing.errors import classify_exception

    tile = workflow.tile(lease.id)
    is_retriable = bool(tile.data.get("is_retriable", tile.scene_data.get("is_retriable", False)))
    try:
        previous = workflow.tile(tile.previous_id) if tile.previous_id is not None else None
        reference = workflow.tile(tile.reference_id) if tile.reference_id is not None else None
        result = process_tile(
            tile,
            previous,
            reference,
            work_dir=processing_dir(settings),
            storage_uri=storage.resolve_storage_uri(tile.scene_data, settings=settings),
            index=index,
            settings=settings,
        )
    except TaskError as exc:
        return Outcome.from_error(exc, is_retriable)
    except GeocubeIngestError as exc:
        return Outcome.from_error(FatalError(str(exc)), is_retriable)
    except Exception as exc:
        return Outcome.from_error(classify_exception(exc), is_retriable)
    record_id = tile.scene_data.get("record_id")
    if result.indexed and record_id and index is not None:
        with suppress(Exception):  # upstream's processingDate tag is informative only
            index.add_records_tags([record_id], processing_date_tag())
    stored, indexed = len(result.outputs), len(result.indexed)
    return Outcome.done(f"{stored} file{'s' * (stored != 1)} stored, {indexed} indexed")


def process_batch(
    workflow: Workflow,
    settings: Settings,
    owner: str,
    *,
    index: Index | None,
    aoi: str | None = None,
    limit: int | None = None,
) -> BatchResult:
    """Claim ready tiles and run their graphs (raster work goes to the Dask cluster)."""
    leases = workflow.claim("tile", owner, limit=limit or settings.pipeline.tile_batch, aoi=aoi)
    return _run_batch(
        workflow,
        leases,
        lambda lease: process_one(workflow, lease, index, settings),
        settings.pipeline.tile_concurrency,
        settings.workflow.lease_seconds,
    )
