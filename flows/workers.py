"""`download-worker` and `process-worker`: workers that claim leases from the workflow database.

Run them as deployments on separate work pools (downloads need bandwidth, processing needs
CPU and memory) and on as many machines as you like: they share only the database and the
storage. Each batch is one task run; a worker stops after `idle_seconds` without work
(0 = never), so it can also be scheduled periodically.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from prefect import flow, get_run_logger

from flows.common import PrefectRunner, services, thread_runner
from geocube_ingest.pipeline import BatchResult
from geocube_ingest.pipeline.drain import Kind


def _work(
    kind: Kind, aoi: str | None, idle_seconds: float, max_batches: int | None, settings: dict[str, Any] | None
) -> dict[str, Any]:
    """Start batches only when the database says work is claimable: an idle worker costs no task runs."""
    cfg, workflow = services(settings)
    runner = PrefectRunner(aoi, settings)
    size = cfg.pipeline.download_batch if kind == "download" else cfg.pipeline.tile_batch
    logger = get_run_logger()
    in_flight: list[Any] = []
    totals: Counter[str] = Counter()
    batches = 0
    idle_since = time.monotonic()
    while True:
        status = workflow.work_status(aoi)
        claimable = status.claimable_scenes if kind == "download" else status.claimable_tiles
        # Submitted batches that have not claimed yet count against the claimable work.
        wanted = min(cfg.pipeline.max_parallel_batches, math.ceil(claimable / size)) - len(in_flight)
        if max_batches is not None:
            wanted = min(wanted, max_batches - batches - len(in_flight))
        in_flight += [runner.submit(kind) for _ in range(max(wanted, 0))]
        if in_flight or claimable:
            idle_since = time.monotonic()
        for handle in [h for h in in_flight if runner.done(h)]:
            in_flight.remove(handle)
            result: BatchResult = runner.result(handle)
            batches += 1
            totals.update(result.outcomes)
            for line in result.messages:
                logger.warning(line)
        done = max_batches is not None and batches >= max_batches
        idle = idle_seconds > 0 and time.monotonic() - idle_since > idle_seconds
        if not in_flight and (done or idle):
            break
        time.sleep(0.2 if in_flight else cfg.pipeline.poll_seconds)
    logger.info("%s worker: %d batches, %s", kind, batches, dict(totals))
    return {"batches": batches, "outcomes": dict(totals)}


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
