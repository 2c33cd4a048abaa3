"""`ingest-aoi`: the main job (seeds/run-a-payload.md steps 1-5) as a Prefect flow.

    prefect deployment run 'ingest-aoi/ingest-aoi' --params '{"payload": {...}}'

Parameters: `payload` (the payload document), optionally `scenes` or `tiles` (files from
`list-scenes` / `list-tiles`, possibly edited, as /catalog/aoi accepts them), and
`settings` (overrides of the process settings, e.g. {"pipeline": {"tile_batch": 100}};
never secrets). Running it again with the same payload resumes: nothing is duplicated.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger, tags, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.common import ArtifactUpdater, drain_aoi, services, thread_runner
from geocube_ingest.catalogue import scenes_from_geojson, tiles_from_geojson
from geocube_ingest.index import get_index
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline import prepare_ingestion, publish, recover


def _run_name() -> str:
    payload = flow_run.parameters.get("payload") or {}
    return f"ingest {payload.get('name', '?')}" if isinstance(payload, dict) else "ingest"


@task(name="prepare", task_run_name="catalogue and records of {aoi}", cache_policy=NO_CACHE, persist_result=False)
def prepare_task(
    aoi: str,
    payload: dict[str, Any],
    scenes: dict[str, Any] | None,
    tiles: dict[str, Any] | None,
    settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """Check layers, list scenes and tiles (unless given), create records, post the graph."""
    cfg, workflow = services(settings)
    prepared = prepare_ingestion(
        Payload.parse(payload),
        workflow=workflow,
        index=get_index(cfg),
        settings=cfg,
        scenes=scenes_from_geojson(scenes) if scenes is not None else None,
        tiles=tiles_from_geojson(tiles) if tiles is not None else None,
    )
    get_run_logger().info(
        "%s: %d scenes found, %d new (%d tiles), %d already there; records %d created, %d reused",
        aoi, prepared.scenes_found, prepared.scenes_created, prepared.tiles_created,
        prepared.scenes_existing, prepared.records_created, prepared.records_reused,
    )  # fmt: skip
    return asdict(prepared)


@task(name="publish-stac", task_run_name="STAC collection of {aoi}", cache_policy=NO_CACHE, persist_result=False)
def publish_task(aoi: str, storage_uri: str | None, settings: dict[str, Any] | None) -> str | None:
    cfg, _ = services(settings)
    return publish(get_index(cfg), aoi, storage_uri or cfg.resolved_storage_uri, cfg)


@flow(
    name="ingest-aoi",
    flow_run_name=_run_name,
    task_runner=thread_runner(),
    description="Ingest a payload: catalogue, records, workflow, downloads, processing, index (resumable).",
    validate_parameters=True,
)
def ingest_aoi(
    payload: dict[str, Any],
    scenes: dict[str, Any] | None = None,
    tiles: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    logger = get_run_logger()
    parsed = Payload.parse(payload)
    aoi = parsed.name
    cfg, workflow = services(settings)
    with tags("geocube-ingest", f"aoi:{aoi}"):
        if workflow.aoi_exists(aoi):
            recover(workflow, cfg, aoi)
        prepared = prepare_task(aoi, payload, scenes, tiles, settings)
        updater = ArtifactUpdater(aoi)
        report = drain_aoi(workflow, cfg, aoi, settings, updater)
        nothing_happened = prepared["scenes_created"] == prepared["tiles_created"] == 0 and report.batches == 0
        collection = None
        if cfg.pipeline.publish_stac and not nothing_happened and not report.stopped:
            collection = publish_task(aoi, parsed.storage_uri, settings)
        summary = workflow.summary(aoi)
        updater(summary, report, final=True)
    if nothing_happened:
        logger.info("nothing to do: AOI %s is already ingested", aoi)
    if report.stopped:
        logger.warning("stopped on request: work in progress was given back; run again to resume")
    for line in report.failures[:20]:
        logger.warning(line)
    return {
        "aoi": aoi,
        "status": summary.status.value if summary.status else None,
        "prepared": prepared,
        "scenes": summary.scenes.as_dict(),
        "tiles": summary.tiles.as_dict(),
        "batches": report.batches,
        "outcomes": dict(report.outcomes),
        "noop": nothing_happened,
        "stac_collection": collection,
        "stopped": report.stopped,
    }
