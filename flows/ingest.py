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
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from flows.common import ArtifactUpdater, artifact_key, drain_aoi, services, tag_flow_run, thread_runner
from flows.steps import prepare, retrying
from geocube_ingest.catalogue import scenes_from_geojson, tiles_from_geojson
from geocube_ingest.index import Index, get_index
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline import publish, recover
from geocube_ingest.settings import Settings


def _run_name() -> str:
    payload = flow_run.parameters.get("payload") or {}
    return f"ingest {payload.get('name', '?')}" if isinstance(payload, dict) else "ingest"


@task(name="publish-stac", task_run_name="STAC collection of {aoi}", cache_policy=NO_CACHE, persist_result=False)
def publish_task(aoi: str, storage_uri: str | None, settings: Settings, index: Index) -> str | None:
    """Write the AOI's STAC collection (idempotent: it is rewritten from the index)."""
    collection = publish(index, aoi, storage_uri or settings.resolved_storage_uri, settings)
    if collection:
        create_link_artifact(collection, link_text=f"STAC collection of {aoi}", key=artifact_key(aoi, "stac"))
    return collection


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
    index = get_index(cfg)
    tag_flow_run("geocube-ingest", f"aoi:{aoi}")
    with tags("geocube-ingest", f"aoi:{aoi}"):
        if workflow.aoi_exists(aoi):
            recover(workflow, cfg, aoi)
        prepared = prepare(
            parsed,
            cfg,
            workflow,
            index,
            scenes=scenes_from_geojson(scenes) if scenes is not None else None,
            tiles=tiles_from_geojson(tiles) if tiles is not None else None,
        )
        updater = ArtifactUpdater(aoi)
        report = drain_aoi(workflow, cfg, aoi, settings, updater)
        nothing_happened = prepared.nothing_new and report.batches == 0
        collection = None
        if cfg.pipeline.publish_stac and not nothing_happened and not report.stopped:
            collection = retrying(publish_task, cfg)(aoi, parsed.storage_uri, quote(cfg), index)
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
        "prepared": asdict(prepared),
        "scenes": summary.scenes.as_dict(),
        "tiles": summary.tiles.as_dict(),
        "batches": report.batches,
        "outcomes": dict(report.outcomes),
        "noop": nothing_happened,
        "stac_collection": collection,
        "stopped": report.stopped,
    }
