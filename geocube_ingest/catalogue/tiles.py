"""Step 2: the tiles of the scenes, chained into time series.

- Sentinel-2: one tile per scene; its source id is the MGRS tile (`T32UNG`), its location.
- Landsat 8/9: one tile per scene; its source id is the WRS-2 path-row (`033032`).
- Sentinel-1 SLC: one tile per burst whose footprint meets the AOI buffered by 0.05 degree;
  its source id is ESA's burst id (`t071_151199_iw3`). With the scene graph
  `CopyProductToStorage`, and for other product types (GRD), products are not split: one
  tile per scene, named like the scene.
Choosing the location as the tile source id makes every time series "the tiles with the same
source id", whatever the constellation. `scene.tiles` is filled with the tiles found; scenes
left without tiles are left out (as upstream does).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.graph import link_tiles
from geocube_ingest.catalogue.graph_inputs import should_link
from geocube_ingest.catalogue.models import CatalogueScene, CatalogueTile, Progress
from geocube_ingest.catalogue.naming import name_info
from geocube_ingest.catalogue.s1.bursts import Burst
from geocube_ingest.catalogue.s1.scene import scene_bursts
from geocube_ingest.errors import GeocubeIngestError, InvalidInput, TemporaryError
from geocube_ingest.payload import Constellation, Payload
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow import Workflow
from geocube_ingest.workflow.models import Tile

log = logging.getLogger(__name__)

BURST_AOI_BUFFER = 0.05  # degrees, as upstream
COPY_PRODUCT_GRAPH = "CopyProductToStorage"


def _base_data(payload: Payload) -> dict[str, object]:
    return {"graph_name": payload.tile_graph_name, "is_retriable": payload.is_retriable}


def scene_tile(scene: CatalogueScene, payload: Payload) -> CatalogueTile:
    """The one tile of an unsplit scene."""
    location = name_info(scene.source_id).location
    if payload.constellation == Constellation.SENTINEL1 or not location:
        location = scene.source_id
    data = {"swath_id": "", "tile_nr": 0, **_base_data(payload), "location": location}
    return CatalogueTile(location, scene.source_id, scene.date, scene.footprint, data, scene=scene)


def burst_tile(scene: CatalogueScene, burst: Burst, payload: Payload) -> CatalogueTile:
    name = str(burst.burst_id)
    data = {
        "swath_id": burst.swath,
        "tile_nr": burst.index,
        **_base_data(payload),
        "location": name,
        "burst_id": name,
        "absolute_burst_id": burst.burst_id.absolute,
        "relative_orbit": burst.burst_id.track,
    }
    return CatalogueTile(name, scene.source_id, scene.date, burst.footprint, data, scene=scene)


def splits_into_bursts(payload: Payload, scene: CatalogueScene) -> bool:
    """Sentinel-1 SLC scenes are split into bursts, unless the scene graph stores the product whole."""
    if payload.constellation != Constellation.SENTINEL1 or payload.scene_graph_name == COPY_PRODUCT_GRAPH:
        return False
    product_type = name_info(scene.source_id).product_type or scene.tags.get("productType", "")
    return product_type == "SLC"


def _burst_tiles(
    payload: Payload, scenes: Sequence[CatalogueScene], settings: Settings, progress: Progress | None
) -> list[CatalogueTile]:
    area: BaseGeometry = payload.shape.buffer(BURST_AOI_BUFFER)
    done = 0
    failures: list[GeocubeIngestError] = []

    def one(scene: CatalogueScene) -> list[Burst]:
        return scene_bursts(scene, payload.annotations_urls, payload.name, settings)

    tiles: list[CatalogueTile] = []
    with ThreadPoolExecutor(max_workers=settings.catalogue.annotation_workers) as pool:
        futures = [(scene, pool.submit(one, scene)) for scene in scenes]
        for scene, future in futures:
            try:
                bursts = future.result()
            except GeocubeIngestError as exc:
                failures.append(exc)
                bursts = []
            tiles.extend(burst_tile(scene, b, payload) for b in bursts if b.footprint.intersects(area))
            done += 1
            if progress:
                progress(done, len(scenes), f"bursts of {scene.source_id}")
    if failures:
        message = f"{len(failures)} of {len(scenes)} scenes could not be split into bursts: " + "; ".join(
            str(f) for f in failures[:5]
        )
        raise (TemporaryError if any(isinstance(f, TemporaryError) for f in failures) else InvalidInput)(message)
    return tiles


def _acquisition(tile: CatalogueTile | Tile) -> tuple[str, object]:
    """Two tiles with the same key are the same ground at the same pass (overlapping S1 slices)."""
    absolute = tile.data.get("absolute_burst_id")
    return (tile.source_id, absolute if absolute is not None else tile.date)


def drop_repeats(new: Sequence[CatalogueTile], existing: Sequence[Tile]) -> list[CatalogueTile]:
    """New tiles not already in the workflow, each acquisition once (the first scene's wins)."""
    seen = {t.key for t in existing} | {_acquisition(t) for t in existing}
    kept = []
    for tile in new:
        keys = (tile.key, _acquisition(tile))
        if any(k in seen for k in keys):
            continue
        seen.update(keys)
        kept.append(tile)
    return kept


def _existing_tiles(workflow: Workflow | None, aoi: str) -> list[Tile]:
    if workflow is None or not workflow.aoi_exists(aoi):
        return []
    return workflow.tiles(aoi)


def new_tiles(
    payload: Payload, scenes: Sequence[CatalogueScene], settings: Settings, progress: Progress | None = None
) -> list[CatalogueTile]:
    """The tiles of the scenes alone (Sentinel-1 SLC: their bursts over the AOI), not yet chained.

    Scenes are independent here, so a long list may be split in batches and run anywhere.
    """
    scenes = sorted(scenes, key=lambda s: (s.date, s.source_id))
    split = [s for s in scenes if splits_into_bursts(payload, s)]
    new = _burst_tiles(payload, split, settings, progress) if split else []
    new += [scene_tile(scene, payload) for scene in scenes if not splits_into_bursts(payload, scene)]
    if progress and not split:
        progress(len(scenes), len(scenes), "tiles")
    return new


def chain_tiles(
    payload: Payload,
    scenes: Sequence[CatalogueScene],
    new: Sequence[CatalogueTile],
    *,
    workflow: Workflow | None = None,
    settings: Settings | None = None,
    link: bool | None = None,
) -> list[CatalogueTile]:
    """The time series: new tiles not already in the workflow, linked to their previous and
    reference, then the existing tiles re-wired (see `list_tiles`)."""
    settings = settings or get_settings()
    ordered = sorted(new, key=lambda t: (t.date, t.scene_source_id))
    existing = _existing_tiles(workflow, payload.name)
    kept = drop_repeats(ordered, existing)
    for scene in scenes:
        scene.tiles = {}
    for tile in kept:
        assert tile.scene is not None
        tile.scene.tiles[tile.source_id] = {"swath_id": tile.data["swath_id"], "tile_nr": tile.data["tile_nr"]}
    relinked = link_tiles(kept, existing, should_link(payload, link, settings))
    log.info("%d tiles from %d scenes, %d existing tiles re-wired", len(kept), len(scenes), len(relinked))
    return [*kept, *relinked]


def list_tiles(
    payload: Payload,
    scenes: Sequence[CatalogueScene],
    *,
    workflow: Workflow | None = None,
    settings: Settings | None = None,
    link: bool | None = None,
    progress: Progress | None = None,
) -> list[CatalogueTile]:
    """The new tiles of the scenes, linked to their previous/reference, then the existing tiles re-wired.

    `workflow` gives the tiles already in the AOI (appending and backfilling chains onto them);
    `link` forces chaining on or off (None: chain when the tile graph reads previous/reference,
    or as `graph_config.link_tiles` says).
    """
    settings = settings or get_settings()
    new = new_tiles(payload, scenes, settings, progress)
    return chain_tiles(payload, scenes, new, workflow=workflow, settings=settings, link=link)
