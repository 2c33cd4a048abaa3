"""Scenes and tiles as upstream's GeoJSON files (`seeds/run-a-payload.md`), written and read back.

Scenes: a FeatureCollection, one feature per scene, properties exactly `aoi`, `data`, `id`,
`source_id`, `tags`, `wkt`. Tiles: the same scene features, each with a `tiles` list (upstream's
`{SourceID, SceneID, Date, id, data, wkt, previous, reference}`, previous/reference being
`{SourceID, SceneID, Date}` or null) and a MultiPolygon of the scene and its tiles. Tiles
already in the workflow that a backfill re-wires are listed in the collection's `relinks`.
Files are meant to be edited by hand and posted back, so reading accepts upstream's older
spellings (`Tags`, `GeometryWKT`, `Tiles`, `Previous`...) and names every bad field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.dates import parse_datetime, rfc3339
from geocube_ingest.catalogue.models import SCENE_DATA_KEYS, CatalogueScene, CatalogueTile, TileRef
from geocube_ingest.errors import FieldError
from geocube_ingest.payload import Payload


class _Problems:
    """Collects (field, reason) pairs so one error names every bad field of a file."""

    def __init__(self, what: str):
        self.what = what
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, reason: str) -> None:
        self.items.append((field, reason))

    def raise_if_any(self) -> None:
        if self.items:
            raise FieldError(self.what, self.items[:20])


# -- writing ------------------------------------------------------------------------------------


def _geometry(geometry: BaseGeometry | None) -> dict[str, Any] | None:
    if geometry is None:
        return None
    if isinstance(geometry, MultiPolygon) and len(geometry.geoms) == 1:
        geometry = geometry.geoms[0]
    return dict(mapping(geometry))


def scene_properties(scene: CatalogueScene, payload: Payload | None = None) -> dict[str, Any]:
    return {
        "aoi": scene.aoi or (payload.name if payload else ""),
        "data": scene.data,
        "id": scene.id,
        "source_id": scene.source_id,
        "tags": dict(sorted(scene.tags.items())),
        "wkt": scene.wkt,
    }


def scenes_to_geojson(
    scenes: Sequence[CatalogueScene], payload: Payload | None = None, *, properties: dict[str, str] | None = None
) -> dict[str, Any]:
    """The scenes file of `/catalog/scenes`; `properties` (e.g. paging) go on the collection."""
    document: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": i, "geometry": _geometry(s.footprint), "properties": scene_properties(s, payload)}
            for i, s in enumerate(scenes)
        ],
    }
    if properties:
        document["properties"] = dict(properties)
    return document


def _ref_json(ref: TileRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"SourceID": ref.tile, "SceneID": ref.scene, "Date": rfc3339(ref.date) if ref.date else None}


def tile_json(tile: CatalogueTile) -> dict[str, Any]:
    return {
        "SourceID": tile.source_id,
        "SceneID": tile.scene_source_id,
        "Date": rfc3339(tile.date),
        "id": tile.id,
        "data": dict(tile.data),
        "wkt": tile.footprint.wkt if tile.footprint is not None else "",
        "previous": _ref_json(tile.previous),
        "reference": _ref_json(tile.reference),
    }


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
        props["data"]["tiles"] = tile_mapping(members)
        props["tiles"] = [tile_json(t) for t in members]
        parts = _polygons(scene.footprint) + [p for t in members for p in _polygons(t.footprint)]
        geometry = dict(mapping(MultiPolygon(parts))) if parts else None
        features.append({"type": "Feature", "id": i, "geometry": geometry, "properties": props})
    document: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if relinks:
        document["relinks"] = [tile_json(t) for t in relinks]
    if properties:
        document["properties"] = dict(properties)
    return document


# -- reading ------------------------------------------------------------------------------------


def _load(document: Any, what: str) -> dict[str, Any]:
    if isinstance(document, Path):
        try:
            document = document.read_text()
        except OSError as exc:
            raise FieldError(what, [("", f"cannot read {document}: {exc.strerror}")]) from None
    if isinstance(document, bytes | bytearray):
        document = document.decode("utf-8", errors="replace")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise FieldError(what, [("", f"not valid JSON: {exc.msg} at line {exc.lineno}")]) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise FieldError(what, [("type", "expected a GeoJSON FeatureCollection")])
    if not isinstance(document.get("features"), list):
        raise FieldError(what, [("features", "expected a list of features")])
    return document


def _get(mapping_: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in mapping_:
            return mapping_[name]
    return default


def _date(value: Any, field: str, problems: _Problems) -> Any:
    if value in (None, ""):
        problems.add(field, "required date is missing")
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        problems.add(field, f"{value!r} is not an RFC 3339 date-time")
        return None


def _wkt(value: Any, field: str, problems: _Problems) -> BaseGeometry | None:
    if not value:
        return None
    try:
        return shapely.from_wkt(str(value))
    except shapely.errors.ShapelyError:
        problems.add(field, "invalid WKT")
        return None


def _string_map(value: Any, field: str, problems: _Problems) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(field, "expected an object")
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def _scene(feature: Any, where: str, problems: _Problems) -> CatalogueScene | None:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        problems.add(where, "expected a Feature with properties")
        return None
    props = feature["properties"]
    at = f"{where}.properties"
    source_id = _get(props, "source_id", "SourceID")
    if not isinstance(source_id, str) or not source_id:
        problems.add(f"{at}.source_id", "required, a non-empty string")
    data = _get(props, "data", "Data", default={}) or {}
    if not isinstance(data, dict):
        problems.add(f"{at}.data", "expected an object")
        data = {}
    date = _date(data.get("date"), f"{at}.data.date", problems)
    footprint = _wkt(_get(props, "wkt", "GeometryWKT"), f"{at}.wkt", problems)
    if footprint is None and feature.get("geometry"):
        try:
            footprint = shape(feature["geometry"])
        except (AttributeError, KeyError, TypeError, ValueError):
            problems.add(f"{where}.geometry", "invalid GeoJSON geometry")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        problems.add(f"{at}.data.metadata", "expected an object or null")
        metadata = {}
    tiles = data.get("tiles") or {}
    if not isinstance(tiles, dict):
        problems.add(f"{at}.data.tiles", "expected an object")
        tiles = {}
    if not isinstance(data.get("is_retriable", False), bool):
        problems.add(f"{at}.data.is_retriable", "expected true or false")
    try:
        scene_id = int(_get(props, "id", "ID", default=0) or 0)
    except (TypeError, ValueError):
        problems.add(f"{at}.id", "expected an integer")
        scene_id = 0
    if date is None or not isinstance(source_id, str) or not source_id:
        return None
    return CatalogueScene(
        source_id=source_id,
        date=date,
        footprint=footprint,
        uuid=str(data.get("uuid") or ""),
        tags=_string_map(_get(props, "tags", "Tags"), f"{at}.tags", problems),
        metadata=metadata,
        aoi=str(props.get("aoi") or ""),
        id=scene_id,
        graph_name=str(data.get("graph_name") or ""),
        graph_config=_string_map(data.get("graph_config"), f"{at}.data.graph_config", problems),
        is_retriable=bool(data.get("is_retriable", False)),
        record_id=str(data.get("record_id") or ""),
        storage_uri=str(data.get("storage_uri") or ""),
        tiles={str(k): dict(v) if isinstance(v, dict) else {} for k, v in tiles.items()},
        extra={k: v for k, v in data.items() if k not in SCENE_DATA_KEYS},
    )


def scenes_from_geojson(document: Any) -> list[CatalogueScene]:
    """Scenes of a scenes (or tiles) file; FieldError names every bad field."""
    doc = _load(document, "scenes")
    problems = _Problems("scenes")
    scenes = [_scene(f, f"features[{i}]", problems) for i, f in enumerate(doc["features"])]
    problems.raise_if_any()
    return [s for s in scenes if s is not None]


def _ref(value: Any, field: str, problems: _Problems) -> TileRef | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(field, "expected {SourceID, SceneID, Date} or null")
        return None
    tile, scene = _get(value, "SourceID", "source_id"), _get(value, "SceneID", "scene_id")
    if not tile or not scene:
        problems.add(field, "needs SourceID and SceneID")
        return None
    date = _get(value, "Date", "date")
    return TileRef(str(scene), str(tile), _date(date, f"{field}.Date", problems) if date else None)


def _tile(raw: Any, field: str, scene: CatalogueScene | None, problems: _Problems) -> CatalogueTile | None:
    if not isinstance(raw, dict):
        problems.add(field, "expected a tile object")
        return None
    source_id = _get(raw, "SourceID", "source_id")
    scene_id = _get(raw, "SceneID", "scene_id") or (scene.source_id if scene else None)
    if not source_id or not scene_id:
        problems.add(field, "needs SourceID and SceneID")
        return None
    raw_date = _get(raw, "Date", "date")
    date = _date(raw_date, f"{field}.Date", problems) if raw_date or scene is None else scene.date
    data = _get(raw, "data", "Data", default={}) or {}
    if not isinstance(data, dict):
        problems.add(f"{field}.data", "expected an object")
        data = {}
    if date is None:
        return None
    return CatalogueTile(
        source_id=str(source_id),
        scene_source_id=str(scene_id),
        date=date,
        footprint=_wkt(_get(raw, "wkt", "GeometryWKT"), f"{field}.wkt", problems),
        data=dict(data),
        previous=_ref(_get(raw, "previous", "Previous"), f"{field}.previous", problems),
        reference=_ref(_get(raw, "reference", "Reference"), f"{field}.reference", problems),
        scene=scene,
        ingested=scene is None,
        id=int(_get(raw, "id", "ID", default=0) or 0),
    )


def tiles_from_geojson(document: Any) -> list[CatalogueTile]:
    """Tiles of a tiles file (each tile's `scene` is its parsed scene feature), then the re-wired ones."""
    doc = _load(document, "tiles")
    problems = _Problems("tiles")
    tiles: list[CatalogueTile | None] = []
    for i, feature in enumerate(doc["features"]):
        scene = _scene(feature, f"features[{i}]", problems)
        raw_tiles = _get(feature.get("properties") or {}, "tiles", "Tiles", default=[]) if scene else []
        if not isinstance(raw_tiles, list):
            problems.add(f"features[{i}].properties.tiles", "expected a list")
            continue
        for j, raw in enumerate(raw_tiles):
            tiles.append(_tile(raw, f"features[{i}].properties.tiles[{j}]", scene, problems))
        if scene is not None and raw_tiles:
            scene.tiles = tile_mapping(t for t in tiles[-len(raw_tiles) :] if t is not None)
    relinks = doc.get("relinks") or []
    if not isinstance(relinks, list):
        problems.add("relinks", "expected a list")
        relinks = []
    for j, raw in enumerate(relinks):
        tiles.append(_tile(raw, f"relinks[{j}]", None, problems))
    problems.raise_if_any()
    return [t for t in tiles if t is not None]
