"""One ingestion from payload to indexed layers, in this process (the Python API's `ingest`).

    report = ingest(Payload.parse(path))    # catalogue → records → workflow → download → process → index
    print(report.text())

Resumable: the workflow database is the source of truth. Running the same payload again
(after a crash, a kill -9, or to pick up new acquisitions) recovers the leases of dead
local workers, re-posts nothing that exists, and finishes what is left; a finished
payload is a quick no-op that says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from geocube_ingest import storage
from geocube_ingest.catalogue import CatalogueScene, CatalogueTile, Progress
from geocube_ingest.index import Index, get_index
from geocube_ingest.index.follow import follow
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline.drain import DrainReport, ProgressCallback, Runner, ThreadRunner, drain
from geocube_ingest.pipeline.prepare import Prepared, prepare_ingestion
from geocube_ingest.pipeline.workers import download_batch, process_batch, recover
from geocube_ingest.progress import WorkflowProgress
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import AOISummary, Workflow
from geocube_ingest.workflow.owners import owner_id
from geocube_ingest.workflow.render import summary_text

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What a run did, and where its results are."""

    aoi: str
    prepared: Prepared
    summary: AOISummary
    drained: DrainReport
    stac_collection: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.summary.scenes.pending == self.summary.tiles.pending == 0 and not (
            self.summary.tiles.new and self.summary.scenes.done == self.summary.scenes.total
        )

    @property
    def done(self) -> bool:
        """The AOI is DONE: every scene and tile is DONE (or FAILED, leaving its chain)."""
        return self.summary.status == Status.DONE

    @property
    def was_noop(self) -> bool:
        return self.prepared.nothing_new and self.drained.batches == 0

    def text(self) -> str:
        lines = []
        if self.was_noop:
            lines.append(f"Nothing to do: AOI {self.aoi} is already ingested (no new scene, no pending work).")
        else:
            p = self.prepared
            lines.append(
                f"AOI {self.aoi}: {p.scenes_found} scenes found, {p.scenes_created} new with {p.tiles_created} tiles"
                f" ({p.scenes_existing} already there);"
                f" records: {p.records_created} created, {p.records_reused} reused."
            )
        lines.append(summary_text(self.summary).rstrip())
        if self.drained.failures:
            lines.append("Problems:")
            lines += [f"  {f}" for f in self.drained.failures[:20]]
            if len(self.drained.failures) > 20:
                lines.append(f"  ... and {len(self.drained.failures) - 20} more")
        if self.stac_collection:
            lines.append(f"STAC collection: {self.stac_collection}")
        if self.drained.stopped:
            lines.append("Stopped on request: work in progress was given back; run again to resume.")
        return "\n".join(lines)


def publish(index: Index, aoi: str, storage_uri: str | None, settings: Settings) -> str | None:
    """Write the AOI's STAC collection (embedded index only: a Geocube server has its own catalogue)."""
    from geocube_ingest.index.embedded import EmbeddedIndex
    from geocube_ingest.index.stac import publish_collection

    if not isinstance(index, EmbeddedIndex):
        return None
    return publish_collection(index, aoi, storage_uri=storage_uri, settings=settings).collection


def thread_runner(workflow: Workflow, index: Index, settings: Settings, aoi: str | None) -> ThreadRunner:
    """Download and processing batches on threads of this process."""
    return ThreadRunner(
        {
            "download": lambda: download_batch(workflow, settings, owner_id("download"), aoi=aoi),
            "processing": lambda: process_batch(workflow, settings, owner_id("process"), index=index, aoi=aoi),
        },
        max_workers=2 * settings.pipeline.max_parallel_batches,
    )


def run_workers(
    workflow: Workflow,
    index: Index,
    settings: Settings,
    aoi: str,
    *,
    runner: Runner | None = None,
    on_progress: ProgressCallback | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> DrainReport:
    """Download and process the AOI's due work until nothing more can happen (or the process stops)."""
    recover(workflow, settings, aoi)
    if runner is not None:
        return drain(workflow, settings, aoi, runner=runner, on_progress=on_progress, on_notice=on_notice)
    threads = thread_runner(workflow, index, settings, aoi)
    try:
        return drain(workflow, settings, aoi, runner=threads, on_progress=on_progress, on_notice=on_notice)
    finally:
        threads.close()


def ingest(
    payload: Payload | str | dict[str, object],
    *,
    scenes: Sequence[CatalogueScene] | None = None,
    tiles: Sequence[CatalogueTile] | None = None,
    settings: Settings | None = None,
    workflow: Workflow | None = None,
    index: Index | None = None,
    runner: Runner | None = None,
    on_progress: ProgressCallback | None = None,
    on_catalogue_progress: Progress | None = None,
    progress: bool = False,
) -> IngestReport:
    """Ingest a payload end to end: the main job of the product.

    `progress=True` draws download and processing bars (terminal or notebook).
    """
    payload = payload if isinstance(payload, Payload) else Payload.parse(payload)
    settings = settings or get_settings()
    index = index or get_index(settings)
    if workflow is None:  # a re-linked time series withdraws the layers of the tiles it re-does
        workflow = follow(Workflow(settings=settings).as_actor("pipeline"), settings, lambda: index)
    seconds: dict[str, float] = {}

    start = time.monotonic()
    recover(workflow, settings, payload.name if workflow.aoi_exists(payload.name) else None)
    prepared = prepare_ingestion(
        payload,
        workflow=workflow,
        index=index,
        settings=settings,
        scenes=scenes,
        tiles=tiles,
        progress=on_catalogue_progress,
    )
    seconds["catalogue"] = time.monotonic() - start

    start = time.monotonic()
    with WorkflowProgress(payload.name, settings) if progress else nullcontext():
        drained = run_workers(workflow, index, settings, payload.name, runner=runner, on_progress=on_progress)
    seconds["workers"] = time.monotonic() - start
    seconds.update({f"busy_{k}": v for k, v in drained.seconds.items()})

    collection = None
    publishing = settings.pipeline.publish_stac and not drained.stopped  # stopped: the next run publishes
    if publishing and (drained.batches or not prepared.nothing_new):
        start = time.monotonic()
        collection = publish(index, payload.name, payload.storage_uri or settings.resolved_storage_uri, settings)
        seconds["publish"] = time.monotonic() - start
    elif publishing:
        collection = _existing_collection(payload, settings)
    return IngestReport(payload.name, prepared, workflow.summary(payload.name), drained, collection, seconds)


def _existing_collection(payload: Payload, settings: Settings) -> str | None:
    from geocube_ingest.index.stac import collection_href

    url = collection_href(payload.name, payload.storage_uri, settings)
    return url if storage.exists(url, settings=settings) else None
