"""The scenes and tiles files (`seeds/run-a-payload.md`) as one model, on geojson-pydantic.

The catalogue writes them with it, reads them back with it after hand edits, and the API
answers and takes them with it (its OpenAPI schemas come from here). Scenes: a
FeatureCollection, one feature per scene, properties exactly `aoi`, `data`, `id`,
`source_id`, `tags`, `wkt`. Tiles: the same scene features, each with a `tiles` list
(upstream's `{SourceID, SceneID, Date, id, data, wkt, previous, reference}`) and a
MultiPolygon of the scene and its tiles; tiles already in the workflow that a backfill
re-wires are listed in `relinks`.

Files are input: reading accepts upstream's older spellings (`Tags`, `GeometryWKT`, `Tiles`,
`Previous`...), bounds names, ids and tag counts, and source ids must be names (they become
paths). Each type below says in its own words what is wrong, so that one error names every
bad field of a file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import shapely
from geojson_pydantic import Feature, FeatureCollection
from geojson_pydantic.geometries import Geometry
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    StrictBool,
    WithJsonSchema,
    model_serializer,
)
from pydantic_core import PydanticCustomError

from geocube_ingest.catalogue.dates import parse_datetime, rfc3339
from geocube_ingest.payload import MAX_KEY, MAX_VALUE

MAX_SOURCE_ID = 512
MAX_TAGS = 200
MAX_ID = 2**31 - 1


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("catalogue_file", message)


def _name(value: Any) -> str:
    """A source id names folders and files of the storage: a plain name."""
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value):
        raise _problem("required, a non-empty string")
    text = str(value)
    if len(text) > MAX_SOURCE_ID or any(c in text for c in "/\\") or text in (".", ".."):
        raise _problem(f"a name of at most {MAX_SOURCE_ID} characters without '/' or '\\'")
    return text


def _date(value: Any) -> datetime:
    if value in (None, ""):
        raise _problem("required date is missing")
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError):
        shown = repr(value) if len(repr(value)) <= 60 else "the value"
        raise _problem(f"{shown} is not an RFC 3339 date-time") from None


def _optional_date(value: Any) -> datetime | None:
    return None if value in (None, "") else _date(value)


def _id(value: Any) -> int:
    """An id given in a file (0 when absent): a whole number in the database's range."""
    if value in (None, "", 0):
        return 0
    try:
        number = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else -1
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_ID:
        raise _problem(f"expected an id between 0 and {MAX_ID}")
    return number


def _string_map(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _problem("expected an object")
    if len(value) > MAX_TAGS:
        raise _problem(f"at most {MAX_TAGS} entries")
    out = {str(k): "" if v is None else str(v) for k, v in value.items()}
    if any(len(k) > MAX_KEY or len(v) > MAX_VALUE for k, v in out.items()):
        raise _problem(f"keys have at most {MAX_KEY} characters, values {MAX_VALUE}")
    return out


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _wkt(value: Any) -> str:
    if not value:
        return ""
    try:
        shapely.from_wkt(str(value))
    except shapely.errors.ShapelyError:
        raise _problem("invalid WKT") from None
    return str(value)


def _object(message: str) -> Callable[[Any], dict[str, Any]]:
    def check(value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _problem(message)
        return value

    return check


def _storage_uri(value: Any) -> str:
    if not isinstance(value or "", str):
        raise _problem("expected a string")
    return str(value or "")


SourceId = Annotated[
    str,
    BeforeValidator(_name),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_SOURCE_ID, "pattern": r"^[^/\\]+$"}),
]
Date = Annotated[
    datetime,
    BeforeValidator(_date),
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "description": "RFC 3339 date-time.", "examples": ["2022-01-04T10:34:31Z"]}),
]
OptionalDate = Annotated[
    datetime | None,
    BeforeValidator(_optional_date),
    PlainSerializer(lambda d: rfc3339(d) if d is not None else None, return_type=str | None),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}], "description": "RFC 3339 date-time."}),
]
Id = Annotated[int, BeforeValidator(_id), WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_ID})]
StringMap = Annotated[
    dict[str, str],
    BeforeValidator(_string_map),
    WithJsonSchema({"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": MAX_TAGS}),
]
Text = Annotated[str, BeforeValidator(_text)]
Wkt = Annotated[str, BeforeValidator(_wkt)]


def _sometimes_absent(*names: str) -> Callable[[dict[str, Any]], None]:
    """Answers always carry every field but these: the schema of answers says so (requests need less)."""

    def edit(schema: dict[str, Any]) -> None:
        required = [name for name in schema.get("required", []) if name not in names]
        if required:
            schema["required"] = required
        else:
            schema.pop("required", None)

    return edit


def _config(*sometimes_absent: str, extra: Literal["allow", "ignore"] = "allow") -> ConfigDict:
    return ConfigDict(
        extra=extra,
        json_schema_serialization_defaults_required=True,
        json_schema_extra=_sometimes_absent("bbox", *sometimes_absent),
    )


class CatalogSceneData(BaseModel):
    """Upstream's scene `data`; other keys (e.g. `instances_id` in an edited file) are kept."""

    model_config = _config("tiles")

    date: Date = Field(description="Acquisition date-time (RFC 3339).")
    graph_config: StringMap = Field(default_factory=dict, description="Copied from the payload.")
    graph_name: Text = Field(default="", description="The scene graph (default: the payload's).")
    is_retriable: Annotated[StrictBool, BeforeValidator(lambda v: False if v is None else v)] = Field(
        default=False, description="Copied from the payload."
    )
    metadata: Annotated[dict[str, Any], BeforeValidator(_object("expected an object or null"))] = Field(
        default_factory=dict,
        description="What the catalogue knows: download_link, assets {name: {href}}, annotations; links are "
        "followed with the schemes and folders the operator allows.",
    )
    record_id: Text = Field(default="", description="Empty until the record is created.")
    storage_uri: Annotated[str, BeforeValidator(_storage_uri)] = Field(
        default="", description="Under a storage root the operator allows (default: the payload's)."
    )
    uuid: Text = Field(default="", description="Unique id of the product in the catalogue.")
    tiles: Annotated[dict[str, Any], BeforeValidator(_object("expected an object"))] | None = Field(
        default=None, description="Tiles files only: tile source id -> {swath_id, tile_nr}."
    )


class CatalogSceneProperties(BaseModel):
    model_config = _config()

    aoi: Text = Field(default="", description="The AOI, copied from `payload.name`.")
    data: CatalogSceneData = Field(validation_alias=AliasChoices("data", "Data"))
    id: Id = Field(
        default=0,
        validation_alias=AliasChoices("id", "ID"),
        description="0: the workflow gives ids when the scene is posted.",
    )
    source_id: SourceId = Field(validation_alias=AliasChoices("source_id", "SourceID"), description="Product name.")
    tags: StringMap = Field(
        default_factory=dict,
        validation_alias=AliasChoices("tags", "Tags"),
        description="Tags of the record the scene is indexed with.",
    )
    wkt: Wkt = Field(
        default="",
        validation_alias=AliasChoices("wkt", "GeometryWKT"),
        description="Footprint in WKT, EPSG:4326 (or give the feature's geometry).",
    )


class CatalogTileRef(BaseModel):
    """A tile named by its scene (upstream's TileLite)."""

    model_config = _config(extra="ignore")

    SourceID: SourceId = Field(validation_alias=AliasChoices("SourceID", "source_id"))
    SceneID: SourceId = Field(validation_alias=AliasChoices("SceneID", "scene_id"))
    Date: OptionalDate = Field(default=None, validation_alias=AliasChoices("Date", "date"))


class CatalogTileEntry(BaseModel):
    model_config = _config()

    SourceID: SourceId = Field(
        validation_alias=AliasChoices("SourceID", "source_id"),
        description="Location key: ESA burst id (S1), MGRS tile (S2), path-row (Landsat).",
    )
    SceneID: SourceId | None = Field(
        default=None,
        validation_alias=AliasChoices("SceneID", "scene_id"),
        description="Source id of its scene (default, in a scene feature: that scene).",
    )
    Date: OptionalDate = Field(
        default=None, validation_alias=AliasChoices("Date", "date"), description="Default: its scene's date."
    )
    id: Id = Field(
        default=0,
        validation_alias=AliasChoices("id", "ID"),
        description="Workflow id of a tile already ingested (relinks); 0 otherwise.",
    )
    data: Annotated[dict[str, Any], BeforeValidator(_object("expected an object"))] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("data", "Data"),
        description="swath_id, tile_nr, graph_name, is_retriable, location, burst ids...",
    )
    wkt: Wkt = Field(default="", validation_alias=AliasChoices("wkt", "GeometryWKT"))
    previous: CatalogTileRef | None = Field(
        default=None,
        validation_alias=AliasChoices("previous", "Previous"),
        description="Tile acquired just before at the same place.",
    )
    reference: CatalogTileRef | None = Field(
        default=None,
        validation_alias=AliasChoices("reference", "Reference"),
        description="First tile of this time series.",
    )


class CatalogTileSceneProperties(CatalogSceneProperties):
    tiles: list[CatalogTileEntry] = Field(default_factory=list, validation_alias=AliasChoices("tiles", "Tiles"))


class _Feature(BaseModel):
    """Members in upstream's order (type, id, geometry, properties), absent ones left out as GeoJSON asks."""

    # Unannotated return (as geojson-pydantic's): the schema of what is written stays the model's own.
    @model_serializer(mode="wrap")
    def clean_model(self, serializer: SerializerFunctionWrapHandler, info: SerializationInfo):  # type: ignore[no-untyped-def]
        data: dict[str, Any] = serializer(self)
        if info.mode_is_json():
            data = {k: v for k, v in data.items() if not (k in ("bbox", "id") and v is None)}
        first: dict[str, Any] = {k: data.pop(k) for k in ("type", "id", "geometry", "properties") if k in data}
        return {**first, **data}


class CatalogSceneFeature(_Feature, Feature[Geometry, CatalogSceneProperties]):
    model_config = _config()

    type: Literal["Feature"] = "Feature"
    geometry: Geometry | None = Field(default=None, description="Footprint (GeoJSON, EPSG:4326).")
    properties: CatalogSceneProperties


class CatalogTileSceneFeature(_Feature, Feature[Geometry, CatalogTileSceneProperties]):
    model_config = _config()

    type: Literal["Feature"] = "Feature"
    geometry: Geometry | None = Field(default=None, description="MultiPolygon of the scene and its tiles.")
    properties: CatalogTileSceneProperties


class CatalogScenesFile(FeatureCollection[CatalogSceneFeature]):
    """A scenes file, as `/catalog/scenes` answers it (possibly edited: the paging members may stay or go)."""

    model_config = _config("properties")

    properties: dict[str, Any] | None = Field(default=None, description="Paging of `catalog scenes` (CLI).")


class CatalogTilesFile(FeatureCollection[CatalogTileSceneFeature]):
    """A tiles file, as `/catalog/tiles` answers it: one feature per scene with its tiles."""

    model_config = _config("properties", "relinks")

    relinks: list[CatalogTileEntry] | None = Field(
        default=None, description="Tiles already in the workflow that a backfill re-wires (absent when none)."
    )
    properties: dict[str, Any] | None = Field(default=None, description="Paging of `catalog tiles` (CLI).")
