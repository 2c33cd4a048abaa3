"""Scenes and tiles in the JSON shapes of `seeds/monitoring.md` (field spellings included)."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import mapping

from geocube_ingest.workflow.models import Event, Scene, Tile


def scene_json(scene: Scene) -> dict[str, Any]:
    return {
        "id": scene.id,
        "source_id": scene.source_id,
        "aoi": scene.aoi,
        "data": scene.data,
        "status": scene.status.value,
        "message": scene.message,
        "RetryCountDown": scene.retry_countdown,
    }


def tile_json(tile: Tile) -> dict[str, Any]:
    return {
        "id": tile.id,
        "source_id": tile.source_id,
        "scene": {
            "id": tile.scene_id,
            "source_id": tile.scene_source_id,
            "aoi": tile.aoi,
            "data": tile.scene_data,
        },
        "data": tile.data,
        "status": tile.status.value,
        "message": tile.message,
        "PreviousID": tile.previous_id,
        "ReferenceID": tile.reference_id,
        "RetryCountDown": tile.retry_countdown,
    }


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "aoi": event.aoi,
        "entity": event.entity,
        "entity_id": event.entity_id,
        "at": event.at.isoformat(),
        "from_status": event.from_status.value if event.from_status else None,
        "to_status": event.to_status.value,
        "message": event.message,
        "actor": event.actor,
    }


def _geometry(wkt: str | None) -> dict[str, Any] | None:
    if not wkt:
        return None
    return dict(mapping(shapely.from_wkt(wkt)))


def scenes_feature_collection(scenes: list[Scene]) -> dict[str, Any]:
    """Scenes as GeoJSON (footprints), with the seed's JSON as properties."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": s.id, "geometry": _geometry(s.footprint), "properties": scene_json(s)}
            for s in scenes
        ],
    }


def tiles_feature_collection(tiles: list[Tile]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": t.id, "geometry": _geometry(t.footprint), "properties": tile_json(t)}
            for t in tiles
        ],
    }
