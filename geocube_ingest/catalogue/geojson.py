"""Scenes and tiles as upstream's GeoJSON files, written and read back through their model (`documents.py`).

Files are meant to be edited by hand and posted back: reading names every bad field in one
error (a FieldError), in the words of the model's types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import shapely
from pydantic import ValidationError
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geocube_ingest import json_input
from geocube_ingest.catalogue.documents import (
    CatalogSceneData,
    CatalogSceneFeature,
    CatalogSceneProperties,
    CatalogScenesFile,
    CatalogTileEntry,
    CatalogTileRef,
    CatalogTileSceneFeature,
    CatalogTileSceneProperties,
    CatalogTilesFile,
)
from geocube_ingest.catalogue.models import SCENE_DATA_KEYS, CatalogueScene, CatalogueTile, TileRef
from geocube_ingest.errors import FieldError
from geocube_ingest.payload import Payload

# -- writing ------------------------------------------------------------------------------------


def _geometry(geometry: BaseGeometry | None, *, single: bool = True) -> dict[str, Any] | None:
    """GeoJSON of a footprint (a MultiPolygon of one part as a Polygon, when `single`), validated by the feature."""
    if geometry is None or geometry.is_empty:
        return None
    if single and isinstance(geometry, MultiPolygon) and len(geometry.geoms) == 1:
        geometry = geometry.geoms[0]
    return dict(mapping(geometry))


def scene_properties(scene: CatalogueScene, payload: Payload | None = None) -> CatalogSceneProperties:
    return CatalogSceneProperties(
        aoi=scene.aoi or (payload.name if payload else ""),
        data=_scene_data(scene),
        id=scene.id,
        source_id=scene.source_id,
        tags=dict(sorted(scene.tags.items())),
        wkt=scene.wkt,
    )


def _scene_data(scene: CatalogueScene, tiles: dict[str, dict[str, Any]] | None = None) -> CatalogSceneData:
    data = scene.data
    if tiles is not None:
        data["tiles"] = tiles
    return CatalogSceneData.model_validate(data)


def _dump(document: CatalogScenesFile | CatalogTilesFile) -> dict[str, Any]:
    # Unset members stay out (a scene's `tiles`, `relinks`...): the files are upstream's, member for member.
    return document.model_dump(mode="json", exclude_unset=True)


def scenes_to_geojson(
    scenes: Sequence[CatalogueScene], payload: Payload | None = None, *, properties: dict[str, str] | None = None
) -> dict[str, Any]:
    """The scenes file of `/catalog/scenes`; `properties` (e.g. paging) go on the collection."""
    document = CatalogScenesFile(
        type="FeatureCollection",
        features=[
            CatalogSceneFeature.model_validate(
                {
                    "type": "Feature",
                    "id": i,
                    "geometry": _geometry(s.footprint),
                    "properties": scene_properties(s, payload),
                }
            )
            for i, s in enumerate(scenes)
        ],
    )
    if properties:
        document.properties = dict(properties)
    return _dump(document)


def _ref(ref: TileRef | None) -> CatalogTileRef | None:
    if ref is None:
        return None
    return CatalogTileRef(SourceID=ref.tile, SceneID=ref.scene, Date=ref.date)


def _tile_entry(tile: CatalogueTile) -> CatalogTileEntry:
    return CatalogTileEntry(
        SourceID=tile.source_id,
        SceneID=tile.scene_source_id,
        Date=tile.date,
        id=tile.id,
        data=dict(tile.data),
        wkt=tile.footprint.wkt if tile.footprint is not None else "",
        previous=_ref(tile.previous),
        reference=_ref(tile.reference),
    )


def tile_mapping(tiles: Iterable[CatalogueTile]) -> dict[str, dict[str, Any]]:
    """The scene's `data.tiles`: tile source id -> {swath_id, tile_nr}."""
    return {t.source_id: {"swath_id": t.data.get("swath_id", ""), "tile_nr": t.data.get("tile_nr", 0)} for t in tiles}


def _polygons(geometry: BaseGeometry | None) -> list[Polygon]:
    if geometry is None:
        return []
    return [g for g in getattr(geometry, "geoms", [geometry]) if isinstance(g, Polygon)]


def tiles_to_geojson(
    tiles: Sequence[CatalogueTile], payload: Payload | None = None, *, properties: dict[str, str] | None = None
) -> dict[str, Any]:
    """The tiles file of `/catalog/tiles`: scene features with their tiles."""
    groups: dict[int, tuple[CatalogueScene, list[CatalogueTile]]] = {}
    relinks = []
    for tile in tiles:
        if tile.ingested:
            relinks.append(tile)
            continue
        if tile.scene is None:
            raise ValueError(f"tile {tile.key} has no scene")
        groups.setdefault(id(tile.scene), (tile.scene, []))[1].append(tile)
    features = []
    for i, (scene, members) in enumerate(sorted(groups.values(), key=lambda g: (g[0].date, g[0].source_id))):
        props = scene_properties(scene, payload)
        parts = _polygons(scene.footprint) + [p for t in members for p in _polygons(t.footprint)]
        features.append(
            CatalogTileSceneFeature.model_validate(
                {
                    "type": "Feature",
                    "id": i,
                    "geometry": _geometry(MultiPolygon(parts), single=False) if parts else None,
                    "properties": CatalogTileSceneProperties(
                        **{name: getattr(props, name) for name in props.model_fields_set - {"data"}},
                        data=_scene_data(scene, tile_mapping(members)),
                        tiles=[_tile_entry(t) for t in members],
                    ),
                }
            )
        )
    document = CatalogTilesFile(type="FeatureCollection", features=features)
    if relinks:
        document.relinks = [_tile_entry(t) for t in relinks]
    if properties:
        document.properties = dict(properties)
    return _dump(document)


# -- reading ------------------------------------------------------------------------------------


def _load(document: Any, what: str) -> dict[str, Any]:
    if isinstance(document, Path):
        try:
            document = document.read_text()
        except OSError as exc:
            raise FieldError(what, [("", f"cannot read {document}: {exc.strerror}")]) from None
    if isinstance(document, str | bytes | bytearray):
        document = json_input.loads(document, what)
    else:
        json_input.check(document, what)
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise FieldError(what, [("type", "expected a GeoJSON FeatureCollection")])
    if not isinstance(document.get("features"), list):
        raise FieldError(what, [("features", "expected a list of features")])
    return document


_File = TypeVar("_File", CatalogScenesFile, CatalogTilesFile)

# Pydantic's own errors, in the words of the files' readers.
_MESSAGES = {
    "missing": "required",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected a list",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
}
_REQUIRED = {
    "source_id": "required, a non-empty string",
    "SourceID": "required, a non-empty string",
    "SceneID": "required, a non-empty string",
    "date": "required date is missing",
    "Date": "required date is missing",
}


def _field(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, reason) of each error, geometry errors (one per kind of geometry tried) as one."""
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        if len(loc) > 2 and loc[2] == "geometry":
            problem = (_field(loc[:3]), "invalid GeoJSON geometry")
        elif len(loc) == 2 or (len(loc) == 3 and loc[2] == "properties" and error["type"] in ("missing", "model_type")):
            problem = (_field(loc[:2]), "expected a Feature with properties")
        elif error["type"] == "missing":
            problem = (_field(loc), _REQUIRED.get(str(loc[-1]), "required"))
        else:
            problem = (_field(loc), _MESSAGES.get(error["type"], error["msg"]))
        if problem not in problems:
            problems.append(problem)
    return problems


def _validated(model: type[_File], document: Any, what: str) -> _File:
    try:
        return model.model_validate(_load(document, what))
    except ValidationError as exc:
        raise FieldError(what, _problems(exc)[:20]) from None


def _scene(feature: CatalogSceneFeature | CatalogTileSceneFeature) -> CatalogueScene:
    props = feature.properties
    footprint: BaseGeometry | None = shapely.from_wkt(props.wkt) if props.wkt else None
    if footprint is None and feature.geometry is not None:
        footprint = shape(feature.geometry)
    data = props.data
    return CatalogueScene(
        source_id=props.source_id,
        date=data.date,
        footprint=footprint,
        uuid=data.uuid,
        tags=props.tags,
        metadata=data.metadata,
        aoi=props.aoi,
        id=props.id,
        graph_name=data.graph_name,
        graph_config=data.graph_config,
        is_retriable=data.is_retriable,
        record_id=data.record_id,
        storage_uri=data.storage_uri,
        tiles={str(k): dict(v) if isinstance(v, dict) else {} for k, v in (data.tiles or {}).items()},
        extra={k: v for k, v in (data.model_extra or {}).items() if k not in SCENE_DATA_KEYS},
    )


def scenes_from_geojson(document: Any) -> list[CatalogueScene]:
    """Scenes of a scenes (or tiles) file; FieldError names every bad field."""
    return [_scene(feature) for feature in _validated(CatalogScenesFile, document, "scenes").features]


def _tile_ref(ref: CatalogTileRef | None) -> TileRef | None:
    return TileRef(ref.SceneID, ref.SourceID, ref.Date) if ref is not None else None


def _tile(
    entry: CatalogTileEntry, scene: CatalogueScene | None, field: str, problems: list[tuple[str, str]]
) -> CatalogueTile:
    """A tile of a scene feature (its scene fills what it leaves out), or a re-wired one (`scene` None)."""
    scene_id = entry.SceneID or (scene.source_id if scene else None)
    date = entry.Date or (scene.date if scene else None)
    if scene_id is None:
        problems.append((f"{field}.SceneID", "required, a non-empty string"))
    if date is None:
        problems.append((f"{field}.Date", "required date is missing"))
    return CatalogueTile(
        source_id=entry.SourceID,
        scene_source_id=scene_id or "",
        date=date or datetime.min,
        footprint=shapely.from_wkt(entry.wkt) if entry.wkt else None,
        data=dict(entry.data),
        previous=_tile_ref(entry.previous),
        reference=_tile_ref(entry.reference),
        scene=scene,
        ingested=scene is None,
        id=entry.id,
    )


def tiles_from_geojson(document: Any) -> list[CatalogueTile]:
    """Tiles of a tiles file (each tile's `scene` is its parsed scene feature), then the re-wired ones."""
    parsed = _validated(CatalogTilesFile, document, "tiles")
    problems: list[tuple[str, str]] = []
    tiles: list[CatalogueTile] = []
    for i, feature in enumerate(parsed.features):
        scene = _scene(feature)
        members = [
            _tile(entry, scene, f"features[{i}].properties.tiles[{j}]", problems)
            for j, entry in enumerate(feature.properties.tiles)
        ]
        if members:
            scene.tiles = tile_mapping(members)
        tiles += members
    for j, entry in enumerate(parsed.relinks or []):
        tiles.append(_tile(entry, None, f"relinks[{j}]", problems))
    if problems:
        raise FieldError("tiles", problems[:20])
    return tiles
