"""Scene routes: read, tiles, history, retry / fail / force, replace data."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from geocube_ingest.access import check_scene_data
from geocube_ingest.api.deps import (
    ListDep,
    MessageQuery,
    SceneId,
    SettingsDep,
    StatusPath,
    WorkflowDep,
    geojson_responses,
    parse_status,
    storable_data,
)
from geocube_ingest.api.errors import INCONSISTENT, responses
from geocube_ingest.api.schemas import SCENE_DATA_DOC, EventOut, SceneOut, TileFeatureCollection, TileOut
from geocube_ingest.processing.admission import admit_data
from geocube_ingest.workflow import Scene, Tile
from geocube_ingest.workflow.serialize import event_json, scene_json

router = APIRouter(prefix="/scene", tags=["scene"])

EventsLimit = Annotated[int | None, Query(ge=1, le=100_000, description="At most this many events (oldest first).")]


def _answer(item: Scene | Tile) -> dict[str, Any]:
    assert isinstance(item, Scene)
    return scene_json(item)


@router.get("/{scene_id}", summary="A scene", response_model=SceneOut, responses=responses(401, 404))
def get_scene(scene_id: SceneId, wf: WorkflowDep) -> Any:
    return scene_json(wf.scene(scene_id))


@router.get(
    "/{scene_id}/tiles",
    summary="Tiles of a scene",
    response_model=list[TileOut],
    responses=responses(400, 401, 404),
    openapi_extra=geojson_responses(TileFeatureCollection),
)
def scene_tiles(scene_id: SceneId, wf: WorkflowDep, listing: ListDep) -> Response:
    return listing.answer(partial(wf.tiles_json, scene_id=scene_id))


@router.get(
    "/{scene_id}/events",
    summary="History of a scene: every status change with when, who and why",
    response_model=list[EventOut],
    responses=responses(401, 404),
)
def scene_events(scene_id: SceneId, wf: WorkflowDep, limit: EventsLimit = None) -> Any:
    return [event_json(e) for e in wf.events("scene", scene_id, limit)]


@router.put(
    "/{scene_id}/retry",
    summary="Retry a RETRY scene (its download runs again)",
    response_model=SceneOut,
    responses=responses(401, 403, 404),
)
def retry_scene(scene_id: SceneId, wf: WorkflowDep) -> Any:
    return _answer(wf.retry("scene", scene_id))


@router.put(
    "/{scene_id}/fail",
    summary="Fail a RETRY scene and all its tiles; dependants are re-linked around them",
    response_model=SceneOut,
    responses=responses(401, 403, 404, 409, e409=INCONSISTENT),
)
def fail_scene(scene_id: SceneId, wf: WorkflowDep, message: MessageQuery = None) -> Any:
    return _answer(wf.fail("scene", scene_id, message))


@router.put(
    "/{scene_id}/force/{status}",
    summary="Set any status, with the side effects of the normal transition (409 if inconsistent)",
    response_model=SceneOut,
    responses=responses(400, 401, 404, 409, e409=INCONSISTENT),
)
def force_scene(scene_id: SceneId, status: StatusPath, wf: WorkflowDep, message: MessageQuery = None) -> Any:
    return _answer(wf.force("scene", scene_id, parse_status(status), message))


@router.put(
    "/{scene_id}/data",
    summary="Replace the data of a scene",
    response_model=SceneOut,
    responses=responses(400, 401, 404, 413),
)
def set_scene_data(
    scene_id: SceneId,
    wf: WorkflowDep,
    settings: SettingsDep,
    data: Annotated[dict[str, Any], Body(description=SCENE_DATA_DOC)],
) -> Any:
    """E.g. fix a graph name (a graph of the graph folders, checked) or a download link before a retry.

    `storage_uri` and the links of `metadata` must be ones the operator allows (400 otherwise).
    """
    stored = storable_data(data)
    admit_data("scene", stored, settings=settings)
    check_scene_data(stored, settings)
    return _answer(wf.set_data("scene", scene_id, stored))
