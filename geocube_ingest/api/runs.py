"""How `/catalog/aoi` runs an ingestion once the payload is posted: in this process, or on Prefect.

Both starters have the same two calls: `check()` before anything is created (so a Prefect
server that cannot take the run refuses the request while it is still harmless) and
`start(...)` after the scenes and tiles are in the workflow.

- `InProcessRuns` (the default): one runner thread per AOI drives the downloads and the
  processing (`pipeline.run_workers`, the shared drain loop) until nothing is due, then
  publishes the AOI's STAC collection. A POST for an AOI whose runner is busy only asks it
  to look again before it stops, so one runner per AOI at a time, and no posted scene is
  left behind. When the server shuts down (SIGTERM, SIGINT), `stop` ends the runners within
  seconds and gives their leases and provider slots back; posting the AOI again (or
  `geocube-ingest ingest`) resumes it.
- `PrefectRuns` (when `settings.prefect.ingest_deployment` is set): a flow run of that
  deployment (the `ingest-aoi` flow), with the payload and the posted files as parameters.
  The flow re-runs the preparation, which finds everything already posted (idempotent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from geocube_ingest import shutdown
from geocube_ingest.api.errors import ServiceUnavailable
from geocube_ingest.index import Index
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline import give_back_mine, publish, run_workers
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Workflow

log = logging.getLogger(__name__)

Mode = Literal["in-process", "prefect"]


@dataclass(frozen=True, slots=True)
class RunInfo:
    mode: Mode
    started: bool
    detail: str
    deployment: str | None = None
    flow_run_id: str | None = None
    flow_run_name: str | None = None


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the run needs to know: the payload and the files as they were posted."""

    payload: Payload
    scenes: dict[str, Any] | None = None
    tiles: dict[str, Any] | None = None


class Starter(Protocol):
    mode: Mode

    def check(self) -> None:
        """Raise ServiceUnavailable when no run can be started now."""

    def start(self, request: RunRequest) -> RunInfo: ...

    def stop(self, timeout: float) -> list[str]:
        """The server shuts down: end runs of this process; returns the AOIs left unfinished."""


class AoiLocks:
    """One lock per AOI name: posting the same AOI twice at once is serialised (records, then workflow)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, aoi: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(aoi, threading.Lock())
        with lock:
            yield


@dataclass
class _Runner:
    aoi: str
    storage_uri: str | None
    again: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)


class InProcessRuns:
    """Runner threads of this server, one per AOI at a time."""

    mode: Mode = "in-process"

    def __init__(self, workflow: Workflow, settings: Settings, index: Callable[[], Index]):
        self.workflow = workflow.as_actor("pipeline")
        self.settings = settings
        self._index = index
        self._lock = threading.Lock()
        self._runners: dict[str, _Runner] = {}

    def check(self) -> None:
        return None

    def start(self, request: RunRequest) -> RunInfo:
        aoi = request.payload.name
        storage_uri = request.payload.storage_uri
        with self._lock:
            runner = self._runners.get(aoi)
            if runner is not None:
                runner.again = True  # it looks for due work once more before it stops
                runner.storage_uri = storage_uri
                return RunInfo(self.mode, False, f"a run of AOI {aoi} is already going on here: it takes the new work")
            runner = _Runner(aoi, storage_uri)
            runner.thread = threading.Thread(target=self._run, args=(runner,), name=f"ingest-{aoi}", daemon=True)
            self._runners[aoi] = runner
            runner.thread.start()
        return RunInfo(self.mode, True, f"downloads and processing of AOI {aoi} started in the server")

    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._runners)

    def wait(self, aoi: str, timeout: float | None = None) -> bool:
        """Wait for the AOI's runner to stop; True when none is left."""
        with self._lock:
            runner = self._runners.get(aoi)
        if runner is not None and runner.thread is not None:
            runner.thread.join(timeout)
        return aoi not in self.running()

    def stop(self, timeout: float) -> list[str]:
        """Wait up to `timeout` for the runners when the process is asked to stop (`serve` got a signal).

        Runners still there after it hold jobs that cannot be interrupted: their leases and
        provider slots are given back, so their work is claimable elsewhere at once. An app
        shut down without a stop request (tests, an embedding program) leaves them running.
        """
        if not shutdown.requested():
            return []
        deadline = time.monotonic() + timeout
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            if runner.thread is not None:
                runner.thread.join(max(deadline - time.monotonic(), 0))
        left = self.running()
        if left:
            log.warning("in-process ingestions of %s still running at shutdown: giving their work back", left)
            give_back_mine(self.workflow)
            shutdown.mark_work_left()
        return left

    def _run(self, runner: _Runner) -> None:
        stop = False
        try:
            while not stop and not shutdown.requested():
                self._drain(runner)
                # Deciding to stop and leaving the table is one step: a POST sees either a runner
                # that will look again, or no runner (and starts one).
                with self._lock:
                    stop = not runner.again
                    runner.again = False
                    if stop:
                        self._runners.pop(runner.aoi, None)
        except BaseException:
            with self._lock:
                self._runners.pop(runner.aoi, None)
            raise

    def _drain(self, runner: _Runner) -> None:
        try:
            index = self._index()
            report = run_workers(self.workflow, index, self.settings, runner.aoi)
        except Exception:
            # Nothing is lost: the workflow keeps what is due, and the next POST (or CLI run) resumes it.
            log.exception("in-process ingestion of AOI %s stopped", runner.aoi)
            return
        log.info("AOI %s: %d batches run, outcomes %s", runner.aoi, report.batches, dict(report.outcomes))
        if report.stopped:
            log.warning("AOI %s: stopped with the server; post it again to resume", runner.aoi)
        elif report.batches and self.settings.pipeline.publish_stac:
            storage_uri = runner.storage_uri or self.settings.resolved_storage_uri
            try:
                publish(index, runner.aoi, storage_uri, self.settings)
            except Exception:
                log.exception("AOI %s: the STAC collection could not be published", runner.aoi)


class PrefectRuns:
    """Flow runs of the configured deployment; prefect is imported only here, when configured."""

    mode: Mode = "prefect"

    def __init__(self, deployment: str):
        self.deployment = deployment

    def stop(self, timeout: float) -> list[str]:
        return []  # flow runs live on Prefect's workers, not in this server

    def check(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        try:
            with get_client(sync_client=True) as client:
                client.read_deployment_by_name(self.deployment)
        except ObjectNotFound:
            raise ServiceUnavailable(
                f"Prefect deployment {self.deployment!r} not found (settings prefect.ingest_deployment)"
            ) from None
        except Exception as exc:  # unreachable server, refused credentials...
            raise ServiceUnavailable(f"the Prefect server cannot start runs now: {type(exc).__name__}: {exc}") from None

    def start(self, request: RunRequest) -> RunInfo:
        from prefect.client.schemas.objects import FlowRun
        from prefect.deployments import run_deployment

        aoi = request.payload.name
        parameters = {"payload": request.payload.to_json(), "scenes": request.scenes, "tiles": request.tiles}
        try:
            flow_run = cast(
                FlowRun,
                run_deployment(
                    name=self.deployment,
                    parameters=parameters,
                    timeout=0,
                    tags=["geocube-ingest", f"aoi:{aoi}"],
                    as_subflow=False,
                    _sync=True,  # type: ignore[call-arg]  # prefect's dispatcher: never hand back a coroutine
                ),
            )
        except Exception as exc:
            raise ServiceUnavailable(
                f"scenes and tiles of AOI {aoi} are posted, but the Prefect run could not be started "
                f"({type(exc).__name__}: {exc}); post again to start it (nothing is created twice)"
            ) from None
        return RunInfo(
            self.mode,
            True,
            f"flow run {flow_run.name} of deployment {self.deployment} started for AOI {aoi}",
            deployment=self.deployment,
            flow_run_id=str(flow_run.id),
            flow_run_name=flow_run.name,
        )


def make_starter(workflow: Workflow, settings: Settings, index: Callable[[], Index]) -> InProcessRuns | PrefectRuns:
    if settings.prefect.ingest_deployment:
        return PrefectRuns(settings.prefect.ingest_deployment)
    return InProcessRuns(workflow, settings, index)
