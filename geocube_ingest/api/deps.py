"""What the route modules share: the workflow handle, query parameters and list answers.

Lists of scenes/tiles are JSON arrays in upstream's shapes by default; `?format=geojson`
answers a GeoJSON FeatureCollection (media type `application/geo+json`) whose features
carry the footprints and the same JSON as properties.

Without `limit` a list is whole, as upstream's clients expect. Its JSON is written by the
database row by row and sent as bytes (no validation pass, no encoding on the event loop),
so a 10,000-tile list costs the server little of the interpreter; answers that Python must
build in proportion to an AOI (GeoJSON, footprints, graphs) take turns (`api.heavy_answers`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response

from geocube_ingest.api.schemas import SceneFeatureCollection, TileFeatureCollection, check_json_value
from geocube_ingest.errors import InvalidInput
from geocube_ingest.index import Index
from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Workflow

GEOJSON = "application/geo+json"
MAX_ID = 2**31 - 1
MAX_LIMIT = 100_000
MAX_PAGE = 1_000_000
# Pages up to this size (what the web page asks for) are built at once, without waiting for a turn.
SMALL_LIST = 1000
AOI_NAME_PATTERN = r"^[a-zA-Z0-9\-:_]+$"
AOI_PATTERN = r"^[a-zA-Z0-9\-:_*?]+$"


def get_workflow(request: Request) -> Workflow:
    workflow: Workflow = request.app.state.workflow
    return workflow


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_index(request: Request) -> Index:
    index: Index = request.app.state.index()
    return index


WorkflowDep = Annotated[Workflow, Depends(get_workflow)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
IndexDep = Annotated[Index, Depends(get_index)]
AoiName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=255,
        pattern=AOI_NAME_PATTERN,
        description="AOI name: letters, digits, '-', ':' and '_'.",
        examples=["DenmarkDemoS2"],
    ),
]
AoiOrPattern = Annotated[
    str,
    Path(
        min_length=1,
        max_length=255,
        pattern=AOI_PATTERN,
        description="AOI name, or a pattern with * and ? (answers the matching names; send ? as %3F).",
        examples=["DenmarkDemoS2", "Denmark*"],
    ),
]
SceneId = Annotated[int, Path(ge=1, le=MAX_ID, description="Scene id.", examples=[12])]
TileId = Annotated[int, Path(ge=1, le=MAX_ID, description="Tile id.", examples=[12])]
StatusPath = Annotated[
    str, Path(max_length=16, description="NEW, PENDING, DONE, RETRY or FAILED (any case).", examples=["RETRY"])
]
PageQuery = Annotated[int | None, Query(ge=0, le=MAX_PAGE, description="0-based page; needs `limit`.")]
LimitQuery = Annotated[int | None, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
FormatQuery = Annotated[
    Literal["json", "geojson"],
    Query(description="`geojson` answers a FeatureCollection of footprints (application/geo+json)."),
]
MessageQuery = Annotated[
    str | None,
    Query(max_length=10_000, pattern=r"^[^\x00]*$", description="Why (kept as the message and in the history)."),
]


def parse_status(value: str) -> Status:
    try:
        return Status.parse(value)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


@contextmanager
def heavy_turn(request: Request) -> Iterator[None]:
    """Wait for a turn to build an answer proportional to an AOI's size (blocks this worker thread only)."""
    turns: threading.BoundedSemaphore = request.app.state.heavy_turns
    with turns:
        yield


@dataclass(frozen=True, slots=True)
class ListRequest:
    """The paging and format a list was asked with, and how to answer it."""

    request: Request
    page: int | None
    limit: int | None
    format: str

    def answer(self, build: Callable[..., bytes]) -> Response:
        """JSON bytes from `build(page=, limit=, geojson=)`; GeoJSON and long lists take a heavy turn."""
        geojson = self.format == "geojson"
        if geojson or self.limit is None or self.limit > SMALL_LIST:
            with heavy_turn(self.request):
                content = build(page=self.page, limit=self.limit, geojson=geojson)
        else:
            content = build(page=self.page, limit=self.limit, geojson=geojson)
        return Response(content, media_type=GEOJSON if geojson else "application/json")


def list_request(
    request: Request, page: PageQuery = None, limit: LimitQuery = None, format: FormatQuery = "json"
) -> ListRequest:
    return ListRequest(request, page, limit, format)


ListDep = Annotated[ListRequest, Depends(list_request)]


def geojson_responses(collection: type[SceneFeatureCollection] | type[TileFeatureCollection]) -> dict[str, Any]:
    """The extra media type of list routes, as `openapi_extra` (the schema lives in components)."""
    ref = {"$ref": f"#/components/schemas/{collection.__name__}"}
    return {"responses": {"200": {"content": {GEOJSON: {"schema": ref}}}}}


def storable_data(data: dict[str, Any]) -> dict[str, Any]:
    try:
        check_json_value(data)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    return data
