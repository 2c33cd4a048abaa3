"""`list-scenes` and `list-tiles`: steps 1-2 alone, to check (and edit) before ingesting."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.common import artifact_key, services
from flows.steps import scenes_artifact
from geocube_ingest.catalogue import (
    list_tiles as catalogue_tiles,
)
from geocube_ingest.catalogue import (
    scenes_from_geojson,
    scenes_to_geojson,
    search_scenes,
    tiles_to_geojson,
)
from geocube_ingest.payload import Payload
from geocube_ingest.processing.admission import admit_graphs


def _name(kind: str) -> Any:
    from prefect.runtime import flow_run

    return lambda: f"{kind} {(flow_run.parameters.get('payload') or {}).get('name', '?')}"


@flow(name="list-scenes", flow_run_name=_name("scenes of"), description="Scenes of a payload (seed GeoJSON).")
def list_scenes(
    payload: dict[str, Any], page: int | None = None, limit: int | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    cfg, _ = services(settings)
    parsed = Payload.parse(payload)
    admit_graphs(parsed, settings=cfg, runnable=False)
    found = search_scenes(parsed, settings=cfg, page=page, limit=limit)
    scenes_artifact(parsed.name, found)
    document = scenes_to_geojson(found.scenes, parsed)
    document["next"] = found.next
    return document


@flow(name="list-tiles", flow_run_name=_name("tiles of"), description="Tiles of a payload (upstream's tiles GeoJSON).")
def list_tiles(
    payload: dict[str, Any], scenes: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    cfg, workflow = services(settings)
    parsed = Payload.parse(payload)
    given = scenes_from_geojson(scenes) if scenes is not None else None
    admit_graphs(parsed, scenes=given, settings=cfg, runnable=False)
    found = given if given is not None else search_scenes(parsed, settings=cfg).scenes
    tiles = catalogue_tiles(parsed, found, workflow=workflow, settings=cfg)
    create_table_artifact(
        key=artifact_key(parsed.name, "tiles"),
        table=[
            {
                "scene": t.scene_source_id,
                "tile": t.source_id,
                "previous": str(t.previous.key) if t.previous else "",
                "reference": str(t.reference.key) if t.reference else "",
            }
            for t in tiles
        ],
        description=f"{len(tiles)} tiles of {parsed.name}",
    )
    return tiles_to_geojson(tiles, parsed)
