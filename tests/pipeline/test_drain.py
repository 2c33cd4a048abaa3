"""The shared drain loop: it waits on its batches instead of polling, takes the workers' options,
tells why work waits, and stops when the process is asked to."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from geocube_ingest import shutdown
from geocube_ingest.pipeline import BatchResult, ThreadRunner, drain
from geocube_ingest.pipeline.drain import Kind
from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Outcome, Workflow
from geocube_ingest.workflow.owners import owner_id
from tests.workflow.helpers import download_all, series


@pytest.fixture(autouse=True)
def _no_stop_request() -> Iterator[None]:
    shutdown.reset()
    yield
    shutdown.reset()


class Looks:
    """Counts the loop's looks at the database."""

    def __init__(self, workflow: Workflow):
        self.count = 0
        self._real = workflow.work_status

        def counted(aoi: str | None = None, **options: Any) -> Any:
            self.count += 1
            return self._real(aoi, **options)

        workflow.work_status = counted  # type: ignore[method-assign]


def settings_for(workflow: Workflow, **pipeline: Any) -> Settings:
    return Settings(database_url=workflow.url, pipeline={"poll_seconds": 0.2, **pipeline})


def batch(workflow: Workflow, kind: Kind, size: int, gate: threading.Event | None = None) -> Callable[[], BatchResult]:
    task = "scene" if kind == "download" else "tile"

    def run() -> BatchResult:
        leases = workflow.claim(task, owner_id(kind), limit=size)
        if gate is not None:
            gate.wait(30)
        result = BatchResult(task, claimed=len(leases))
        result.outcomes["DONE"] = sum(workflow.report_many([(lease, Outcome.done()) for lease in leases]))
        return result

    return run


def test_the_loop_sleeps_while_its_batches_run(workflow: Workflow) -> None:
    workflow.ingest("A", series(3, ("b1", "b2"), linked=False))
    download_all(workflow)
    settings = settings_for(workflow, tile_batch=2, max_parallel_batches=1)
    gate = threading.Event()
    looks = Looks(workflow)
    runner = ThreadRunner({"processing": batch(workflow, "processing", 2, gate)}, max_workers=2)
    threading.Timer(1.5, gate.set).start()  # the first batch runs for 1.5 s (seven poll periods)
    report = drain(workflow, settings, "A", runner=runner, pools=("processing",))
    runner.close()
    assert workflow.summary("A").tiles.done == 6 and report.batches == 3
    # One look to start, one after each batch (the last finds nothing): none while a batch ran.
    assert looks.count == 4


def test_worker_options_one_pool_max_batches(workflow: Workflow) -> None:
    workflow.ingest("A", series(5, linked=False))
    settings = settings_for(workflow, download_batch=1, max_parallel_batches=2)
    runner = ThreadRunner({"download": batch(workflow, "download", 1)}, max_workers=2)
    report = drain(workflow, settings, None, runner=runner, pools=("download",), idle_seconds=0, max_batches=3)
    runner.close()
    assert report.batches == 3 and report.outcomes == {"DONE": 3}
    summary = workflow.summary("A")
    assert (summary.scenes.done, summary.tiles.done) == (3, 0)  # tiles are not this worker's pool


def test_an_idle_worker_stops_after_idle_seconds(workflow: Workflow) -> None:
    workflow.ingest("A", series(2, linked=False))
    settings = settings_for(workflow)
    runner = ThreadRunner({"download": batch(workflow, "download", 4)}, max_workers=2)
    report = drain(workflow, settings, None, runner=runner, pools=("download",), idle_seconds=0.5)
    runner.close()
    assert report.outcomes == {"DONE": 2} and not report.stopped


def test_it_says_who_holds_the_work_and_until_when(workflow: Workflow) -> None:
    workflow.ingest("A", series(1))
    [lease] = workflow.claim("scene", "far-away:77:download", lease_seconds=0.8)
    notices: list[str] = []
    settings = settings_for(workflow)
    runner = ThreadRunner({"download": batch(workflow, "download", 4)}, max_workers=1)
    drain(workflow, settings, "A", runner=runner, pools=("download",), on_notice=notices.append)
    runner.close()
    assert workflow.scene(lease.id).status == Status.DONE  # taken over once the lease expired
    [told] = [n for n in notices if "far-away:77:download" in n]
    assert told.startswith("AOI A: 1 scene leased by far-away:77:download (on host far-away) until ")
    assert "UTC (in " in told


def test_a_stop_request_ends_the_loop_and_gives_work_back(workflow: Workflow) -> None:
    workflow.ingest("A", series(4, linked=False))
    settings = settings_for(workflow, download_batch=4, stop_grace_seconds=0.5)
    gate = threading.Event()
    runner = ThreadRunner({"download": batch(workflow, "download", 4, gate)}, max_workers=1)
    threading.Timer(0.5, shutdown.request).start()
    report = drain(workflow, settings, "A", runner=runner, pools=("download",))
    assert report.stopped and report.interrupted == 1 and shutdown.work_left()
    # The batch did not stop within the grace period: its leases were given back.
    assert workflow.lease_owners("A") == set()
    assert workflow.work_status("A").claimable_scenes == 4
    gate.set()
    runner.close()
    assert workflow.summary("A").scenes.pending == 4  # the late results were ignored
