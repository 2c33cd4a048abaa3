"""`download-worker` and `process-worker`: workers that claim leases from the workflow database.

Run them as deployments on separate work pools (downloads need bandwidth, processing needs
CPU and memory) and on as many machines as you like: they share only the database and the
storage. They run the same loop as every ingestion (`geocube_ingest.pipeline.drain`) on one
pool: each batch is one task run, started only when the database says work is claimable,
so an idle worker costs no task runs. A worker stops after `idle_seconds` without work
(0 = never), so it can also be scheduled periodically, or after `max_batches` batches.
Cancelling its flow run (SIGTERM) gives its leases and provider slots back within seconds.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.common import PrefectRunner, notice_logger, services, thread_runner
from geocube_ingest.pipeline import drain
from geocube_ingest.pipeline.drain import Kind


def _work(
    kind: Kind, aoi: str | None, idle_seconds: float, max_batches: int | None, settings: dict[str, Any] | None
) -> dict[str, Any]:
    cfg, workflow = services(settings)
    logger = get_run_logger()
    report = drain(
        workflow,
        cfg,
        aoi,
        runner=PrefectRunner(aoi, settings),
        pools=(kind,),
        idle_seconds=idle_seconds,
        max_batches=max_batches,
        on_notice=notice_logger(),
    )
    for line in report.failures:
        logger.warning(line)
    stopped = f", stopped on request ({report.interrupted} batches interrupted)" if report.stopped else ""
    logger.info("%s worker: %d batches, %s%s", kind, report.batches, dict(report.outcomes), stopped)
    return {"batches": report.batches, "outcomes": dict(report.outcomes), "stopped": report.stopped}


@flow(name="download-worker", task_runner=thread_runner(), description="Download due scenes.")
def download_worker(
    aoi: str | None = None,
    idle_seconds: float = 60,
    max_batches: int | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return _work("download", aoi, idle_seconds, max_batches, settings)


@flow(name="process-worker", task_runner=thread_runner(), description="Process ready tiles.")
def process_worker(
    aoi: str | None = None,
    idle_seconds: float = 60,
    max_batches: int | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return _work("processing", aoi, idle_seconds, max_batches, settings)
