"""AOI routes: list, create, delete, summary, ingest one scene, retry all, graph, listings."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import orjson
import shapely
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from geocube_ingest.access import check_scene_data
from geocube_ingest.api import convert, graph
from geocube_ingest.api.deps import (
    AOI_PATTERN,
    AoiName,
    AoiOrPattern,
    ListDep,
    SettingsDep,
    StatusPath,
    WorkflowDep,
    geojson_responses,
    heavy_turn,
    parse_status,
)
from geocube_ingest.api.errors import responses
from geocube_ingest.api.schemas import (
    AOIDetailsOut,
    AOIOut,
    AOISummaryOut,
    CreatedOut,
    FootprintCollection,
    RetryOut,
    SceneFeatureCollection,
    SceneOut,
    SceneToIngest,
    TileFeatureCollection,
    TileOut,
)
from geocube_ingest.errors import NotFound
from geocube_ingest.workflow import Workflow
from geocube_ingest.workflow.serialize import aoi_json

router = APIRouter(tags=["aoi"])


@router.get(
    "/aoi/",
    summary="List the AOIs",
    response_model=list[AOIOut] | list[AOIDetailsOut],
    responses=responses(400, 401),
)
def list_aois(
    wf: WorkflowDep,
    pattern: Annotated[
        str, Query(min_length=1, max_length=255, pattern=AOI_PATTERN, description="Name pattern with * and ?.")
    ] = "*",
    details: Annotated[bool, Query(description="Add the scene and tile counts of each AOI.")] = False,
) -> Any:
    """`[{"ID": name, "status": status}]` as upstream answers; `details=true` adds the counts."""
    return [aoi_json(i, details) for i in wf.list_aois(pattern)]


@router.get(
    "/aoi/{aoi}",
    summary="Overview of an AOI (plain text), or the AOIs matching a pattern",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The summary of `seeds/monitoring.md`; for a pattern, the matching AOIs as `GET /aoi/`.",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/AOIOut"}}},
            },
        },
        **responses(400, 401, 404),
    },
)
def get_aoi(aoi: AoiOrPattern, wf: WorkflowDep) -> Response:
    if "*" in aoi or "?" in aoi:
        return JSONResponse([aoi_json(i) for i in wf.list_aois(aoi)])
    return PlainTextResponse(wf.summary_text(aoi))


@router.post(
    "/aoi/{aoi}",
    summary="Create an AOI",
    status_code=204,
    response_class=Response,
    responses=responses(400, 401, 409),
)
def create_aoi(aoi: AoiName, wf: WorkflowDep) -> Response:
    wf.create_aoi(aoi)
    return Response(status_code=204)


@router.delete(
    "/aoi/{aoi}",
    summary="Delete an AOI with its scenes, tiles and history",
    status_code=204,
    response_class=Response,
    responses=responses(401, 404),
)
def delete_aoi(aoi: AoiName, wf: WorkflowDep) -> Response:
    """Stored files and index entries stay; this cannot be undone."""
    wf.delete_aoi(aoi)
    return Response(status_code=204)


@router.get(
    "/aoi/{aoi}/summary",
    summary="Overview of an AOI as JSON",
    response_model=AOISummaryOut,
    responses=responses(401, 404),
)
def aoi_summary(aoi: AoiName, wf: WorkflowDep) -> Any:
    return convert.aoi_summary(wf.summary(aoi))


@router.post(
    "/aoi/{aoi}/scene",
    summary="Add a scene and its tiles to the graph of dependencies",
    response_model=CreatedOut,
    responses=responses(400, 401, 404, 413),
)
def create_scene(aoi: AoiName, body: SceneToIngest, wf: WorkflowDep, settings: SettingsDep) -> Any:
    """The scene becomes PENDING (its download is due) and its tiles NEW. The AOI must exist.

    A scene the AOI already has is left as it is (upstream skips it too) and its id answered.
    Its `storage_uri` and links must be ones the operator allows (400 otherwise).
    """
    check_scene_data(body.data, settings)
    if not wf.aoi_exists(aoi):
        raise NotFound(f"AOI {aoi!r} not found: create it first with POST /aoi/{aoi}")
    result = wf.ingest(aoi, [convert.new_scene(aoi, body)])
    return {"id": result.scene_ids[0]}


def _retry(aoi: str, wf: Workflow, force: bool) -> Any:
    result = wf.retry_aoi(aoi, force=force)
    if result.scenes == 0 and result.tiles == 0:
        return Response(status_code=204)
    return {"Scenes": result.scenes, "Tiles": result.tiles}


@router.put(
    "/aoi/{aoi}/retry",
    summary="Retry every RETRY scene and tile of the AOI",
    response_model=RetryOut,
    responses={204: {"description": "Nothing to retry"}, **responses(401, 404)},
)
def retry_aoi(aoi: AoiName, wf: WorkflowDep) -> Any:
    """Tiles are retried once their scene is DONE and their previous tile is DONE."""
    return _retry(aoi, wf, force=False)


@router.put(
    "/aoi/{aoi}/retry/force",
    summary="Retry every RETRY scene and tile, and re-dispatch the PENDING ones",
    response_model=RetryOut,
    responses={204: {"description": "Nothing to retry"}, **responses(401, 404)},
)
def retry_aoi_force(aoi: AoiName, wf: WorkflowDep) -> Any:
    return _retry(aoi, wf, force=True)


@router.get(
    "/aoi/{aoi}/dot",
    summary="Dependency graph in Graphviz dot",
    response_class=PlainTextResponse,
    responses=responses(401, 404),
)
def aoi_dot(aoi: AoiName, wf: WorkflowDep, request: Request) -> Response:
    with heavy_turn(request):
        return PlainTextResponse(wf.dot(aoi))


@router.get(
    "/aoi/{aoi}/dot.svg",
    summary="Dependency graph drawn as SVG",
    response_class=Response,
    responses={
        200: {"description": "SVG image", "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
        **responses(400, 401, 404, 503),
    },
)
def aoi_svg(aoi: AoiName, wf: WorkflowDep, request: Request) -> Response:
    settings = request.app.state.settings.api
    summary = wf.summary(aoi)  # counts first: a huge AOI is refused before it is read
    graph.check_size(aoi, summary.scenes.total + summary.tiles.total, settings.max_graph_nodes)
    with heavy_turn(request):
        svg = graph.render_svg(
            aoi,
            wf.scenes(aoi),
            wf.tiles(aoi),
            max_nodes=settings.max_graph_nodes,
            timeout_seconds=settings.graph_timeout_seconds,
        )
    return Response(svg, media_type="image/svg+xml")


@router.get(
    "/aoi/{aoi}/scenes",
    summary="Scenes of an AOI",
    response_model=list[SceneOut],
    responses=responses(400, 401, 404),
    openapi_extra=geojson_responses(SceneFeatureCollection),
)
def aoi_scenes(aoi: AoiName, wf: WorkflowDep, listing: ListDep) -> Response:
    return listing.answer(partial(wf.scenes_json, aoi))


@router.get(
    "/aoi/{aoi}/scenes/{status}",
    summary="Scenes of an AOI with a status",
    response_model=list[SceneOut],
    responses=responses(400, 401, 404),
    openapi_extra=geojson_responses(SceneFeatureCollection),
)
def aoi_scenes_status(aoi: AoiName, status: StatusPath, wf: WorkflowDep, listing: ListDep) -> Response:
    return listing.answer(partial(wf.scenes_json, aoi, parse_status(status)))


@router.get(
    "/aoi/{aoi}/tiles",
    summary="Tiles of an AOI",
    response_model=list[TileOut],
    responses=responses(400, 401, 404),
    openapi_extra=geojson_responses(TileFeatureCollection),
)
def aoi_tiles(aoi: AoiName, wf: WorkflowDep, listing: ListDep) -> Response:
    return listing.answer(partial(wf.tiles_json, aoi))


@router.get(
    "/aoi/{aoi}/tiles/{status}",
    summary="Tiles of an AOI with a status",
    response_model=list[TileOut],
    responses=responses(400, 401, 404),
    openapi_extra=geojson_responses(TileFeatureCollection),
)
def aoi_tiles_status(aoi: AoiName, status: StatusPath, wf: WorkflowDep, listing: ListDep) -> Response:
    return listing.answer(partial(wf.tiles_json, aoi, parse_status(status)))


@router.get(
    "/aoi/{aoi}/roottiles",
    summary="Tiles that start a time series",
    response_model=list[TileOut],
    responses=responses(400, 401, 404),
    openapi_extra=geojson_responses(TileFeatureCollection),
)
def aoi_root_tiles(aoi: AoiName, wf: WorkflowDep, listing: ListDep) -> Response:
    return listing.answer(partial(wf.tiles_json, aoi, selection="roots"))


@router.get(
    "/aoi/{aoi}/leaftiles",
    summary="Tiles no other tile follows (the newest of each time series)",
    response_model=list[TileOut],
    responses=responses(400, 401, 404),
    openapi_extra=geojson_responses(TileFeatureCollection),
)
def aoi_leaf_tiles(aoi: AoiName, wf: WorkflowDep, listing: ListDep) -> Response:
    return listing.answer(partial(wf.tiles_json, aoi, selection="leaves"))


@router.get(
    "/aoi/{aoi}/footprints",
    summary="Footprints of every scene and tile with their status (for maps)",
    response_model=FootprintCollection,
    responses=responses(401, 404),
)
def aoi_footprints(aoi: AoiName, wf: WorkflowDep, request: Request) -> Response:
    """Lighter than `?format=geojson`: only what a map draws. Scenes and tiles without a footprint are left out.

    `aoi` is the AOI's own area (from the latest payload posted), or null.
    """
    with heavy_turn(request):
        return Response(_footprints(aoi, wf), media_type="application/json")


def _footprints(aoi: str, wf: Workflow) -> bytes:
    items = wf.footprints(aoi)
    area = wf.aoi_geometry(aoi)
    if not items and area is None:
        return orjson.dumps({"type": "FeatureCollection", "features": [], "bbox": None, "aoi": None})
    # Vectorised: one parse for all footprints (10^4 tiles per AOI are expected).
    geometries = shapely.from_wkt([item.wkt for item in items] + ([area] if area else []))
    texts = shapely.to_geojson(geometries)
    features = [
        {
            "type": "Feature",
            "id": f"{item.kind}-{item.id}",
            "geometry": orjson.Fragment(text),
            "properties": convert.footprint_properties(item),
        }
        for item, text in zip(items, texts[: len(items)], strict=True)
    ]
    bbox = [float(v) for v in shapely.total_bounds(geometries)]
    outline = orjson.Fragment(texts[-1]) if area is not None else None
    return orjson.dumps({"type": "FeatureCollection", "features": features, "bbox": bbox, "aoi": outline})
