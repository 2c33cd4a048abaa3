"""Bodies and answers of the `/catalog/*` routes (`seeds/run-a-payload.md`).

The answers are the catalogue's own GeoJSON files (`scenes_to_geojson`, `tiles_to_geojson`)
with a few foreign members at the top level (`next`, `page`, `limit`, `provider`,
`warnings`), which GeoJSON allows and which the file readers ignore, so an answer can be
saved, edited and posted back as is. Routes send these documents unchanged; the models say
what is in them (schemathesis checks that they do).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from geocube_ingest.payload import Payload

PAYLOAD_DOC = (
    "The payload: a GeoJSON Feature (or FeatureCollection, or bare geometry) with `name`, `start_time`, "
    "`end_time`, `scene_type`, `scene_graph_name`, `tile_graph_name`, and optionally `layers`, `graph_config`, "
    "`record_tags`, `is_retriable`, `retry_count`, `storage_uri`, `annotations_urls`, `page`, `limit`."
)
SCENES_FILE_DOC = "A scenes file from `/catalog/scenes` (possibly edited): the catalogue is not searched."
TILES_FILE_DOC = "A tiles file from `/catalog/tiles` (possibly edited): scenes and tiles are taken from it."


# -- answers --------------------------------------------------------------------------------------


class CatalogSceneData(BaseModel):
    """Upstream's scene `data`; other keys (e.g. `instances_id` in an edited file) are kept."""

    model_config = ConfigDict(extra="allow")

    date: str = Field(description="Acquisition date-time (RFC 3339).")
    graph_config: dict[str, str] = Field(description="Copied from the payload.")
    graph_name: str = Field(description="The scene graph, copied from the payload.")
    is_retriable: bool = Field(description="Copied from the payload.")
    metadata: dict[str, Any] | None = Field(description="What the catalogue knows (download links, assets...).")
    record_id: str = Field(description="Empty until the record is created.")
    storage_uri: str = Field(description="Copied from the payload.")
    uuid: str = Field(description="Unique id of the product in the catalogue.")
    tiles: dict[str, dict[str, Any]] | None = Field(
        default=None, description="Tiles files only: tile source id -> {swath_id, tile_nr}."
    )


class CatalogSceneProperties(BaseModel):
    aoi: str = Field(description="The AOI, copied from `payload.name`.")
    data: CatalogSceneData
    id: int = Field(description="0: the workflow gives ids when the scene is posted.")
    source_id: str = Field(description="Product name.")
    tags: dict[str, str] = Field(description="Tags of the record the scene is indexed with.")
    wkt: str = Field(description="Footprint in WKT, EPSG:4326.")


class CatalogSceneFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: dict[str, Any] | None = Field(description="Footprint (GeoJSON, EPSG:4326).")
    properties: CatalogSceneProperties


class CatalogScenesOut(BaseModel):
    """Upstream's scenes file, plus the paging members."""

    type: Literal["FeatureCollection"]
    features: list[CatalogSceneFeature]
    next: bool = Field(description="More scenes exist after this page (ask `page + 1`; a `Link` header says where).")
    page: int | None = Field(description="The page answered (0-based); null when every scene is listed.")
    limit: int | None = Field(description="Scenes per page; null when every scene is listed.")
    provider: str = Field(description="The catalogue provider that answered.")
    warnings: list[str] = Field(description="Catalogue items left out, with why.")


class CatalogTileRef(BaseModel):
    """A tile named by its scene (upstream's TileLite)."""

    SourceID: str
    SceneID: str
    Date: str | None


class CatalogTileOut(BaseModel):
    SourceID: str = Field(description="Location key: ESA burst id (S1), MGRS tile (S2), path-row (Landsat).")
    SceneID: str = Field(description="Source id of its scene.")
    Date: str
    id: int = Field(description="Workflow id of a tile already ingested (relinks); 0 otherwise.")
    data: dict[str, Any] = Field(description="swath_id, tile_nr, graph_name, is_retriable, location, burst ids...")
    wkt: str
    previous: CatalogTileRef | None = Field(description="Tile acquired just before at the same place.")
    reference: CatalogTileRef | None = Field(description="First tile of this time series.")


class CatalogTileSceneProperties(CatalogSceneProperties):
    tiles: list[CatalogTileOut]


class CatalogTileSceneFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: dict[str, Any] | None = Field(description="MultiPolygon of the scene and its tiles.")
    properties: CatalogTileSceneProperties


class CatalogTilesOut(BaseModel):
    """Upstream's tiles file: one feature per scene with its tiles, plus the paging members."""

    type: Literal["FeatureCollection"]
    features: list[CatalogTileSceneFeature]
    relinks: list[CatalogTileOut] | None = Field(
        default=None, description="Tiles already in the workflow that a backfill re-wires (absent when none)."
    )
    next: bool = Field(description="More scenes exist after the page of scenes that was tiled.")
    page: int | None
    limit: int | None
    provider: str = Field(description='The catalogue provider that answered; "" when a scenes file was given.')
    warnings: list[str]


class CatalogRunOut(BaseModel):
    """How the ingestion (downloads, then processing) runs after the answer."""

    mode: Literal["in-process", "prefect"]
    started: bool = Field(description="False when nothing is due, or when a run of this AOI is already going on.")
    detail: str
    deployment: str | None = Field(default=None, description="Prefect deployment (prefect mode).")
    flow_run_id: str | None = Field(default=None, description="Prefect flow run started (prefect mode).")
    flow_run_name: str | None = None


class CatalogAoiOut(BaseModel):
    """What posting the payload created; the ingestion goes on after the answer."""

    aoi: str
    scenes_found: int = Field(description="Scenes listed (from the catalogue or the files).")
    scenes_created: int
    scenes_existing: int = Field(description="Scenes already in the AOI: left as they are.")
    tiles_created: int
    relinked: int = Field(description="Existing tiles re-wired by a backfill.")
    records_created: int
    records_reused: int
    run: CatalogRunOut
    summary_url: str = Field(description="Where to follow the ingestion.", examples=["/aoi/DenmarkDemoS2/summary"])


# -- bodies ---------------------------------------------------------------------------------------
#
# The documents are described in full (multipart parts are JSON: `encoding` says so in the
# routes), so clients and fuzzers can build them. The readers also accept upstream's older
# spellings and shapes (see catalogue.geojson, payload), which a schema cannot list.

EXAMPLE_PAYLOAD: dict[str, Any] = {
    "name": "DenmarkDemoS2",
    "type": "Feature",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[9.8, 54.9], [10.1, 54.9], [10.1, 55.1], [9.8, 55.1], [9.8, 54.9]]],
    },
    "start_time": "2022-01-01T00:00:00Z",
    "end_time": "2022-03-01T00:00:00Z",
    "scene_type": {"constellation": "sentinel2", "parameters": {"producttype": "L2A"}},
    "scene_graph_name": "CopyProductToStorage",
    "tile_graph_name": "Pass",
    "record_tags": {"area": "Denmark"},
    "is_retriable": True,
    "retry_count": 1,
}
PAYLOAD_REF = "#/components/schemas/PayloadDocument"
PayloadPart = Annotated[dict[str, Any], WithJsonSchema({"allOf": [{"$ref": PAYLOAD_REF}], "description": PAYLOAD_DOC})]
ScenesPart = Annotated[
    dict[str, Any],
    WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/CatalogScenesFile"}], "description": SCENES_FILE_DOC}),
]
TilesPart = Annotated[
    dict[str, Any],
    WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/CatalogTilesFile"}], "description": TILES_FILE_DOC}),
]


def payload_document_schemas() -> dict[str, dict[str, Any]]:
    """`PayloadDocument` (and the schemas it refers to): the payload model as a GeoJSON Feature.

    The model's own schema forbids unknown keys; the document also holds GeoJSON members
    (`type`, `properties`, `bbox`...), and may give `wkt` instead of `geometry`.
    """
    schema = Payload.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, dict[str, Any]] = schema.pop("$defs", {})
    schema.pop("additionalProperties", None)
    schema["required"] = [name for name in schema.get("required", []) if name != "geometry"]
    schema["properties"]["type"] = {"type": "string", "description": "Feature (or FeatureCollection, a geometry)."}
    schema["properties"]["wkt"] = {"type": "string", "description": "The AOI in WKT, instead of `geometry`."}
    schema["title"] = "PayloadDocument"
    schema["examples"] = [EXAMPLE_PAYLOAD]
    return {"PayloadDocument": schema, **definitions}


class SceneFileData(BaseModel):
    model_config = ConfigDict(extra="allow")

    date: str = Field(description="Acquisition date-time (RFC 3339).", examples=["2022-01-04T10:34:31Z"])
    graph_name: str | None = Field(default=None, description="The scene graph (default: the payload's).")
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="download_link, assets {name: {href}}, annotations: links followed with the schemes and "
        "folders the operator allows.",
    )
    storage_uri: str | None = Field(default=None, description="Under a storage root the operator allows.")
    is_retriable: bool | None = None


class SceneFileProperties(BaseModel):
    model_config = ConfigDict(extra="allow")

    source_id: str = Field(min_length=1, max_length=512, pattern=r"^[^/\\]+$", description="Product name.")
    data: SceneFileData
    tags: dict[str, Any] | None = None
    wkt: str | None = Field(default=None, description="Footprint in WKT (or give the feature's geometry).")


class SceneFileFeature(BaseModel):
    model_config = ConfigDict(extra="allow")

    geometry: dict[str, Any] | None = None
    properties: SceneFileProperties


class CatalogScenesFile(BaseModel):
    """A scenes file as `/catalog/scenes` answers it (the paging members may stay or go)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"]
    features: list[SceneFileFeature]


class TileFileEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    SourceID: str = Field(min_length=1, max_length=512, pattern=r"^[^/\\]+$")
    SceneID: str | None = Field(default=None, max_length=512, pattern=r"^[^/\\]+$")
    Date: str | None = None
    data: dict[str, Any] | None = None
    wkt: str | None = None
    previous: CatalogTileRef | None = None
    reference: CatalogTileRef | None = None


class TileFileProperties(SceneFileProperties):
    tiles: list[TileFileEntry]


class TileFileFeature(SceneFileFeature):
    properties: TileFileProperties


class CatalogTilesFile(CatalogScenesFile):
    """A tiles file as `/catalog/tiles` answers it."""

    features: list[TileFileFeature]  # type: ignore[assignment]
    relinks: list[TileFileEntry] | None = None


class CatalogScenesForm(BaseModel):
    """`curl -F "area=@payload.json" .../catalog/scenes`"""

    area: PayloadPart


class CatalogTilesForm(BaseModel):
    """`curl -F "area=@payload.json" [-F "scenes=@scenes.json"] .../catalog/tiles`"""

    area: PayloadPart
    scenes: ScenesPart | None = None


class CatalogAoiForm(BaseModel):
    """`curl -F "area=@payload.json" [-F "scenes=@scenes.json" | -F "tiles=@tiles.json"] .../catalog/aoi`"""

    area: PayloadPart
    scenes: ScenesPart | None = None
    tiles: TilesPart | None = None


class CatalogScenesJson(BaseModel):
    """The JSON form of the multipart fields (or send the payload itself as the body)."""

    model_config = ConfigDict(extra="forbid")

    area: PayloadPart


class CatalogTilesJson(CatalogScenesJson):
    scenes: ScenesPart | None = None


class CatalogAoiJson(CatalogTilesJson):
    tiles: TilesPart | None = None


FORMS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "scenes": (CatalogScenesForm, CatalogScenesJson),
    "tiles": (CatalogTilesForm, CatalogTilesJson),
    "aoi": (CatalogAoiForm, CatalogAoiJson),
}
COMPONENTS: tuple[type[BaseModel], ...] = (
    *(model for pair in FORMS.values() for model in pair),
    CatalogScenesFile,
    CatalogTilesFile,
)
