"""The payload: one ingestion described as a GeoJSON document with extra keys (SPEC section 3).

Accepted shapes, as people write them:
- a Feature whose extra keys sit at the top level (upstream's files) or in `properties`;
- a FeatureCollection (its polygons are merged into one MultiPolygon);
- a bare geometry with the extra keys beside `type`/`coordinates`;
- any of them with `wkt` instead of a geometry.
Unknown keys are rejected, and every problem names its field. Everything is bounded (names,
counts, vertices, dates, retries): a payload is input, and what it holds ends in databases,
paths and catalogue queries.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import shapely
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geocube_ingest import json_input
from geocube_ingest.errors import FieldError, PayloadError

NAME_PATTERN = r"^[a-zA-Z0-9\-:_]+$"
# Bounds of input (the API path takes AOI names of 255 characters; graph names become file names).
MAX_AOI_NAME = 255
MAX_GRAPH_NAME_BYTES = 255
MAX_RETRY_COUNT = 1000
MAX_MAP_ENTRIES = 100  # graph_config, record_tags, layers, scene_type.parameters
MAX_KEY = 255
MAX_VALUE = 4096
MAX_URLS = 20
MAX_URL = 2048
MAX_VERTICES = 100_000
MAX_PAGE = 1_000_000
MAX_LIMIT = 100_000
# What the JSON schema says of `geometry` (a Polygon or MultiPolygon in longitude/latitude; any
# GeoJSON geometry of areas, or WKT in `wkt`, is read as well).
_POSITION = {
    "type": "array",
    "items": {"type": "number", "minimum": -180, "maximum": 180},
    "minItems": 2,
    "maxItems": 3,
}
_RING = {"type": "array", "items": _POSITION, "minItems": 4}
AREA_SCHEMA: dict[str, Any] = {
    "description": "The AOI: a GeoJSON Polygon or MultiPolygon in EPSG:4326 (longitude, latitude).",
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"const": "Polygon"},
                "coordinates": {"type": "array", "items": _RING, "minItems": 1},
            },
        },
        {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"const": "MultiPolygon"},
                "coordinates": {"type": "array", "items": {"type": "array", "items": _RING, "minItems": 1}},
            },
        },
    ],
}
# Acquisitions and catalogues live between these; outside them date arithmetic overflows.
EARLIEST = datetime(1950, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
CLOUD_RANGE = re.compile(r"^\s*\[\s*(\d+(?:\.\d+)?)\s+TO\s+(\d+(?:\.\d+)?)\s*\]\s*$", re.IGNORECASE)
GEOJSON_GEOMETRY_TYPES = {
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}
# GeoJSON members that are part of the document's shape rather than payload fields.
GEOJSON_MEMBERS = {"type", "properties", "features", "coordinates", "geometries", "bbox", "id", "crs"}


class Constellation(StrEnum):
    SENTINEL1 = "SENTINEL1"
    SENTINEL2 = "SENTINEL2"
    LANDSAT89 = "LANDSAT89"

    @classmethod
    def parse(cls, value: str) -> Constellation:
        key = re.sub(r"[\s_\-]", "", str(value)).upper()
        aliases = {
            "SENTINEL1": cls.SENTINEL1,
            "S1": cls.SENTINEL1,
            "SENTINEL2": cls.SENTINEL2,
            "S2": cls.SENTINEL2,
            "LANDSAT89": cls.LANDSAT89,
            "LANDSAT8": cls.LANDSAT89,
            "LANDSAT9": cls.LANDSAT89,
            "LANDSAT": cls.LANDSAT89,
            "L89": cls.LANDSAT89,
        }
        if key not in aliases:
            raise ValueError(f"unknown constellation {value!r} (expected sentinel1, sentinel2 or landsat89)")
        return aliases[key]


# Catalogue filters of the payload, and the defaults upstream applies per constellation.
KNOWN_PARAMETERS = (
    "producttype",
    "polarisationmode",
    "sensoroperationalmode",
    "relativeorbitnumber",
    "cloudcoverpercentage",
    "platformname",
    "filename",
)
DEFAULT_PARAMETERS: dict[Constellation, dict[str, str]] = {
    Constellation.SENTINEL1: {"producttype": "SLC", "polarisationmode": "VV VH", "sensoroperationalmode": "IW"},
    Constellation.SENTINEL2: {"producttype": "L1C"},
    Constellation.LANDSAT89: {},
}


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value)
        if len(text) > MAX_VALUE:
            raise ValueError(f"values have at most {MAX_VALUE} characters")
        return text
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _bounded_map(value: Any) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ValueError("expected an object")
    if len(value) > MAX_MAP_ENTRIES:
        raise ValueError(f"at most {MAX_MAP_ENTRIES} entries")
    for key in value:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise ValueError(f"keys have 1 to {MAX_KEY} characters")
    return value


class SceneType(BaseModel):
    model_config = ConfigDict(extra="forbid")

    constellation: Constellation
    parameters: dict[str, str] = Field(default_factory=dict)

    @field_validator("constellation", mode="before")
    @classmethod
    def _constellation(cls, value: Any) -> Constellation:
        return Constellation.parse(value)

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters(cls, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("expected an object of filter name to value")
        _bounded_map(value)
        out: dict[str, str] = {}
        for key, raw in value.items():
            name = str(key).strip().lower()
            if name not in KNOWN_PARAMETERS:
                raise ValueError(f"unknown filter {key!r} (known: {', '.join(KNOWN_PARAMETERS)})")
            text = _stringify(raw).strip()
            if name == "cloudcoverpercentage":
                _check_cloud_range(text)
            if name == "relativeorbitnumber" and not all(p.strip().isdigit() for p in re.split(r"[,\s]+", text) if p):
                raise ValueError(f"relativeorbitnumber {text!r}: expected orbit numbers")
            out[name] = text
        return out

    def effective_parameters(self) -> dict[str, str]:
        """The filters with the constellation's defaults filled in."""
        return {**DEFAULT_PARAMETERS[self.constellation], **self.parameters}


def _check_cloud_range(text: str) -> tuple[float, float]:
    match = CLOUD_RANGE.match(text)
    if not match:
        raise ValueError(f"cloudcoverpercentage {text!r}: expected '[MIN TO MAX]', e.g. '[0 TO 30]'")
    low, high = float(match.group(1)), float(match.group(2))
    if not 0 <= low <= high <= 100:
        raise ValueError(f"cloudcoverpercentage {text!r}: expected 0 <= MIN <= MAX <= 100")
    return low, high


def cloud_cover_range(text: str) -> tuple[float, float]:
    """Parse a `[a TO b]` filter (already validated in a payload)."""
    return _check_cloud_range(text)


class LayerRef(BaseModel):
    """Where a graph output goes in the index: a variable+instance pair, or an instance id."""

    model_config = ConfigDict(extra="forbid")

    variable: str | None = Field(None, max_length=MAX_KEY)
    instance: str | None = Field(None, max_length=MAX_KEY)
    instance_id: str | None = Field(None, max_length=MAX_KEY)

    @model_validator(mode="after")
    def _one_form(self) -> LayerRef:
        if self.instance_id:
            if self.variable or self.instance:
                raise ValueError("give either instance_id, or variable and instance, not both")
        elif not (self.variable and self.instance):
            raise ValueError("needs variable and instance (or instance_id)")
        return self


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise ValueError(f"{shown!r} is not an RFC 3339 date-time (e.g. 2022-01-01T00:00:00Z)") from None
    else:
        raise ValueError("expected an RFC 3339 date-time string")
    # Times without an offset are taken as UTC, the convention of every catalogue.
    try:
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        parsed = datetime.min.replace(tzinfo=UTC)
    if not EARLIEST <= parsed <= LATEST:
        raise ValueError(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return parsed


class Payload(BaseModel):
    """One ingestion. Build it with `Payload.parse(...)` to accept every GeoJSON shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=MAX_AOI_NAME)
    geometry: Annotated[dict[str, Any], WithJsonSchema(AREA_SCHEMA)]
    start_time: datetime
    end_time: datetime
    scene_type: SceneType
    scene_graph_name: str = Field(min_length=1)
    tile_graph_name: str = Field(min_length=1)
    graph_config: dict[str, str] = Field(default_factory=dict)
    layers: dict[str, LayerRef] = Field(default_factory=dict, max_length=MAX_MAP_ENTRIES)
    record_tags: dict[str, str] = Field(default_factory=dict)
    annotations_urls: list[str] = Field(default_factory=list, max_length=MAX_URLS)
    is_retriable: bool = False
    retry_count: int = Field(0, ge=0, le=MAX_RETRY_COUNT)
    storage_uri: str | None = Field(None, max_length=MAX_URL)
    page: int | None = Field(None, ge=0, le=MAX_PAGE)
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT)

    @field_validator("scene_graph_name", "tile_graph_name")
    @classmethod
    def _graph_name(cls, value: str) -> str:
        if len(value.encode("utf-8")) > MAX_GRAPH_NAME_BYTES:
            raise ValueError(f"graph names have at most {MAX_GRAPH_NAME_BYTES} bytes")
        return value

    @field_validator("annotations_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        if any(not url or len(url) > MAX_URL for url in value):
            raise ValueError(f"URLs have 1 to {MAX_URL} characters")
        return value

    @field_validator("start_time", "end_time", mode="before")
    @classmethod
    def _times(cls, value: Any) -> datetime:
        return _parse_time(value)

    @field_validator("graph_config", "record_tags", mode="before")
    @classmethod
    def _string_map(cls, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("expected an object of string values")
        return {k: _stringify(v) for k, v in _bounded_map(value).items()}

    @field_validator("geometry", mode="before")
    @classmethod
    def _geometry(cls, value: Any) -> dict[str, Any]:
        return dict(mapping(_area_geometry(value)))

    @field_validator("storage_uri")
    @classmethod
    def _storage_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _interval(self) -> Payload:
        if self.start_time >= self.end_time:
            raise ValueError(
                f"start_time ({self.start_time.isoformat()}) must be before end_time ({self.end_time.isoformat()})"
            )
        return self

    @property
    def aoi(self) -> str:
        return self.name

    @property
    def shape(self) -> MultiPolygon:
        geometry = shape(self.geometry)
        return geometry if isinstance(geometry, MultiPolygon) else MultiPolygon([geometry])

    @property
    def constellation(self) -> Constellation:
        return self.scene_type.constellation

    def to_json(self) -> dict[str, Any]:
        """The canonical document (a Feature with top-level keys, as upstream writes them)."""
        body = self.model_dump(mode="json", exclude_none=True)
        return {"type": "Feature", **body}

    @field_validator("layers", mode="before")
    @classmethod
    def _layer_names(cls, value: Any) -> Any:
        return _bounded_map(value) if value is not None else value

    @classmethod
    def parse(cls, source: Any) -> Payload:
        """Build a payload from a dict, JSON text/bytes or a file path; PayloadError names every problem."""
        try:
            document = _load(source)
        except FieldError as exc:
            raise PayloadError(exc.problems) from None
        fields = _flatten(document)
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise PayloadError(_problems(exc)) from None


def _load(source: Any) -> dict[str, Any]:
    if isinstance(source, Payload):
        return source.to_json()
    if isinstance(source, Path):
        try:
            source = source.read_text()
        except OSError as exc:
            raise PayloadError([("", f"cannot read {source}: {exc.strerror}")]) from None
    if isinstance(source, (str, bytes, bytearray)):
        source = json_input.loads(source, "payload")
    else:
        json_input.check(source, "payload")
    if not isinstance(source, dict):
        raise PayloadError([("", "expected a JSON object (a GeoJSON Feature, FeatureCollection or geometry)")])
    return source


def _flatten(document: dict[str, Any]) -> dict[str, Any]:
    """Collect the payload fields from wherever this GeoJSON shape keeps them."""
    kind = document.get("type")
    if kind is not None and not isinstance(kind, str):
        raise PayloadError([("type", "expected a string (Feature, FeatureCollection or a geometry type)")])
    fields = {k: v for k, v in document.items() if k not in GEOJSON_MEMBERS}
    problems: list[tuple[str, str]] = []

    properties = document.get("properties")
    if properties is not None and not isinstance(properties, dict):
        problems.append(("properties", "expected an object or null"))
    if isinstance(properties, dict):
        for key, value in properties.items():
            if key in fields and fields[key] != value:
                problems.append((key, "given both at the top level and in properties with different values"))
            fields.setdefault(key, value)

    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list) or not features:
            problems.append(("features", "a FeatureCollection needs at least one feature"))
        else:
            geometries = [f.get("geometry") for f in features if isinstance(f, dict)]
            if "geometry" not in fields and "wkt" not in fields:
                fields["geometry"] = {"type": "GeometryCollection", "geometries": geometries}
    elif kind in GEOJSON_GEOMETRY_TYPES:
        if "geometry" in fields:
            problems.append(("geometry", "a bare geometry document cannot also have a geometry member"))
        keep = ("type", "coordinates", "geometries")
        fields["geometry"] = {k: document[k] for k in keep if k in document}
    elif kind not in (None, "Feature"):
        problems.append(("type", f"unsupported GeoJSON type {kind!r}"))

    wkt = fields.pop("wkt", None)
    if wkt is not None:
        if "geometry" in fields and fields["geometry"] is not None:
            problems.append(("wkt", "give either geometry or wkt, not both"))
        else:
            fields["geometry"] = {"wkt": wkt}
    if problems:
        raise PayloadError(problems)
    return fields


def _area_geometry(value: Any) -> MultiPolygon:
    if value is None:
        raise ValueError("missing (give a GeoJSON geometry, or WKT in 'wkt')")
    geometry: BaseGeometry
    if isinstance(value, dict) and set(value) == {"wkt"}:
        if not isinstance(value["wkt"], str) or len(value["wkt"]) > MAX_VERTICES * 50:
            raise ValueError("wkt: expected a WKT string")
        try:
            geometry = shapely.from_wkt(value["wkt"])
        except shapely.errors.ShapelyError as exc:
            raise ValueError(f"invalid WKT: {exc}") from None
    elif isinstance(value, dict):
        if _vertices(value) > MAX_VERTICES:
            raise ValueError(f"at most {MAX_VERTICES} vertices")
        try:
            geometry = shape(value)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError) as exc:
            raise ValueError(f"invalid GeoJSON geometry: {exc}") from None
    else:
        raise ValueError("expected a GeoJSON geometry object")

    polygons: list[Polygon] = []
    for part in getattr(geometry, "geoms", [geometry]):
        parts = getattr(part, "geoms", [part])
        for item in parts:
            if not isinstance(item, Polygon):
                raise ValueError(f"an AOI is an area: {item.geom_type} is not allowed (use Polygon or MultiPolygon)")
            polygons.append(item)
    if not polygons:
        raise ValueError("the geometry is empty")
    if sum(shapely.get_num_coordinates(p) for p in polygons) > MAX_VERTICES:
        raise ValueError(f"at most {MAX_VERTICES} vertices")
    merged = MultiPolygon(polygons)
    if not merged.is_valid:
        reason = shapely.is_valid_reason(merged)
        # Overlapping parts of a merged collection are fine once unioned; other defects are not.
        union = shapely.unary_union(polygons)
        if not union.is_valid or union.is_empty:
            raise ValueError(f"invalid geometry: {reason}")
        merged = union if isinstance(union, MultiPolygon) else MultiPolygon([union])
    minx, miny, maxx, maxy = merged.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ValueError(
            f"coordinates out of EPSG:4326 range (bounds {minx:g},{miny:g},{maxx:g},{maxy:g}): "
            "the geometry must be in longitude/latitude degrees"
        )
    if merged.area == 0:
        raise ValueError("the geometry has no area")
    return merged


def _vertices(value: Any) -> int:
    """Positions in a GeoJSON geometry (any shape), counted without recursion before shapely sees it."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.get(k) for k in ("coordinates", "geometries") if k in item)
        elif isinstance(item, list):
            if item and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item):
                count += 1
            else:
                stack.extend(item)
    return count


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        elif error["type"] == "string_pattern_mismatch" and loc == "name":
            message = "only letters, digits, '-', ':' and '_' are allowed"
        problems.append((loc, message))
    return problems
