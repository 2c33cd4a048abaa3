"""Tile routes: read, history, retry / fail / force, replace data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from geocube_ingest.api.deps import (
    MessageQuery,
    SettingsDep,
    StatusPath,
    TileId,
    WorkflowDep,
    parse_status,
    storable_data,
)
from geocube_ingest.api.errors import INCONSISTENT, responses
from geocube_ingest.api.schemas import TILE_DATA_DOC, EventOut, TileOut
from geocube_ingest.processing.admission import admit_data
from geocube_ingest.workflow import Scene, Tile
from geocube_ingest.workflow.serialize import event_json, tile_json

router = APIRouter(prefix="/tile", tags=["tile"])

EventsLimit = Annotated[int | None, Query(ge=1, le=100_000, description="At most this many events (oldest first).")]


def _answer(item: Scene | Tile) -> dict[str, Any]:
    assert isinstance(item, Tile)
    return tile_json(item)


@router.get("/{tile_id}", summary="A tile", response_model=TileOut, responses=responses(401, 404))
def get_tile(tile_id: TileId, wf: WorkflowDep) -> Any:
    return tile_json(wf.tile(tile_id))


@router.get(
    "/{tile_id}/events",
    summary="History of a tile: every status change and re-link with when, who and why",
    response_model=list[EventOut],
    responses=responses(401, 404),
)
def tile_events(tile_id: TileId, wf: WorkflowDep, limit: EventsLimit = None) -> Any:
    return [event_json(e) for e in wf.events("tile", tile_id, limit)]


@router.put(
    "/{tile_id}/retry",
    summary="Retry a RETRY tile (its scene and previous tile must be DONE)",
    response_model=TileOut,
    responses=responses(401, 403, 404),
)
def retry_tile(tile_id: TileId, wf: WorkflowDep) -> Any:
    return _answer(wf.retry("tile", tile_id))


@router.put(
    "/{tile_id}/fail",
    summary="Fail a RETRY tile; its dependants are re-linked to its previous tile",
    response_model=TileOut,
    responses=responses(401, 403, 404, 409, e409=INCONSISTENT),
)
def fail_tile(tile_id: TileId, wf: WorkflowDep, message: MessageQuery = None) -> Any:
    return _answer(wf.fail("tile", tile_id, message))


@router.put(
    "/{tile_id}/force/{status}",
    summary="Set any status, with the side effects of the normal transition (409 if inconsistent)",
    response_model=TileOut,
    responses=responses(400, 401, 404, 409, e409=INCONSISTENT),
)
def force_tile(tile_id: TileId, status: StatusPath, wf: WorkflowDep, message: MessageQuery = None) -> Any:
    return _answer(wf.force("tile", tile_id, parse_status(status), message))


@router.put(
    "/{tile_id}/data",
    summary="Replace the data of a tile",
    response_model=TileOut,
    responses=responses(400, 401, 404, 413),
)
def set_tile_data(
    tile_id: TileId,
    wf: WorkflowDep,
    settings: SettingsDep,
    data: Annotated[dict[str, Any], Body(description=TILE_DATA_DOC)],
) -> Any:
    """E.g. fix a graph name before a retry (a graph of the graph folders, checked); kept in the history."""
    stored = storable_data(data)
    admit_data("tile", stored, wf.tile(tile_id).scene_data, settings)
    return _answer(wf.set_data("tile", tile_id, stored))
