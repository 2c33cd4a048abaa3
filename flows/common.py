"""What the flows share: settings overrides, the batch tasks, a Prefect `Runner`, artifacts."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from geocube_ingest.index import get_index
from geocube_ingest.index.follow import follow
from geocube_ingest.pipeline import BatchResult, DrainReport, download_batch, drain, owner_id, process_batch
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow import AOISummary, Workflow

ACTOR = "prefect"


def thread_runner(max_workers: int = 8) -> TaskRunner[Any]:
    """The flows' task runner: batches are I/O-bound or wait on Dask, so threads are enough."""
    runner: TaskRunner[Any] = ThreadPoolTaskRunner(max_workers=max_workers)
    return runner


def resolve_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """The process settings (environment, config file) with a flow run's overrides on top.

    Overrides are flow parameters, visible in the Prefect UI: never put secrets there.
    """
    return get_settings().with_overrides(overrides)


def services(overrides: dict[str, Any] | None) -> tuple[Settings, Workflow]:
    settings = resolve_settings(overrides)
    return settings, follow(Workflow(settings=settings).as_actor(ACTOR), settings)


@task(name="download-batch", task_run_name="download {aoi} #{n}", cache_policy=NO_CACHE, persist_result=False)
def download_batch_task(aoi: str | None, n: int, settings: dict[str, Any] | None = None) -> BatchResult:
    """Claim up to `pipeline.download_batch` due scenes and download them."""
    cfg, workflow = services(settings)
    return download_batch(workflow, cfg, owner_id(f"prefect-download-{n}"), aoi=aoi)


@task(name="process-batch", task_run_name="process {aoi} #{n}", cache_policy=NO_CACHE, persist_result=False)
def process_batch_task(aoi: str | None, n: int, settings: dict[str, Any] | None = None) -> BatchResult:
    """Claim up to `pipeline.tile_batch` ready tiles and run their graphs on the Dask cluster."""
    cfg, workflow = services(settings)
    return process_batch(workflow, cfg, owner_id(f"prefect-process-{n}"), index=get_index(cfg), aoi=aoi)


class PrefectRunner:
    """Runs the drain loop's batches as Prefect task runs (one per batch, never one per tile).

    Finished runs are noticed through `PrefectFuture.add_done_callback`, registered once per
    future, so the loop blocks until one finishes instead of polling their states.
    """

    def __init__(self, aoi: str | None, settings: dict[str, Any] | None):
        self.aoi = aoi
        self.settings = settings
        self._numbers = itertools.count(1)
        self._finished: set[PrefectFuture[BatchResult]] = set()
        self._changed = threading.Condition()

    def submit(self, kind: str) -> PrefectFuture[BatchResult]:
        task_ = download_batch_task if kind == "download" else process_batch_task
        future: PrefectFuture[BatchResult] = task_.submit(self.aoi, next(self._numbers), self.settings)
        future.add_done_callback(self._finish)
        return future

    def _finish(self, future: PrefectFuture[BatchResult]) -> None:
        with self._changed:
            self._finished.add(future)
            self._changed.notify_all()

    def wait(
        self, handles: Collection[PrefectFuture[BatchResult]], timeout: float
    ) -> Collection[PrefectFuture[BatchResult]]:
        wanted = set(handles)
        with self._changed:
            self._changed.wait_for(lambda: bool(self._finished & wanted), timeout)
            done = self._finished & wanted
            self._finished -= done
        return done

    def result(self, handle: PrefectFuture[BatchResult]) -> BatchResult:
        return handle.result()


def notice_logger() -> Callable[[str], None]:
    """Notices of the drain loop (why work waits, takeovers) in the flow run's log."""
    logger = get_run_logger()
    return lambda text: logger.info("%s", text)


def artifact_key(aoi: str, suffix: str = "") -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9-]+", "-", f"aoi-{aoi}".lower()).strip("-")
    return f"{key}-{suffix}" if suffix else key


def summary_markdown(summary: AOISummary, report: DrainReport | None = None) -> str:
    rows = [("scenes", summary.scenes), ("tiles", summary.tiles)]
    lines = [
        f"# AOI `{summary.aoi}`: {summary.status.value if summary.status else 'empty'}",
        "",
        "| | new | pending | done | retry | failed | total |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in rows:
        lines.append(f"| {name} | {c.new} | {c.pending} | {c.done} | {c.retry} | {c.failed} | {c.total} |")
    first = summary.first_date.date().isoformat() if summary.first_date else "-"
    last = summary.last_date.date().isoformat() if summary.last_date else "-"
    lines += ["", f"Root tiles: {summary.root_tiles}, acquisitions from {first} to {last}."]
    if report is not None and report.batches:
        done = ", ".join(f"{k}: {v}" for k, v in sorted(report.outcomes.items()))
        lines += ["", f"This run: {report.batches} batches ({done})."]
    return "\n".join(lines)


class ArtifactUpdater:
    """Keeps the AOI's summary and failure artifacts current while a flow runs (throttled)."""

    def __init__(self, aoi: str, every_seconds: float = 10.0):
        self.aoi = aoi
        self.every = every_seconds
        self._last = 0.0
        self._failures_written = 0

    def __call__(self, summary: AOISummary, report: DrainReport, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.every:
            return
        self._last = now
        create_markdown_artifact(
            key=artifact_key(self.aoi),
            markdown=summary_markdown(summary, report),
            description=f"Status of AOI {self.aoi}",
        )
        if report.failures and (final or len(report.failures) != self._failures_written):
            self._failures_written = len(report.failures)
            create_table_artifact(
                key=artifact_key(self.aoi, "failures"),
                table=[{"what": f.split(": ", 1)[0], "message": f.split(": ", 1)[-1]} for f in report.failures[-200:]],
                description=f"Problems met while ingesting {self.aoi} (latest 200)",
            )


def drain_aoi(
    workflow: Workflow, cfg: Settings, aoi: str, settings: dict[str, Any] | None, updater: ArtifactUpdater
) -> DrainReport:
    """The AOI's downloads and processing as task runs, until nothing more can happen; the
    summary artifact follows, and why work waits goes to the run's log."""
    return drain(
        workflow,
        cfg,
        aoi,
        runner=PrefectRunner(aoi, settings),
        on_progress=updater,
        progress_every=updater.every,
        on_notice=notice_logger(),
    )
