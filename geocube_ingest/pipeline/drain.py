"""Start download and processing batches while work is due: the one loop every driver shares.

`ingest` (Python, CLI `--no-prefect`), the API's in-process runs, the Prefect flows
(ingest-aoi, retry-aoi, download-worker, process-worker) and `geocube-ingest worker` all
call `drain`; only the `Runner` differs (threads here, Prefect task runs in `flows/`).

The loop only decides how many batches to start: the workflow database says what is due
(`Workflow.work_status`) and the batches claim it. It blocks on its batches' futures and
looks at the database when a batch finishes, or at most once every `pipeline.poll_seconds`
while a pool could take another batch, so it costs next to nothing while batches run. At
most `max_parallel_batches` batches per pool are in flight, which keeps a 10,000-tile AOI
from becoming 10,000 task runs at once.

When the process is asked to stop (`geocube_ingest.shutdown`: SIGTERM, SIGINT, a server
shutting down), the loop starts nothing more, gives its batches `pipeline.stop_grace_seconds`
to stop (they skip jobs not started and interrupt downloads), then gives back every lease
and provider slot of the process, and returns a report that says so.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from geocube_ingest import shutdown
from geocube_ingest.pipeline.workers import BatchResult, give_back_mine
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import AOISummary, Workflow, WorkStatus
from geocube_ingest.workflow.models import Kind as TaskKind
from geocube_ingest.workflow.waiting import lease_reasons

log = logging.getLogger(__name__)

Batch = Callable[[], BatchResult]
Kind = Literal["download", "processing"]
POOLS: tuple[Kind, ...] = ("download", "processing")
TASKS: dict[Kind, TaskKind] = {"download": "scene", "processing": "tile"}


class Runner(Protocol):
    """Where batches run. `submit(kind)` starts one batch of that kind (it claims its own work)
    and returns a handle; `wait` blocks until one of the handles is finished (or `timeout`
    seconds have passed) and returns the finished ones; `result` gives a finished batch's result."""

    def submit(self, kind: Kind) -> Any: ...

    def wait(self, handles: Collection[Any], timeout: float) -> Collection[Any]: ...

    def result(self, handle: Any) -> BatchResult: ...


class ThreadRunner:
    """Batches on threads of this process (the in-process default)."""

    def __init__(self, batches: dict[Kind, Batch], max_workers: int):
        self._batches = batches
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="geocube-batch")

    def submit(self, kind: Kind) -> Future[BatchResult]:
        return self._pool.submit(self._batches[kind])

    def wait(self, handles: Collection[Future[BatchResult]], timeout: float) -> Collection[Future[BatchResult]]:
        return wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED).done

    def result(self, handle: Future[BatchResult]) -> BatchResult:
        return handle.result()

    def close(self) -> None:
        """Wait for running batches, unless the process is stopping (they were given up on)."""
        self._pool.shutdown(wait=not shutdown.requested(), cancel_futures=True)


@dataclass
class DrainReport:
    batches: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"download": 0.0, "processing": 0.0})
    # Takeovers of expired leases, and why work waited (leases of other hosts...).
    notes: list[str] = field(default_factory=list)
    # The loop was asked to stop; `interrupted` batches had work given back unfinished.
    stopped: bool = False
    interrupted: int = 0


ProgressCallback = Callable[[AOISummary, DrainReport], None]


def drain(
    workflow: Workflow,
    settings: Settings,
    aoi: str | None,
    *,
    runner: Runner,
    pools: Sequence[Kind] = POOLS,
    idle_seconds: float | None = None,
    max_batches: int | None = None,
    on_progress: ProgressCallback | None = None,
    progress_every: float = 1.0,
    on_notice: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> DrainReport:
    """Start batches of `pools` for `aoi` (None: every AOI) while work is due.

    It returns when nothing more can happen without an operator (`idle_seconds=None`: an
    ingestion), or, for long-running workers, after `idle_seconds` without work (0: never);
    in both cases after `max_batches` batches when given, or when `stop` is set (default:
    the process is asked to stop). `on_progress` gets the AOI summary after batches finish
    (at most every `progress_every` seconds) and at the end; `on_notice` gets lines worth
    telling an operator (why work waits, takeovers of expired leases), once each.
    """
    loop = _Loop(workflow, settings, aoi, runner, pools, stop or shutdown.event())
    loop.idle_seconds = idle_seconds
    loop.max_batches = max_batches
    loop.on_progress = on_progress
    loop.progress_every = progress_every
    loop.on_notice = on_notice or (lambda text: log.info("%s", text))
    return loop.run()


class _Loop:
    idle_seconds: float | None = None
    max_batches: int | None = None
    on_progress: ProgressCallback | None = None
    progress_every: float = 1.0
    on_notice: Callable[[str], None]

    def __init__(
        self,
        workflow: Workflow,
        settings: Settings,
        aoi: str | None,
        runner: Runner,
        pools: Sequence[Kind],
        stop: threading.Event,
    ):
        self.workflow = workflow
        self.pipeline = settings.pipeline
        self.aoi = aoi
        self.runner = runner
        self.pools = tuple(pools)
        self.stop = stop
        self.report = DrainReport()
        self.in_flight: dict[Any, tuple[Kind, float]] = {}
        self.started = 0
        self.last_look = -math.inf
        self.last_progress = -math.inf
        self.idle_since = time.monotonic()
        self.said: set[object] = set()

    def run(self) -> DrainReport:
        try:
            finished = True
            while not self.stop.is_set():
                if self._look_due(finished) and self._over(self._look()):
                    break
                finished = self._wait()
            else:
                self._wind_down()
        except BaseException as exc:
            if not isinstance(exc, Exception):  # a signal turned into an exception (Prefect, Ctrl-C)
                if self.stop is shutdown.event():
                    shutdown.request()
                self._wind_down()
            raise
        self._progress(final=True)
        return self.report

    # -- looking at the database and starting batches ---------------------------------

    def _running(self, kind: Kind) -> int:
        return sum(1 for k, _ in self.in_flight.values() if k == kind)

    def _room(self) -> bool:
        """Could another batch start, were work due?"""
        if self.max_batches is not None and self.started >= self.max_batches:
            return False
        return any(self._running(kind) < self.pipeline.max_parallel_batches for kind in self.pools)

    def _look_due(self, finished: bool) -> bool:
        if finished:
            return True
        fresh = time.monotonic() - self.last_look < self.pipeline.poll_seconds
        return not fresh and (self._room() or not self.in_flight)

    def _look(self) -> WorkStatus:
        # Counts beyond what a full set of batches claims change nothing here.
        enough = self.pipeline.max_parallel_batches * max(self.pipeline.download_batch, self.pipeline.tile_batch)
        status = self.workflow.work_status(self.aoi, at_most=enough)
        self.last_look = time.monotonic()
        claimable = False
        for kind in self.pools:
            due = self._claimable(status, kind)
            claimable = claimable or due > 0
            self._start(kind, due)
        if claimable or self.in_flight:
            self.idle_since = time.monotonic()
        self._tell_why_waiting(status)
        return status

    @staticmethod
    def _claimable(status: WorkStatus, kind: Kind) -> int:
        return status.claimable_scenes if kind == "download" else status.claimable_tiles

    def _start(self, kind: Kind, claimable: int) -> None:
        size = self.pipeline.download_batch if kind == "download" else self.pipeline.tile_batch
        # A batch just submitted may not have claimed yet: count it against the claimable work,
        # or slow task start-ups (Prefect) would make the loop start empty batches.
        wanted = min(self.pipeline.max_parallel_batches, math.ceil(claimable / size)) - self._running(kind)
        if self.max_batches is not None:
            wanted = min(wanted, self.max_batches - self.started)
        for _ in range(max(wanted, 0)):
            self.in_flight[self.runner.submit(kind)] = (kind, time.monotonic())
            self.started += 1

    def _over(self, status: WorkStatus) -> bool:
        if self.in_flight:
            return False
        if self.max_batches is not None and self.started >= self.max_batches:
            return True
        if self.idle_seconds is None:  # an ingestion: done when nothing more can happen without an operator
            claimable = any(self._claimable(status, kind) for kind in self.pools)
            return not (claimable or status.leased or status.delayed)
        return self.idle_seconds > 0 and time.monotonic() - self.idle_since >= self.idle_seconds

    def _tell_why_waiting(self, status: WorkStatus) -> None:
        reasons = lease_reasons(status, {TASKS[kind] for kind in self.pools})
        for reason in reasons:
            if reason.key not in self.said:
                self._notice(reason.text if self.aoi is None else f"AOI {self.aoi}: {reason.text}")
        self.said = {reason.key for reason in reasons}

    def _notice(self, text: str) -> None:
        self.report.notes.append(text)
        try:
            self.on_notice(text)
        except Exception as exc:  # telling must never stop the work
            log.warning("could not pass a notice on: %s", exc)

    # -- waiting for batches ------------------------------------------------------------

    def _wait(self) -> bool:
        """Block until a batch finishes, the next look is due, or the process stops."""
        poll = self.pipeline.poll_seconds
        next_look = max(poll - (time.monotonic() - self.last_look), 0.0)
        if not self.in_flight:
            self.stop.wait(next_look)
            return False
        # Nothing could start before a batch finishes: only wake up to notice a stop request.
        timeout = next_look if self._room() else poll
        done = self.runner.wait(list(self.in_flight), timeout)
        self._collect(done)
        return bool(done)

    def _collect(self, done: Collection[Any]) -> None:
        for handle in done:
            kind, started = self.in_flight.pop(handle)
            try:
                result = self.runner.result(handle)
            except Exception as exc:  # e.g. the database went away: its leases expire and are handed out again
                log.error("%s batch failed: %s", kind, exc)
                self.report.failures.append(f"{kind} batch failed: {exc}")
                continue
            self.report.seconds[kind] += time.monotonic() - started
            if result.claimed:
                self.report.batches += 1
            self.report.outcomes.update(result.outcomes)
            self.report.interrupted += bool(result.outcomes.get("STOPPED"))
            self.report.failures += result.messages
            for note in getattr(result, "notes", ()):
                self._notice(note)
        if done:
            self._progress()

    def _progress(self, final: bool = False) -> None:
        if self.on_progress is None or self.aoi is None:
            return
        now = time.monotonic()
        if final or now - self.last_progress >= self.progress_every:
            self.last_progress = now
            self.on_progress(self.workflow.summary(self.aoi), self.report)

    # -- stopping -------------------------------------------------------------------------

    def _wind_down(self) -> None:
        """Let batches stop on their own for a few seconds, then give back what they still hold."""
        self.report.stopped = True
        deadline = time.monotonic() + self.pipeline.stop_grace_seconds
        while self.in_flight and (left := deadline - time.monotonic()) > 0:
            self._collect(self.runner.wait(list(self.in_flight), left))
        self.report.interrupted += len(self.in_flight)
        if self.in_flight and self.stop is shutdown.event():
            log.warning("%d batches still running after the stop request: giving their work back", len(self.in_flight))
            give_back_mine(self.workflow)
        if self.report.interrupted:
            shutdown.mark_work_left()
