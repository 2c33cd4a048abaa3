"""Between the workflow's plain values and the API's shapes (responses and request bodies)."""

from __future__ import annotations

import dataclasses
from typing import Any

from geocube_ingest.api.schemas import SceneToIngest
from geocube_ingest.errors import InvalidInput
from geocube_ingest.workflow import NewScene, NewTile, TileKey
from geocube_ingest.workflow.models import AOISummary, Footprint
from geocube_ingest.workflow.serialize import counts_json

counts = counts_json


def aoi_summary(summary: AOISummary) -> dict[str, Any]:
    return {
        "aoi": summary.aoi,
        "status": summary.status,
        "scenes": counts(summary.scenes),
        "tiles": counts(summary.tiles),
        "root_tiles": summary.root_tiles,
        "first_date": summary.first_date.date() if summary.first_date else None,
        "last_date": summary.last_date.date() if summary.last_date else None,
    }


def _tile_key(scene: str, tile: str, what: str, owner: str) -> TileKey | None:
    if not scene and not tile:
        return None
    if not scene or not tile:
        raise InvalidInput(f"tile {owner}: {what}_tile_id and {what}_scene_id go together")
    return TileKey(scene, tile)


def new_scene(aoi: str, body: SceneToIngest) -> NewScene:
    """Upstream's SceneToIngest as the workflow's NewScene, checked as upstream checks it."""
    if body.id:
        raise InvalidInput("id is given by the workflow: leave it out (or 0)")
    if body.aoi and body.aoi != aoi:
        raise InvalidInput(f"scene aoi {body.aoi!r} differs from the AOI of the path {aoi!r}")
    data = dict(body.data)
    tile_mapping = data.get("tiles")
    if tile_mapping is None:
        data["tiles"] = {
            name: {"swath_id": t.data.get("swath_id", ""), "tile_nr": t.data.get("tile_nr", 0)}
            for name, t in body.tiles.items()
        }
    elif not isinstance(tile_mapping, dict) or set(tile_mapping) != set(body.tiles):
        raise InvalidInput("data.tiles must name exactly the tiles of `tiles`")
    tiles = [
        NewTile(
            name,
            dict(t.data),
            previous=_tile_key(t.previous_scene_id, t.previous_tile_id, "previous", name),
            reference=_tile_key(t.reference_scene_id, t.reference_tile_id, "reference", name),
            footprint=t.wkt,
        )
        for name, t in body.tiles.items()
    ]
    return NewScene(body.source_id, data, tiles, footprint=body.wkt, retry_countdown=body.retry_count)


def footprint_properties(footprint: Footprint) -> dict[str, Any]:
    """Every field but the footprint itself, which is the feature's geometry."""
    properties = dataclasses.asdict(footprint)
    del properties["wkt"]
    return properties
