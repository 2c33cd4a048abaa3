"""Steps 1-4 of an ingestion (seeds/run-a-payload.md): layers, catalogue, records, workflow.

Graphs and layers are checked first, so a payload naming an unknown or refused graph, or a
missing variable, creates nothing (not even a download). The
records and the workflow post form one unit: if posting to the workflow fails, the
records this run created are deleted again (upstream's rollback).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from geocube_ingest.access import check_payload, check_scenes
from geocube_ingest.catalogue import (
    CatalogueScene,
    CatalogueTile,
    Progress,
    list_tiles,
    scenes_of,
    search_scenes,
    to_workflow,
)
from geocube_ingest.errors import InvalidInput
from geocube_ingest.index import Index, NewRecord, record_batch, record_tags
from geocube_ingest.payload import Payload
from geocube_ingest.processing.admission import admit_graphs
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import NewScene, Workflow

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


def search_all(payload: Payload, settings: Settings, *, progress: Progress | None = None) -> list[CatalogueScene]:
    """Every scene of the payload: its own page when it names one, else all pages."""
    if payload.page is not None or payload.limit is not None:
        return search_scenes(
            payload, settings=settings, page=payload.page, limit=payload.limit, progress=progress
        ).scenes
    scenes: list[CatalogueScene] = []
    page = 0
    while True:
        found = search_scenes(payload, settings=settings, page=page, limit=1000, progress=progress)
        scenes += found.scenes
        if not found.next:
            return scenes
        page += 1


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
    found = list(scenes) if scenes is not None else search_all(payload, settings, progress=progress)
    return found, list_tiles(payload, found, workflow=workflow, settings=settings, progress=progress)


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
    new_scenes, relinks = to_workflow(payload, scenes, tiles)
    already = {s.source_id for s in workflow.scenes(payload.name)} if workflow.aoi_exists(payload.name) else set()
    to_post = [s for s in new_scenes if s.source_id not in already]
    records = _records(payload, to_post, scenes)
    with record_batch(index, records) as created:
        for scene, record in zip(to_post, created, strict=True):
            scene.data["record_id"] = record.id
            scene.data["instances_id"] = dict(instances)
        result = workflow.ingest(payload.name, to_post, relinks, geometry=payload.shape.wkt)
    return Prepared(
        aoi=payload.name,
        scenes_found=len(scenes),
        scenes_created=len(result.created),
        scenes_existing=len(result.existing) + len(already),
        tiles_created=result.tiles_created,
        relinked=result.relinked,
        records_created=sum(r.created for r in created),
        records_reused=sum(not r.created for r in created),
    )


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
    check_payload(payload, settings)
    given_scenes = scenes if scenes is not None else (scenes_of(tiles) if tiles is not None else None)
    if given_scenes is not None:
        check_scenes(given_scenes, settings, what="tiles" if scenes is None else "scenes")
    admit_graphs(payload, scenes=given_scenes, tiles=tiles, settings=settings)
    instances = index.resolve_layers({k: v.model_dump() for k, v in payload.layers.items()})
    found, tiles_to_post = catalogue_tiles(payload, workflow, settings, scenes=scenes, tiles=tiles, progress=progress)
    prepared = post(payload, found, tiles_to_post, workflow=workflow, index=index, instances=instances)
    log.info(
        "AOI %s: %d scenes found, %d new (%d tiles), %d already there",
        prepared.aoi, prepared.scenes_found, prepared.scenes_created, prepared.tiles_created, prepared.scenes_existing,
    )  # fmt: skip
    return prepared
