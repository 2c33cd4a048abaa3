"""Bodies and answers of the `/catalog/*` routes (`seeds/run-a-payload.md`).

The answers are the catalogue's own GeoJSON files (`scenes_to_geojson`, `tiles_to_geojson`)
with a few foreign members at the top level (`next`, `page`, `limit`, `provider`,
`warnings`), which GeoJSON allows and which the file readers ignore, so an answer can be
saved, edited and posted back as is. Routes send these documents unchanged; the models say
what is in them (schemathesis checks that they do).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


class CatalogScenesForm(BaseModel):
    """`curl -F "area=@payload.json" .../catalog/scenes`"""

    area: bytes = Field(description=PAYLOAD_DOC)


class CatalogTilesForm(BaseModel):
    """`curl -F "area=@payload.json" [-F "scenes=@scenes.json"] .../catalog/tiles`"""

    area: bytes = Field(description=PAYLOAD_DOC)
    scenes: bytes | None = Field(default=None, description=SCENES_FILE_DOC)


class CatalogAoiForm(BaseModel):
    """`curl -F "area=@payload.json" [-F "scenes=@scenes.json" | -F "tiles=@tiles.json"] .../catalog/aoi`"""

    area: bytes = Field(description=PAYLOAD_DOC)
    scenes: bytes | None = Field(default=None, description=SCENES_FILE_DOC)
    tiles: bytes | None = Field(default=None, description=TILES_FILE_DOC)


class CatalogScenesJson(BaseModel):
    """The JSON form of the multipart fields (or send the payload itself as the body)."""

    model_config = ConfigDict(extra="forbid")

    area: dict[str, Any] = Field(description=PAYLOAD_DOC)


class CatalogTilesJson(CatalogScenesJson):
    scenes: dict[str, Any] | None = Field(default=None, description=SCENES_FILE_DOC)


class CatalogAoiJson(CatalogTilesJson):
    tiles: dict[str, Any] | None = Field(default=None, description=TILES_FILE_DOC)


FORMS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "scenes": (CatalogScenesForm, CatalogScenesJson),
    "tiles": (CatalogTilesForm, CatalogTilesJson),
    "aoi": (CatalogAoiForm, CatalogAoiJson),
}
COMPONENTS: tuple[type[BaseModel], ...] = tuple(model for pair in FORMS.values() for model in pair)
