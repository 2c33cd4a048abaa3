"""`retry-aoi`: retry an AOI's RETRY scenes and tiles (`force`: also PENDING ones), then run them."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, tags

from flows.common import ArtifactUpdater, drain_aoi, services, tag_flow_run, thread_runner
from geocube_ingest.pipeline import recover


@flow(
    name="retry-aoi",
    flow_run_name="retry {aoi}",
    task_runner=thread_runner(),
    description="Retry the RETRY work of an AOI (and re-dispatch PENDING work with force), then run it.",
)
def retry_aoi(aoi: str, force: bool = False, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg, workflow = services(settings)
    tag_flow_run("geocube-ingest", f"aoi:{aoi}")
    with tags("geocube-ingest", f"aoi:{aoi}"):
        recover(workflow, cfg, aoi)
        retried = workflow.retry_aoi(aoi, force=force)
        get_run_logger().info("%s: %d scenes and %d tiles retried", aoi, retried.scenes, retried.tiles)
        updater = ArtifactUpdater(aoi)
        report = drain_aoi(workflow, cfg, aoi, settings, updater)
        summary = workflow.summary(aoi)
        updater(summary, report, final=True)
    return {
        "aoi": aoi,
        "retried": {"scenes": retried.scenes, "tiles": retried.tiles},
        "status": summary.status.value if summary.status else None,
        "outcomes": dict(report.outcomes),
    }
