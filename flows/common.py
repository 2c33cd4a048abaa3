"""What the flows share: settings overrides, the batch tasks, a Prefect `Runner`, artifacts."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
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


def tag_flow_run(*new: str) -> None:
    """Add tags to the flow run itself (`tags()` inside a flow reaches only its task runs), so
    the runs of an AOI can be found in the UI (`aoi:<name>`) however they were started."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    wanted = set(flow_run.get_tags()) | set(new)
    if run_id is None or wanted == set(flow_run.get_tags()):
        return
    with get_client(sync_client=True) as client:
        client.update_flow_run(UUID(run_id), tags=sorted(wanted))


def _batch_name(kind: str) -> Callable[[], str]:
    """'download LongmontDemoS2 #3' in an ingestion; 'download batch #3' for a worker of every AOI."""

    def name() -> str:
        from prefect.runtime import task_run

        aoi = task_run.parameters.get("aoi")
        return f"{kind} {aoi or 'batch'} #{task_run.parameters.get('n')}"

    return name


@task(name="download-batch", task_run_name=_batch_name("download"), cache_policy=NO_CACHE, persist_result=False)
def download_batch_task(aoi: str | None, n: int, settings: dict[str, Any] | None = None) -> BatchResult:
    """Claim up to `pipeline.download_batch` due scenes and download them."""
    cfg, workflow = services(settings)
    result = download_batch(workflow, cfg, owner_id(f"prefect-download-{n}"), aoi=aoi)
    _say(result, "downloaded", "scenes")
    return result


@task(name="process-batch", task_run_name=_batch_name("process"), cache_policy=NO_CACHE, persist_result=False)
def process_batch_task(aoi: str | None, n: int, settings: dict[str, Any] | None = None) -> BatchResult:
    """Claim up to `pipeline.tile_batch` ready tiles and run their graphs on the Dask cluster."""
    cfg, workflow = services(settings)
    result = process_batch(workflow, cfg, owner_id(f"prefect-process-{n}"), index=get_index(cfg), aoi=aoi)
    _say(result, "processed", "tiles")
    return result


def _say(result: BatchResult, verb: str, what: str) -> None:
    if result.claimed:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items()))
        get_run_logger().info("%s %d %s: %s", verb, result.claimed, what, outcomes)
    for line in result.messages[:20]:
        get_run_logger().warning("%s", line)


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
        # Outcomes of this run's finished batches by kind ("scene", "tile"): what was
        # downloaded and what was processed.
        self.outcomes: dict[str, Counter[str]] = {"scene": Counter(), "tile": Counter()}

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
        result = handle.result()
        self.outcomes.setdefault(result.kind, Counter()).update(result.outcomes)
        return result


def notice_logger() -> Callable[[str], None]:
    """Notices of the drain loop (why work waits, takeovers) in the flow run's log."""
    logger = get_run_logger()
    return lambda text: logger.info("%s", text)


def artifact_key(aoi: str, suffix: str = "") -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9-]+", "-", f"aoi-{aoi}".lower()).strip("-")
    return f"{key}-{suffix}" if suffix else key


def run_line(report: DrainReport, outcomes: dict[str, Counter[str]]) -> str:
    """'This run: 9 scenes downloaded, 9 tiles processed (18 batches).' and what else happened."""
    scenes, tiles = outcomes.get("scene", Counter()), outcomes.get("tile", Counter())
    text = f"This run: {scenes['DONE']} scenes downloaded, {tiles['DONE']} tiles processed ({report.batches} batches)"
    others = [
        f"{what}: " + ", ".join(f"{v} {k}" for k, v in sorted(c.items()) if k != "DONE")
        for what, c in (("scenes", scenes), ("tiles", tiles))
        if set(c) - {"DONE"}
    ]
    return text + (f"; {'; '.join(others)}." if others else ".")


def summary_markdown(
    summary: AOISummary, report: DrainReport | None = None, outcomes: dict[str, Counter[str]] | None = None
) -> str:
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
        lines += ["", run_line(report, outcomes or {})]
    return "\n".join(lines)


class ArtifactUpdater:
    """Keeps the AOI's artifacts current while a flow runs: download and processing progress
    (Prefect progress artifacts, updated as batches finish), the summary and the failures
    (throttled to one version every `every_seconds`)."""

    def __init__(self, aoi: str, every_seconds: float = 10.0, runner: PrefectRunner | None = None):
        self.aoi = aoi
        self.every = every_seconds
        self.runner = runner
        self._last = 0.0
        self._failures_written = 0
        self._progress: dict[str, tuple[UUID, float]] = {}

    def progress(self, summary: AOISummary) -> None:
        """Downloads: scenes DONE or FAILED of all; processing: tiles DONE or FAILED of all."""
        kinds = (
            ("downloads", summary.scenes, "scenes", "downloaded"),
            ("processing", summary.tiles, "tiles", "processed"),
        )
        for what, counts, unit, verb in kinds:
            finished = counts.done + counts.failed
            percent = round(100.0 * finished / counts.total, 1) if counts.total else 100.0
            text = f"{counts.done} of {counts.total} {unit} {verb} ({counts.failed} failed, {counts.retry} to retry)"
            known = self._progress.get(what)
            if known is None:
                created = create_progress_artifact(percent, key=artifact_key(self.aoi, what), description=text)
                assert isinstance(created, UUID)  # called from sync code: not a coroutine
                self._progress[what] = (created, percent)
            elif known[1] != percent:
                update_progress_artifact(known[0], percent, description=text)
                self._progress[what] = (known[0], percent)

    def __call__(self, summary: AOISummary, report: DrainReport, final: bool = False) -> None:
        self.progress(summary)
        now = time.monotonic()
        if not final and now - self._last < self.every:
            return
        self._last = now
        create_markdown_artifact(
            key=artifact_key(self.aoi),
            markdown=summary_markdown(summary, report, self.runner.outcomes if self.runner else None),
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
    updater.runner = updater.runner or PrefectRunner(aoi, settings)
    return drain(
        workflow,
        cfg,
        aoi,
        runner=updater.runner,
        on_progress=updater,
        progress_every=updater.every,
        on_notice=notice_logger(),
    )
