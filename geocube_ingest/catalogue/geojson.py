"""Scenes and tiles as upstream's GeoJSON files (`seeds/run-a-payload.md`), written and read back.

Scenes: a FeatureCollection, one feature per scene, properties exactly `aoi`, `data`, `id`,
`source_id`, `tags`, `wkt`. Tiles: the same scene features, each with a `tiles` list (upstream's
`{SourceID, SceneID, Date, id, data, wkt, previous, reference}`, previous/reference being
`{SourceID, SceneID, Date}` or null) and a MultiPolygon of the scene and its tiles. Tiles
already in the workflow that a backfill re-wires are listed in the collection's `relinks`.
Files are meant to be edited by hand and posted back, so reading accepts upstream's older
spellings (`Tags`, `GeometryWKT`, `Tiles`, `Previous`...) and names every bad field. They are
input: names, ids and tag counts are bounded, and source ids must be names (they become paths).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geocube_ingest import json_input
from geocube_ingest.catalogue.dates import parse_datetime, rfc3339
from geocube_ingest.catalogue.models import SCENE_DATA_KEYS, CatalogueScene, CatalogueTile, TileRef
from geocube_ingest.errors import FieldError
from geocube_ingest.payload import MAX_KEY, MAX_VALUE, Payload

MAX_SOURCE_ID = 512
MAX_TAGS = 200
MAX_ID = 2**31 - 1


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
    if isinstance(document, str | bytes | bytearray):
        document = json_input.loads(document, what)
    else:
        json_input.check(document, what)
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
    except (ValueError, OverflowError):
        shown = repr(value) if len(repr(value)) <= 60 else "the value"
        problems.add(field, f"{shown} is not an RFC 3339 date-time")
        return None


def _id(value: Any, field: str, problems: _Problems) -> int:
    """An id given in a file (0 when absent): a whole number in the database's range."""
    if value in (None, "", 0):
        return 0
    try:
        number = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else -1
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_ID:
        problems.add(field, f"expected an id between 0 and {MAX_ID}")
        return 0
    return number


def _name(value: Any, field: str, problems: _Problems) -> str | None:
    """A source id: it names folders and files of the storage, so it is a plain name."""
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        problems.add(field, "required, a non-empty string")
        return None
    text = str(value)
    if len(text) > MAX_SOURCE_ID or any(c in text for c in "/\\") or text in (".", ".."):
        problems.add(field, f"a name of at most {MAX_SOURCE_ID} characters without '/' or '\\'")
        return None
    return text


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
    if len(value) > MAX_TAGS:
        problems.add(field, f"at most {MAX_TAGS} entries")
        return {}
    out = {str(k): "" if v is None else str(v) for k, v in value.items()}
    if any(len(k) > MAX_KEY or len(v) > MAX_VALUE for k, v in out.items()):
        problems.add(field, f"keys have at most {MAX_KEY} characters, values {MAX_VALUE}")
        return {}
    return out


def _scene(feature: Any, where: str, problems: _Problems) -> CatalogueScene | None:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        problems.add(where, "expected a Feature with properties")
        return None
    props = feature["properties"]
    at = f"{where}.properties"
    source_id = _name(_get(props, "source_id", "SourceID"), f"{at}.source_id", problems)
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
    if not isinstance(data.get("storage_uri") or "", str):
        problems.add(f"{at}.data.storage_uri", "expected a string")
    scene_id = _id(_get(props, "id", "ID", default=0), f"{at}.id", problems)
    if date is None or source_id is None:
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
    if not _get(value, "SourceID", "source_id") or not _get(value, "SceneID", "scene_id"):
        problems.add(field, "needs SourceID and SceneID")
        return None
    tile = _name(_get(value, "SourceID", "source_id"), f"{field}.SourceID", problems)
    scene = _name(_get(value, "SceneID", "scene_id"), f"{field}.SceneID", problems)
    if tile is None or scene is None:
        return None
    date = _get(value, "Date", "date")
    return TileRef(scene, tile, _date(date, f"{field}.Date", problems) if date else None)


def _tile(raw: Any, field: str, scene: CatalogueScene | None, problems: _Problems) -> CatalogueTile | None:
    if not isinstance(raw, dict):
        problems.add(field, "expected a tile object")
        return None
    if not _get(raw, "SourceID", "source_id") or not (_get(raw, "SceneID", "scene_id") or scene):
        problems.add(field, "needs SourceID and SceneID")
        return None
    source_id = _name(_get(raw, "SourceID", "source_id"), f"{field}.SourceID", problems)
    scene_id = _name(
        _get(raw, "SceneID", "scene_id") or (scene.source_id if scene else None), f"{field}.SceneID", problems
    )
    if source_id is None or scene_id is None:
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
        source_id=source_id,
        scene_source_id=scene_id,
        date=date,
        footprint=_wkt(_get(raw, "wkt", "GeometryWKT"), f"{field}.wkt", problems),
        data=dict(data),
        previous=_ref(_get(raw, "previous", "Previous"), f"{field}.previous", problems),
        reference=_ref(_get(raw, "reference", "Reference"), f"{field}.reference", problems),
        scene=scene,
        ingested=scene is None,
        id=_id(_get(raw, "id", "ID", default=0), f"{field}.id", problems),
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
