"""Step 3's input: catalogue scenes and tiles as the workflow's NewScene / NewTile / Relink."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from geocube_ingest.catalogue.geojson import tile_mapping
from geocube_ingest.catalogue.models import CatalogueScene, CatalogueTile
from geocube_ingest.errors import InvalidInput
from geocube_ingest.payload import Payload
from geocube_ingest.workflow.models import NewScene, NewTile, Relink


def scenes_of(tiles: Sequence[CatalogueTile]) -> list[CatalogueScene]:
    """The scenes a tiles file carries (each new tile knows its scene): `to_workflow` input without a scenes file."""
    found: dict[str, CatalogueScene] = {}
    for tile in tiles:
        if tile.scene is not None:
            found.setdefault(tile.scene.source_id, tile.scene)
    return list(found.values())


def _new_tile(tile: CatalogueTile) -> NewTile:
    if tile.reference is not None and tile.previous is None:
        raise InvalidInput(f"tile {tile.key}: a reference needs a previous tile")
    return NewTile(
        source_id=tile.source_id,
        data=dict(tile.data),
        previous=tile.previous.key if tile.previous else None,
        reference=tile.reference.key if tile.reference else None,
        footprint=tile.footprint.wkt if tile.footprint is not None else None,
    )


def to_workflow(
    payload: Payload, scenes: Sequence[CatalogueScene], tiles: Sequence[CatalogueTile]
) -> tuple[list[NewScene], list[Relink]]:
    """Scenes with their tiles (scenes without tiles are left out), and the re-wired existing tiles.

    The relinks carry no reference: the workflow recomputes references along the re-wired chains.
    """
    by_scene: dict[str, list[CatalogueTile]] = defaultdict(list)
    relinks: list[Relink] = []
    for tile in tiles:
        if tile.ingested:
            relinks.append(Relink(tile.key, tile.previous.key if tile.previous else None))
        else:
            by_scene[tile.scene_source_id].append(tile)
    known = {s.source_id for s in scenes}
    unknown = sorted(set(by_scene) - known)
    if unknown:
        raise InvalidInput(f"tiles refer to scenes that are not given: {', '.join(unknown[:5])}")
    new_scenes = []
    for scene in sorted(scenes, key=lambda s: (s.date, s.source_id)):
        members = by_scene.get(scene.source_id)
        if not members:
            continue
        data = scene.data
        data["tiles"] = tile_mapping(members)
        data["graph_name"] = data["graph_name"] or payload.scene_graph_name  # a hand-made scenes file may omit it
        data["storage_uri"] = data["storage_uri"] or payload.storage_uri or ""
        new_scenes.append(
            NewScene(
                source_id=scene.source_id,
                data=data,
                tiles=[_new_tile(t) for t in members],
                date=scene.date,
                footprint=scene.wkt or None,
                retry_countdown=payload.retry_count,
            )
        )
    return new_scenes, relinks
