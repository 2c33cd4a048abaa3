"""Catalogue routes (`seeds/run-a-payload.md`): list scenes, list tiles, post a payload and ingest it.

    curl -F "area=@payload.json" -H "Authorization: Bearer $TOKEN" $SERVER/catalog/scenes > scenes.json
    curl -F "area=@payload.json" -F "scenes=@scenes.json" ... $SERVER/catalog/tiles > tiles.json
    curl -F "area=@payload.json" -F "tiles=@tiles.json" ... $SERVER/catalog/aoi

`/catalog/aoi` does steps 1-4 before it answers (layers checked first, then scenes and
tiles listed unless given, records created, scenes and tiles posted to the workflow), so a
bad payload, file or layer is refused with nothing created; downloads and processing then
go on after the answer (202), in this process or as a Prefect flow run (`runs.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from geocube_ingest.access import check_payload
from geocube_ingest.api.deps import GEOJSON, IndexDep, SettingsDep, WorkflowDep
from geocube_ingest.api.errors import ServiceUnavailable, UpstreamFailed, responses
from geocube_ingest.api.runs import AoiLocks, InProcessRuns, PrefectRuns, RunInfo, RunRequest
from geocube_ingest.api.schemas_catalog import (
    EXAMPLE_PAYLOAD,
    FORMS,
    PAYLOAD_REF,
    CatalogAoiOut,
    CatalogScenesOut,
    CatalogTilesOut,
)
from geocube_ingest.api.uploads import CatalogUpload, upload_reader
from geocube_ingest.catalogue import (
    CatalogueScene,
    CatalogueTile,
    CatalogueUnavailable,
    SceneSearch,
    SearchFailed,
    list_tiles,
    scenes_from_geojson,
    scenes_of,
    scenes_to_geojson,
    search_scenes,
    tiles_from_geojson,
    tiles_to_geojson,
)
from geocube_ingest.errors import FieldError, TaskError, TemporaryError
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline import prepare_ingestion
from geocube_ingest.processing.admission import admit_graphs
from geocube_ingest.settings import Settings

router = APIRouter(prefix="/catalog", tags=["catalog"])

CatalogPage = Annotated[
    int | None,
    Query(ge=0, le=1_000_000, description="0-based page of scenes (needs `limit`); overrides the payload's `page`."),
]
CatalogLimit = Annotated[
    int | None,
    Query(ge=1, le=100_000, description="Scenes per page (1000 suits big searches); overrides the payload's."),
]
ScenesUpload = Annotated[CatalogUpload, Depends(upload_reader("area"))]
TilesUpload = Annotated[CatalogUpload, Depends(upload_reader("area", "scenes"))]
AoiUpload = Annotated[CatalogUpload, Depends(upload_reader("area", "scenes", "tiles"))]


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


def _request_body(kind: str) -> dict[str, Any]:
    """The two accepted bodies, as `openapi_extra` (the routes read the request themselves).

    Each multipart field is a JSON document (`encoding`), as `curl -F "area=@payload.json"` sends it.
    """
    form, envelope = FORMS[kind]
    json_parts = {name: {"contentType": "application/json"} for name in form.model_fields}
    example = {"area": EXAMPLE_PAYLOAD}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"$ref": f"#/components/schemas/{form.__name__}"},
                    "encoding": json_parts,
                    "example": example,
                },
                "application/json": {
                    "schema": {"anyOf": [{"$ref": f"#/components/schemas/{envelope.__name__}"}, {"$ref": PAYLOAD_REF}]},
                    "example": example,
                },
            },
        }
    }


LINK_HEADER = {
    "Link": {
        "description": 'Present when more scenes exist: `<...?page=N+1&limit=L>; rel="next"`.',
        "schema": {"type": "string"},
    }
}
ERRORS_OF_SEARCH = {
    "e400": "Bad payload or file (the detail and `problems` name each bad field), or a search no catalogue can do",
    "e502": "The catalogue providers answered with errors",
    "e503": "No catalogue provider could be reached (or an S1 annotation file): try again later",
}


@contextmanager
def _service_errors() -> Iterator[None]:
    """Job errors of the catalogue and the index as HTTP answers: try later (503) or a broken service (502)."""
    try:
        yield
    except (CatalogueUnavailable, SearchFailed):
        raise  # they carry their own status
    except TemporaryError as exc:
        raise ServiceUnavailable(str(exc)) from None
    except TaskError as exc:
        raise UpstreamFailed(str(exc)) from None


def _payload(upload: CatalogUpload, page: int | None, limit: int | None, settings: Settings) -> Payload:
    payload = Payload.parse(upload.area)
    check_payload(payload, settings)
    overrides = {name: value for name, value in (("page", page), ("limit", limit)) if value is not None}
    return payload.model_copy(update=overrides) if overrides else payload


def _document(raw: Any) -> dict[str, Any] | None:
    """A posted file as JSON (already validated by its reader), to hand to a Prefect run."""
    if raw is None:
        return None
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", errors="replace")
    document = json.loads(raw) if isinstance(raw, str) else raw
    return document if isinstance(document, dict) else None


def _search(payload: Payload, settings: Settings) -> SceneSearch:
    with _service_errors():
        return search_scenes(payload, settings=settings)


def _paging(payload: Payload, found: SceneSearch | None) -> dict[str, Any]:
    paged = payload.limit is not None
    return {
        "next": bool(found and found.next),
        "page": (payload.page or 0) if paged else None,
        "limit": payload.limit,
        "provider": found.provider if found else "",
        "warnings": list(found.warnings) if found else [],
    }


def _geojson(request: Request, document: dict[str, Any]) -> GeoJSONResponse:
    headers = {}
    if document["next"]:
        following = request.url.include_query_params(page=document["page"] + 1, limit=document["limit"])
        headers["Link"] = f'<{following}>; rel="next"'
    return GeoJSONResponse(document, headers=headers)


def _require_footprints(scenes: Sequence[CatalogueScene], what: str) -> None:
    """Records are created with the scene footprint: a scene without one is refused before anything is created."""
    missing = [(s.source_id, "no footprint (wkt or geometry): its record needs one") for s in scenes if not s.wkt]
    if missing:
        raise FieldError(what, missing[:20])


def _listing(kind: str, summary: str, model: type[CatalogScenesOut] | type[CatalogTilesOut]) -> dict[str, Any]:
    """What the GET and POST routes of a listing share (upstream answers both the same)."""
    return {
        "summary": summary,
        "response_model": model,
        "response_class": GeoJSONResponse,
        "responses": {200: {"headers": LINK_HEADER}, **responses(400, 401, 413, 415, 502, 503, **ERRORS_OF_SEARCH)},
        "openapi_extra": _request_body(kind),
    }


SCENES_ROUTE = _listing("scenes", "List the scenes of a payload", CatalogScenesOut)
TILES_ROUTE = _listing(
    "tiles", "List the tiles of a payload (Sentinel-1 bursts), chained into time series", CatalogTilesOut
)


@router.get("/scenes", **SCENES_ROUTE)
@router.post("/scenes", **SCENES_ROUTE)
def catalog_scenes(
    request: Request,
    upload: ScenesUpload,
    settings: SettingsDep,
    page: CatalogPage = None,
    limit: CatalogLimit = None,
) -> GeoJSONResponse:
    """Search the configured catalogues (step 1): upstream's scenes file, one feature per scene.

    Without `page`/`limit` (here or in the payload) every scene is listed. The answer can be
    edited and posted back to `/catalog/tiles` or `/catalog/aoi` as `scenes`.
    """
    payload = _payload(upload, page, limit, settings)
    admit_graphs(payload, settings=settings, runnable=False)
    found = _search(payload, settings)
    document = scenes_to_geojson(found.scenes, payload)
    document.update(_paging(payload, found))
    return _geojson(request, document)


@router.get("/tiles", **TILES_ROUTE)
@router.post("/tiles", **TILES_ROUTE)
def catalog_tiles(
    request: Request,
    upload: TilesUpload,
    settings: SettingsDep,
    wf: WorkflowDep,
    page: CatalogPage = None,
    limit: CatalogLimit = None,
) -> GeoJSONResponse:
    """Step 2: the tiles of the scenes (of `scenes`, or of a catalogue search), upstream's tiles file.

    Tiles already in the AOI take part: new acquisitions chain onto them, and older ones are
    inserted (the existing tiles re-wired are listed in `relinks`).
    """
    payload = _payload(upload, page, limit, settings)
    found: SceneSearch | None = None
    if upload.scenes is not None:
        scenes = scenes_from_geojson(upload.scenes)
        admit_graphs(payload, scenes=scenes, settings=settings, runnable=False)
    else:
        admit_graphs(payload, settings=settings, runnable=False)
        found = _search(payload, settings)
        scenes = found.scenes
    with _service_errors():
        tiles = list_tiles(payload, scenes, workflow=wf, settings=settings)
    document = tiles_to_geojson(tiles, payload)
    document.update(_paging(payload, found))
    return _geojson(request, document)


@router.post(
    "/aoi",
    summary="Post a payload and start its ingestion",
    status_code=202,
    response_model=CatalogAoiOut,
    responses={
        202: {"headers": {"Location": {"description": "The AOI summary.", "schema": {"type": "string"}}}},
        **responses(
            400,
            401,
            404,
            409,
            413,
            415,
            502,
            503,
            **{
                **ERRORS_OF_SEARCH,
                "e404": "A layer of the payload names a variable or instance the index lacks (nothing is created)",
                "e409": "The index refused a record (a conflicting record exists)",
                "e503": "A catalogue, an S1 annotation file, the index or the Prefect server is unreachable: try later",
            },
        ),
    },
    openapi_extra=_request_body("aoi"),
)
def catalog_aoi(
    request: Request,
    upload: AoiUpload,
    settings: SettingsDep,
    wf: WorkflowDep,
    index: IndexDep,
    page: CatalogPage = None,
    limit: CatalogLimit = None,
) -> JSONResponse:
    """Steps 1-4 now, then downloads and processing after the answer (202).

    Layers are checked first; scenes and tiles come from `tiles`, else `scenes`, else the
    catalogue. Records are created (or reused) and scenes and tiles posted; scenes already in
    the AOI are left as they are, so posting again is safe and resumes what is left. Follow
    the ingestion at `GET /aoi/{aoi}` (the `Location` header).
    """
    payload = _payload(upload, page, limit, settings)
    scenes: list[CatalogueScene] | None = None
    tiles: list[CatalogueTile] | None = None
    if upload.tiles is not None:
        tiles = tiles_from_geojson(upload.tiles)
        _require_footprints(scenes_of(tiles), "tiles")
    if upload.scenes is not None:
        scenes = scenes_from_geojson(upload.scenes)
        _require_footprints(scenes, "scenes")
    starter: InProcessRuns | PrefectRuns = request.app.state.runs
    starter.check()
    locks: AoiLocks = request.app.state.aoi_locks
    with locks.hold(payload.name), _service_errors():
        prepared = prepare_ingestion(payload, workflow=wf, index=index, settings=settings, scenes=scenes, tiles=tiles)
    if wf.work_status(payload.name).active:
        run = starter.start(RunRequest(payload, _document(upload.scenes), _document(upload.tiles)))
    else:
        run = RunInfo(starter.mode, False, f"nothing to download or process in AOI {payload.name}")
    summary_url = f"/aoi/{payload.name}/summary"
    body = {**asdict(prepared), "run": asdict(run), "summary_url": summary_url}
    return JSONResponse(body, status_code=202, headers={"Location": summary_url})
