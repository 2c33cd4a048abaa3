"""Steps 1-4 of an ingestion (seeds/run-a-payload.md): layers, catalogue, records, workflow.

Graphs and layers are checked first, so a payload naming an unknown or refused graph, or a
missing variable, creates nothing (not even a download). The
records and the workflow post form one unit: if posting to the workflow fails, the
records this run created are deleted again (upstream's rollback).

`prepare_ingestion` runs every step; each step is also a function of its own, so an
orchestrator can run (and show, and retry) them one by one, as flows/ingest.py does:
`check_input` → `layer_instances` → `search_provider` (each provider in turn, until one
answers) → `scene_tiles` (batches of scenes) → `time_series` → `plan_post` →
`create_records` → `post_planned` (`withdraw_records` when posting failed).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from geocube_ingest.access import check_payload, check_scenes
from geocube_ingest.catalogue import (
    CatalogueScene,
    CatalogueTile,
    Progress,
    SceneSearch,
    scenes_of,
    to_workflow,
)
from geocube_ingest.catalogue.providers import SceneQuery, SearchProvider
from geocube_ingest.catalogue.search import combined_error, providers_for, search_provider
from geocube_ingest.catalogue.tiles import chain_tiles, new_tiles
from geocube_ingest.errors import InvalidInput
from geocube_ingest.index import Index, NewRecord, record_batch, record_tags
from geocube_ingest.index.base import CreatedRecord
from geocube_ingest.payload import Payload
from geocube_ingest.processing.admission import admit_graphs
from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, Workflow
from geocube_ingest.workflow.models import Relink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What posting a payload did."""

    aoi: str
    scenes_found: int
    scenes_created: int
    scenes_existing: int
    tiles_created: int
    relinked: int
    records_created: int
    records_reused: int

    @property
    def nothing_new(self) -> bool:
        return self.scenes_created == 0 and self.tiles_created == 0 and self.relinked == 0


def check_input(
    payload: Payload,
    settings: Settings,
    *,
    scenes: Sequence[CatalogueScene] | None = None,
    tiles: Sequence[CatalogueTile] | None = None,
) -> None:
    """Refuse, before anything is created, input naming graphs, storage roots or links the operator does not allow."""
    check_payload(payload, settings)
    given_scenes = scenes if scenes is not None else (scenes_of(tiles) if tiles is not None else None)
    if given_scenes is not None:
        check_scenes(given_scenes, settings, what="tiles" if scenes is None else "scenes")
    admit_graphs(payload, scenes=given_scenes, tiles=tiles, settings=settings)


def layer_instances(payload: Payload, index: Index) -> dict[str, str]:
    """The index instances of the payload's layers (an unknown variable is refused here)."""
    return index.resolve_layers({k: v.model_dump() for k, v in payload.layers.items()})


def search_provider_all(provider: SearchProvider, payload: Payload, *, progress: Progress | None = None) -> SceneSearch:
    """Every scene one provider has for the payload: its own page when it names one, else all pages."""
    if payload.page is not None or payload.limit is not None:
        return search_provider(provider, payload, SceneQuery.from_payload(payload))
    found = SceneSearch([], False, provider.name)
    page = 0
    while True:
        one = search_provider(provider, payload, SceneQuery.from_payload(payload, page, 1000))
        found.scenes += one.scenes
        found.warnings += one.warnings
        found.dropped += one.dropped
        if progress:
            progress(len(found.scenes), None, f"{len(found.scenes)} scenes from {provider.name}")
        if not one.next:
            return found
        page += 1


def search_all(payload: Payload, settings: Settings, *, progress: Progress | None = None) -> SceneSearch:
    """The scenes of the payload from the first provider serving its constellation that answers."""
    errors: list[tuple[str, BaseException]] = []
    for provider in providers_for(payload, settings):
        try:
            return search_provider_all(provider, payload, progress=progress)
        except Exception as exc:  # each provider's failure is reported; the next one is asked
            log.info("catalogue provider %s failed: %s", provider.name, exc)
            errors.append((provider.name, exc))
    raise combined_error(errors)


def scene_tiles(
    payload: Payload, scenes: Sequence[CatalogueScene], settings: Settings, *, progress: Progress | None = None
) -> list[CatalogueTile]:
    """The tiles of a batch of scenes (Sentinel-1 SLC: bursts over the AOI), not yet chained."""
    return new_tiles(payload, scenes, settings, progress)


def time_series(
    payload: Payload,
    scenes: Sequence[CatalogueScene],
    tiles: Sequence[CatalogueTile],
    workflow: Workflow,
    settings: Settings,
) -> list[CatalogueTile]:
    """The new tiles chained onto the AOI's time series (previous, reference), and the re-wired existing ones."""
    return chain_tiles(payload, scenes, tiles, workflow=workflow, settings=settings)


def catalogue_tiles(
    payload: Payload,
    workflow: Workflow,
    settings: Settings,
    *,
    scenes: Sequence[CatalogueScene] | None = None,
    tiles: Sequence[CatalogueTile] | None = None,
    progress: Progress | None = None,
) -> tuple[list[CatalogueScene], list[CatalogueTile]]:
    """The scenes and tiles to post: from given files (as /catalog/aoi allows) or the catalogue."""
    if tiles is not None:
        return list(scenes if scenes is not None else scenes_of(tiles)), list(tiles)
    found = list(scenes) if scenes is not None else search_all(payload, settings, progress=progress).scenes
    new = scene_tiles(payload, found, settings, progress=progress)
    return found, time_series(payload, found, new, workflow, settings)


@dataclass
class Plan:
    """What posting would add: scenes not in the workflow yet (with their tiles), and re-wired tiles."""

    scenes_found: int
    scenes: list[NewScene]
    relinks: list[Relink]
    already: int
    records: list[NewRecord] = field(default_factory=list)

    @property
    def nothing_new(self) -> bool:
        return not self.scenes and not self.relinks


def plan_post(
    payload: Payload, scenes: Sequence[CatalogueScene], tiles: Sequence[CatalogueTile], workflow: Workflow
) -> Plan:
    """The scenes and re-wired tiles a post would add (nothing is written)."""
    new_scenes, relinks = to_workflow(payload, scenes, tiles)
    exists = workflow.aoi_exists(payload.name)
    already = {s.source_id for s in workflow.scenes(payload.name)} if exists else set()
    to_post = [s for s in new_scenes if s.source_id not in already]
    return Plan(len(scenes), to_post, relinks, len(already), _records(payload, to_post, scenes))


def create_records(index: Index, plan: Plan) -> list[CreatedRecord]:
    """The records of the scenes to post, created or reused (idempotent)."""
    return index.create_records(plan.records)


def withdraw_records(index: Index, created: Sequence[CreatedRecord]) -> None:
    """Delete the records this run created, when their scenes could not be posted (upstream's rollback)."""
    ids = [r.id for r in created if r.created]
    if ids:
        index.delete_records(ids)


def post_planned(
    payload: Payload,
    plan: Plan,
    created: Sequence[CreatedRecord],
    *,
    workflow: Workflow,
    instances: dict[str, str],
) -> Prepared:
    """Post the planned scenes and tiles to the workflow, each scene naming its record; idempotent."""
    for scene, record in zip(plan.scenes, created, strict=True):
        scene.data["record_id"] = record.id
        scene.data["instances_id"] = dict(instances)
    result = workflow.ingest(payload.name, plan.scenes, plan.relinks, geometry=payload.shape.wkt)
    return Prepared(
        aoi=payload.name,
        scenes_found=plan.scenes_found,
        scenes_created=len(result.created),
        scenes_existing=len(result.existing) + plan.already,
        tiles_created=result.tiles_created,
        relinked=result.relinked,
        records_created=sum(r.created for r in created),
        records_reused=sum(not r.created for r in created),
    )


def _records(payload: Payload, new_scenes: Sequence[NewScene], scenes: Sequence[CatalogueScene]) -> list[NewRecord]:
    """One record per scene: catalogue tags (+ payload tags), and the scenes it depends on."""
    tags_of = {s.source_id: s.tags for s in scenes}
    previous: dict[str, set[str]] = defaultdict(set)
    reference: dict[str, set[str]] = defaultdict(set)
    for scene in new_scenes:
        for tile in scene.tiles:
            if tile.previous is not None:
                previous[scene.source_id].add(tile.previous.scene)
            if tile.reference is not None:
                reference[scene.source_id].add(tile.reference.scene)
    records = []
    for scene in new_scenes:
        if scene.date is None or not scene.footprint:
            missing = " and no ".join(w for w, v in (("date", scene.date), ("footprint", scene.footprint)) if not v)
            raise InvalidInput(f"scene {scene.source_id} has no {missing}: it cannot be indexed")
        tags = record_tags(
            tags_of.get(scene.source_id, {}),
            payload.record_tags,
            sorted(previous[scene.source_id]),
            sorted(reference[scene.source_id]),
        )
        records.append(NewRecord(scene.source_id, scene.date, tags, scene.footprint))
    return records


def post(
    payload: Payload,
    scenes: Sequence[CatalogueScene],
    tiles: Sequence[CatalogueTile],
    *,
    workflow: Workflow,
    index: Index,
    instances: dict[str, str],
) -> Prepared:
    """Create or reuse the records, then post scenes and tiles to the workflow (one unit)."""
    plan = plan_post(payload, scenes, tiles, workflow)
    with record_batch(index, plan.records) as created:
        return post_planned(payload, plan, created, workflow=workflow, instances=instances)


def nothing_to_do(
    payload: Payload,
    workflow: Workflow,
    settings: Settings,
    *,
    scenes: Sequence[CatalogueScene] | None = None,
    tiles: Sequence[CatalogueTile] | None = None,
) -> bool:
    """Whether ingesting would be a no-op: the AOI is DONE and the catalogue (or the given
    files) brings no new scene and re-wires no tile. Nothing is written.

    Lets a driver with a high fixed cost (a Prefect flow run: an API server, run records) skip
    it when there is nothing to do; the search is repeated when there is.
    """
    if not workflow.aoi_exists(payload.name) or workflow.summary(payload.name).status != Status.DONE:
        return False
    check_input(payload, settings, scenes=scenes, tiles=tiles)
    found, chained = catalogue_tiles(payload, workflow, settings, scenes=scenes, tiles=tiles)
    return plan_post(payload, found, chained, workflow).nothing_new


def prepare_ingestion(
    payload: Payload,
    *,
    workflow: Workflow,
    index: Index,
    settings: Settings | None = None,
    scenes: Sequence[CatalogueScene] | None = None,
    tiles: Sequence[CatalogueTile] | None = None,
    progress: Progress | None = None,
) -> Prepared:
    """Check graphs and layers, list scenes and tiles (unless given), create records and post the graph.

    Input (the payload, and scenes or tiles given as files) may only name the graphs, storage
    roots and links the operator allows: anything else is refused before anything is created.
    """
    settings = settings or workflow.settings
    check_input(payload, settings, scenes=scenes, tiles=tiles)
    instances = layer_instances(payload, index)
    found, tiles_to_post = catalogue_tiles(payload, workflow, settings, scenes=scenes, tiles=tiles, progress=progress)
    prepared = post(payload, found, tiles_to_post, workflow=workflow, index=index, instances=instances)
    log.info(
        "AOI %s: %d scenes found, %d new (%d tiles), %d already there",
        prepared.aoi, prepared.scenes_found, prepared.scenes_created, prepared.tiles_created, prepared.scenes_existing,
    )  # fmt: skip
    return prepared
