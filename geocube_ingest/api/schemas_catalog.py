"""Bodies and answers of the `/catalog/*` routes (`seeds/run-a-payload.md`).

The answers are the catalogue's own GeoJSON files (their model: `catalogue/documents.py`)
with a few foreign members at the top level (`next`, `page`, `limit`, `provider`,
`warnings`), which GeoJSON allows and which the file readers ignore, so an answer can be
saved, edited and posted back as is. The bodies take the same files; the model's schema
in validation mode asks what the readers need, in serialization mode every member written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import models_json_schema

from geocube_ingest.catalogue.documents import CatalogScenesFile, CatalogTilesFile
from geocube_ingest.payload import Payload

PAYLOAD_DOC = (
    "The payload: a GeoJSON Feature (or FeatureCollection, or bare geometry) with `name`, `start_time`, "
    "`end_time`, `scene_type`, `scene_graph_name`, `tile_graph_name`, and optionally `layers`, `graph_config`, "
    "`record_tags`, `is_retriable`, `retry_count`, `storage_uri`, `annotations_urls`, `page`, `limit`."
)
SCENES_FILE_DOC = "A scenes file from `/catalog/scenes` (possibly edited): the catalogue is not searched."
TILES_FILE_DOC = "A tiles file from `/catalog/tiles` (possibly edited): scenes and tiles are taken from it."


# -- answers --------------------------------------------------------------------------------------


class _Paging(BaseModel):
    next: bool = Field(description="More scenes exist after this page (ask `page + 1`; a `Link` header says where).")
    page: int | None = Field(description="The page answered (0-based); null when every scene is listed.")
    limit: int | None = Field(description="Scenes per page; null when every scene is listed.")
    provider: str = Field(description="The catalogue provider that answered.")
    warnings: list[str] = Field(description="Catalogue items left out, with why.")


class CatalogScenesOut(CatalogScenesFile, _Paging):
    """Upstream's scenes file, plus the paging members."""


class CatalogTilesOut(CatalogTilesFile, _Paging):
    """Upstream's tiles file: one feature per scene with its tiles, plus the paging members."""


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
# spellings and shapes (see catalogue.documents, payload), which a schema cannot list.

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
# The files as bodies: their model in validation mode (what the readers need), named as FastAPI names inputs.
INPUT_REF = "#/components/schemas/{model}-Input"
ScenesPart = Annotated[
    dict[str, Any],
    WithJsonSchema({"allOf": [{"$ref": INPUT_REF.format(model="CatalogScenesFile")}], "description": SCENES_FILE_DOC}),
]
TilesPart = Annotated[
    dict[str, Any],
    WithJsonSchema({"allOf": [{"$ref": INPUT_REF.format(model="CatalogTilesFile")}], "description": TILES_FILE_DOC}),
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


def file_body_schemas() -> dict[str, dict[str, Any]]:
    """The scenes and tiles files as request bodies (`...-Input`): only what the readers require is required."""
    _, schema = models_json_schema(
        [(CatalogScenesFile, "validation"), (CatalogTilesFile, "validation")], ref_template=INPUT_REF
    )
    return {f"{name}-Input": definition for name, definition in schema.get("$defs", {}).items()}


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
COMPONENTS: tuple[type[BaseModel], ...] = tuple(model for pair in FORMS.values() for model in pair)
