"""Bodies and answers of the REST API, spelled as upstream's (`seeds/monitoring.md`).

Responses are built by `geocube_ingest.workflow.serialize` and validated against these
models, so the OpenAPI schema is the truth about what goes over the wire. `data` stays a
free JSON object: catalogues and graphs add keys the workflow does not interpret.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator

from geocube_ingest import json_input
from geocube_ingest.payload import MAX_RETRY_COUNT
from geocube_ingest.status import Status

MAX_NAME = 512
# Source ids name folders and files of the storage: one path segment.
SOURCE_ID_PATTERN = r"^[^/\\\x00]+$"

SCENE_DATA_DOC = (
    "Scene attributes used by the ingester: uuid, date (RFC 3339), tiles {tile: {swath_id, tile_nr}}, "
    "graph_name, graph_config, record_id, instances_id, metadata, is_retriable, storage_uri."
)
TILE_DATA_DOC = "Tile attributes used by the processor: swath_id, tile_nr, graph_name, is_retriable, ..."


def check_json_value(value: Any, where: str = "data") -> Any:
    """Reject what the databases cannot store (NUL characters, non-finite or huge numbers) and deep nesting."""
    found = json_input.problems(value, where=where)
    if found:
        path, reason = found[0]
        raise ValueError(f"{path}: {reason}")
    return value


def check_wkt(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    check_json_value(value, "wkt")
    try:
        geometry = shapely.from_wkt(value)
    except Exception:
        raise ValueError("wkt: not a valid WKT geometry") from None
    if geometry is None or geometry.is_empty:
        raise ValueError("wkt: empty geometry")
    return value


# -- responses ------------------------------------------------------------------------


class ErrorProblem(BaseModel):
    field: str
    reason: str


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in one line.")
    problems: list[ErrorProblem] | None = Field(default=None, description="Each bad field, for invalid input.")


class HealthOut(BaseModel):
    status: Literal["ok"]
    service: str
    version: str


class SceneOut(BaseModel):
    """A scene as upstream's workflow server shows it."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    source_id: str
    aoi: str
    data: dict[str, Any] = Field(description=SCENE_DATA_DOC)
    status: Status
    message: str
    retry_countdown: int = Field(alias="RetryCountDown", description="Automatic retries left.")


class TileSceneOut(BaseModel):
    id: int
    source_id: str
    aoi: str
    data: dict[str, Any] = Field(description=SCENE_DATA_DOC)


class TileOut(BaseModel):
    """A tile as upstream's workflow server shows it (`PreviousID`/`ReferenceID` spelled as there)."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    source_id: str
    scene: TileSceneOut
    data: dict[str, Any] = Field(description=TILE_DATA_DOC)
    status: Status
    message: str
    previous_id: int | None = Field(alias="PreviousID", description="Tile acquired just before at the same place.")
    reference_id: int | None = Field(alias="ReferenceID", description="First tile of this time series.")
    retry_countdown: int = Field(alias="RetryCountDown", description="Automatic retries left.")


class EventOut(BaseModel):
    """One line of a scene's or tile's history."""

    id: int
    aoi: str
    entity: Literal["scene", "tile"]
    entity_id: int
    at: datetime
    from_status: Status | None = Field(description="None for the creation of the scene/tile.")
    to_status: Status
    message: str
    actor: str = Field(description='Who made the change: "api", "cli:<user>", a worker id...')


class CountsOut(BaseModel):
    new: int
    pending: int
    done: int
    retry: int
    failed: int
    total: int


class AOIOut(BaseModel):
    """An AOI as upstream lists it (its web page reads `ID` and `status`)."""

    ID: str = Field(description="The AOI name.")
    status: Status = Field(
        description="Most urgent status of its scenes and tiles: RETRY > PENDING > NEW > DONE > FAILED "
        "(NEW while it has none, as upstream)."
    )


class AOIDetailsOut(AOIOut):
    """`AOIOut` with the counts (`?details=true`, an extension of upstream's answer)."""

    scenes: CountsOut
    tiles: CountsOut
    created_at: datetime


class AOISummaryOut(BaseModel):
    """The numbers of `GET /aoi/{aoi}` as JSON."""

    aoi: str
    status: Status | None
    scenes: CountsOut
    tiles: CountsOut
    root_tiles: int
    first_date: date | None = Field(description="First acquisition (tiles not FAILED).")
    last_date: date | None = Field(description="Last acquisition (tiles not FAILED).")


class RetryOut(BaseModel):
    """What `PUT /aoi/{aoi}/retry` changed (upstream spelling)."""

    Scenes: int
    Tiles: int


class CreatedOut(BaseModel):
    id: int


class SceneFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: dict[str, Any] | None = Field(description="Footprint (GeoJSON, EPSG:4326); null when unknown.")
    properties: SceneOut


class SceneFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[SceneFeature]


class TileFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: dict[str, Any] | None = Field(description="Footprint (GeoJSON, EPSG:4326); null when unknown.")
    properties: TileOut


class TileFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[TileFeature]


class FootprintProperties(BaseModel):
    kind: Literal["scene", "tile"]
    id: int
    source_id: str
    status: Status
    scene_id: int = Field(description="The scene itself for a scene feature.")
    date: datetime | None
    message: str


class FootprintFeature(BaseModel):
    type: Literal["Feature"]
    id: str = Field(description='"scene-<id>" or "tile-<id>"')
    geometry: dict[str, Any]
    properties: FootprintProperties


class FootprintCollection(BaseModel):
    """Every scene and tile footprint of an AOI with just what a map needs."""

    type: Literal["FeatureCollection"]
    features: list[FootprintFeature]
    bbox: list[float] | None = Field(description="[west, south, east, north] of all footprints; null when none.")
    aoi: dict[str, Any] | None = Field(
        default=None, description="The AOI's area (GeoJSON geometry) from the latest payload posted; null if unknown."
    )


# -- bodies ---------------------------------------------------------------------------


class TileToIngest(BaseModel):
    """A tile and its links, named by source ids (upstream's TileToIngest)."""

    model_config = ConfigDict(extra="forbid")

    previous_tile_id: str = Field(default="", max_length=MAX_NAME, description="Source id of the previous tile.")
    previous_scene_id: str = Field(default="", max_length=MAX_NAME, description="Source id of its scene.")
    reference_tile_id: str = Field(default="", max_length=MAX_NAME, description="Source id of the reference tile.")
    reference_scene_id: str = Field(default="", max_length=MAX_NAME, description="Source id of its scene.")
    data: dict[str, Any] = Field(default_factory=dict, description=TILE_DATA_DOC)
    wkt: str | None = Field(default=None, description="Footprint in WKT, EPSG:4326 (an extension of upstream's shape).")

    @field_validator("previous_tile_id", "previous_scene_id", "reference_tile_id", "reference_scene_id", "data")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_json_value(value)

    @field_validator("wkt")
    @classmethod
    def _wkt(cls, value: str | None) -> str | None:
        return check_wkt(value)


class SceneToIngest(BaseModel):
    """A scene with its tiles (upstream's SceneToIngest); unknown keys are refused as upstream does."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = Field(default=None, description="Must be absent or 0: the workflow gives the id.")
    source_id: str = Field(min_length=1, max_length=MAX_NAME, pattern=SOURCE_ID_PATTERN)
    aoi: str | None = Field(default=None, description="When given, must be the AOI of the path.")
    data: dict[str, Any] = Field(default_factory=dict, description=SCENE_DATA_DOC)
    tiles: dict[str, TileToIngest] = Field(min_length=1, description="Tiles by source id.")
    retry_count: int = Field(default=0, ge=0, le=MAX_RETRY_COUNT, description="Automatic retries of each task.")
    wkt: str | None = Field(default=None, description="Footprint in WKT, EPSG:4326 (an extension of upstream's shape).")

    @field_validator("source_id", "aoi", "data")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return check_json_value(value)

    @field_validator("source_id")
    @classmethod
    def _name(cls, value: str) -> str:
        if value in (".", ".."):
            raise ValueError("a name, not '.' or '..'")
        return value

    @field_validator("tiles")
    @classmethod
    def _tile_names(cls, value: dict[str, TileToIngest]) -> dict[str, TileToIngest]:
        for name in value:
            if len(name) > MAX_NAME or not re.fullmatch(SOURCE_ID_PATTERN, name) or name in (".", ".."):
                raise ValueError(f"tile source ids are names of 1 to {MAX_NAME} characters without '/' or '\\'")
            check_json_value(name, "tiles")
        return value

    @field_validator("wkt")
    @classmethod
    def _wkt(cls, value: str | None) -> str | None:
        return check_wkt(value)
