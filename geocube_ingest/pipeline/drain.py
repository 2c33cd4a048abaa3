"""Run an AOI's downloads and processing until nothing more can happen without an operator.

The loop only decides how many batches to start: the workflow database says what is due
(`Workflow.work_status`) and the batches claim it. The batches run on a `Runner`: threads
here, Prefect tasks in `flows/`, so both paths share this loop. At most
`max_parallel_batches` batches per pool are in flight, which is what keeps a 10,000-tile
AOI from becoming 10,000 task runs at once.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from geocube_ingest.pipeline.workers import BatchResult
from geocube_ingest.settings import PipelineSettings, Settings
from geocube_ingest.workflow import AOISummary, Workflow

log = logging.getLogger(__name__)

Batch = Callable[[], BatchResult]
Kind = Literal["download", "processing"]


class Runner(Protocol):
    """Where batches run. `submit(kind)` starts one batch of that kind (it claims its own work)
    and returns a handle that `done`/`result` understand."""

    def submit(self, kind: Kind) -> Any: ...

    def done(self, handle: Any) -> bool: ...

    def result(self, handle: Any) -> BatchResult: ...


class ThreadRunner:
    """Batches on threads of this process (the in-process default)."""

    def __init__(self, batches: dict[Kind, Batch], max_workers: int):
        self._batches = batches
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="geocube-batch")

    def submit(self, kind: Kind) -> Future[BatchResult]:
        return self._pool.submit(self._batches[kind])

    def done(self, handle: Future[BatchResult]) -> bool:
        return handle.done()

    def result(self, handle: Future[BatchResult]) -> BatchResult:
        return handle.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


@dataclass
class DrainReport:
    batches: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"download": 0.0, "processing": 0.0})


ProgressCallback = Callable[[AOISummary, DrainReport], None]


def drain(
    workflow: Workflow,
    settings: Settings,
    aoi: str,
    *,
    runner: Runner,
    on_progress: ProgressCallback | None = None,
    progress_every: float = 1.0,
) -> DrainReport:
    """Start batches while work is due; return when the AOI needs nothing more from us."""
    pipeline = settings.pipeline
    report = DrainReport()
    in_flight: dict[Any, tuple[str, float]] = {}
    last_progress = 0.0
    while True:
        status = workflow.work_status(aoi)
        started = _start(runner, in_flight, "download", status.claimable_scenes, pipeline.download_batch, pipeline)
        started += _start(runner, in_flight, "processing", status.claimable_tiles, pipeline.tile_batch, pipeline)
        finished = _collect(runner, in_flight, report)
        now = time.monotonic()
        if on_progress is not None and (finished or now - last_progress >= progress_every):
            on_progress(workflow.summary(aoi), report)
            last_progress = now
        if in_flight or started or finished:
            time.sleep(0.05 if in_flight else 0)
            continue
        if status.leased or status.delayed:
            # Others hold leases, or work was given back after a temporary error: wait for it.
            time.sleep(pipeline.poll_seconds)
            continue
        break
    if on_progress is not None:
        on_progress(workflow.summary(aoi), report)
    return report


def _start(
    runner: Runner,
    in_flight: dict[Any, tuple[str, float]],
    kind: Kind,
    claimable: int,
    batch_size: int,
    pipeline: PipelineSettings,
) -> int:
    running = sum(1 for k, _ in in_flight.values() if k == kind)
    # A batch just submitted may not have claimed yet: count it against the claimable work,
    # or slow task start-ups (Prefect) would make the loop start empty batches.
    wanted = max(min(pipeline.max_parallel_batches, math.ceil(claimable / batch_size)) - running, 0)
    for _ in range(wanted):
        in_flight[runner.submit(kind)] = (kind, time.monotonic())
    return wanted


def _collect(runner: Runner, in_flight: dict[Any, tuple[str, float]], report: DrainReport) -> int:
    finished = [h for h in in_flight if runner.done(h)]
    for handle in finished:
        kind, started = in_flight.pop(handle)
        try:
            result = runner.result(handle)
        except Exception as exc:  # e.g. the database went away: its leases expire and are handed out again
            log.error("%s batch failed: %s", kind, exc)
            report.failures.append(f"{kind} batch failed: {exc}")
            continue
        report.seconds[kind] += time.monotonic() - started
        if result.claimed:
            report.batches += 1
        report.outcomes.update(result.outcomes)
        report.failures += result.messages
    return len(finished)
