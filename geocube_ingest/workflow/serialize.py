"""Scenes and tiles in the JSON shapes of `seeds/monitoring.md` (field spellings included).

Each shape exists twice: as Python (`scene_json`, `tile_json`) for single items, and as
SQL (`scene_json_sql`, `tile_json_sql`) for lists, where the database writes the JSON of
each row: a 10,000-tile list is then a join of the rows' texts, not 10,000 decodings and
encodings in Python holding the interpreter lock (the server keeps answering meanwhile).
Tests check both give the same JSON on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import orjson
import shapely
from sqlalchemy import Cast, ColumnElement, Text, cast, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from geocube_ingest.status import Status
from geocube_ingest.workflow.models import AOIInfo, Event, Scene, StatusCounts, Tile
from geocube_ingest.workflow.tables import SceneRow, TileRow


def counts_json(counts: StatusCounts) -> dict[str, int]:
    return {**dataclasses.asdict(counts), "total": counts.total}


def aoi_json(info: AOIInfo, details: bool = False) -> dict[str, Any]:
    """Upstream's `{"ID", "status"}` (an AOI with nothing in it is NEW there); `details` adds the counts."""
    item: dict[str, Any] = {"ID": info.name, "status": (info.status or Status.NEW).value}
    if details:
        item.update(
            scenes=counts_json(info.scenes), tiles=counts_json(info.tiles), created_at=info.created_at.isoformat()
        )
    return item


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


def feature_collection(rows: Sequence[tuple[int, str | None, str]]) -> bytes:
    """GeoJSON of (id, footprint WKT, JSON properties text) rows: footprints as geometries, the JSON as properties."""
    geometries = shapely.to_geojson(shapely.from_wkt([wkt or None for _, wkt, _ in rows]))
    features = [
        {
            "type": "Feature",
            "id": item_id,
            "geometry": orjson.Fragment(geometry) if geometry is not None else None,
            "properties": orjson.Fragment(properties),
        }
        for (item_id, _, properties), geometry in zip(rows, geometries, strict=True)
    ]
    return orjson.dumps({"type": "FeatureCollection", "features": features})


# -- the same shapes, written by the database -------------------------------------------------


class json_object(FunctionElement[str]):
    """`json_object(k1, v1, ...)` (SQLite) / `json_build_object` (PostgreSQL): keys in the given order."""

    type = Text()
    inherit_cache = True


class json_value(FunctionElement[str]):
    """A JSON column embedded as JSON, not as a string (SQLite stores it as text)."""

    type = Text()
    inherit_cache = True


@compiles(json_object)
def _json_object_sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_object({compiler.process(element.clauses, **kw)})"


@compiles(json_value)
def _json_value_sqlite(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json({compiler.process(element.clauses, **kw)})"


@compiles(json_value, "postgresql")
def _json_value_postgresql(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)  # JSONB already


def _object(fields: dict[str, Any]) -> json_object:
    arguments: list[ColumnElement[Any]] = []
    for key, value in fields.items():
        assert re.fullmatch(r"[A-Za-z_]+", key)  # written into the SQL as a constant
        arguments += [literal_column(f"'{key}'"), value]
    return json_object(*arguments)


def _text(fields: dict[str, Any]) -> Cast[str]:
    # As text: drivers would decode a JSON value (psycopg does), only to have it encoded again.
    return cast(_object(fields), Text)


def scene_json_sql() -> Cast[str]:
    """`scene_json` of a SceneRow, as the text of one JSON object."""
    return _text(
        {
            "id": SceneRow.id,
            "source_id": SceneRow.source_id,
            "aoi": SceneRow.aoi_id,
            "data": json_value(SceneRow.data),
            "status": SceneRow.status,
            "message": SceneRow.message,
            "RetryCountDown": SceneRow.retry_countdown,
        }
    )


def tile_json_sql() -> Cast[str]:
    """`tile_json` of a TileRow joined to its SceneRow, as the text of one JSON object."""
    return _text(
        {
            "id": TileRow.id,
            "source_id": TileRow.source_id,
            "scene": _object(
                {
                    "id": SceneRow.id,
                    "source_id": SceneRow.source_id,
                    "aoi": SceneRow.aoi_id,
                    "data": json_value(SceneRow.data),
                }
            ),
            "data": json_value(TileRow.data),
            "status": TileRow.status,
            "message": TileRow.message,
            "PreviousID": TileRow.prev,
            "ReferenceID": TileRow.ref,
            "RetryCountDown": TileRow.retry_countdown,
        }
    )


def json_array(items: Sequence[str]) -> bytes:
    """JSON texts as one JSON array."""
    return ("[" + ",".join(items) + "]").encode()
