"""The workflow server: upstream's REST API over the Workflow, plus the web page at /ui.

`create_app()` builds it from settings (or the given workflow, e.g. in tests); routes are
plain `def`s because the workflow is blocking SQLAlchemy: FastAPI runs them in its thread
pool. Every change made through the API is recorded with the actor "api" in the history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from geocube_ingest.api import errors, page, routes_aoi, routes_catalog, routes_scene, routes_tile, security
from geocube_ingest.api.runs import AoiLocks, make_starter
from geocube_ingest.api.schemas import ErrorOut, HealthOut, SceneFeatureCollection, TileFeatureCollection
from geocube_ingest.api.schemas_catalog import COMPONENTS as CATALOG_COMPONENTS
from geocube_ingest.api.schemas_catalog import file_body_schemas, payload_document_schemas
from geocube_ingest.index import Index, get_index
from geocube_ingest.index.follow import follow
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.workflow import Workflow

log = logging.getLogger(__name__)

UI_DIR = Path(__file__).parent / "ui"
DESCRIPTION = """\
Monitor and operate the ingestion workflow: AOIs, scenes (downloads) and tiles (processing),
with the endpoints, JSON shapes and status codes of the Geocube Ingester's workflow server.

* Lists of scenes and tiles accept `page`/`limit`, and `format=geojson` for a GeoJSON
  FeatureCollection of footprints (`application/geo+json`).
* Refused transitions answer 403 with the reason, unknown ids 404, bad input 400/422;
  error bodies are `{"detail": "..."}`.
* `/catalog/scenes`, `/catalog/tiles` and `/catalog/aoi` take the payload as the multipart
  field `area` (`curl -F "area=@payload.json"`), as the seed shows; `/catalog/aoi` answers 202
  once the scenes are posted, and the ingestion goes on in the server (or on Prefect).
* When a token is configured, send `Authorization: Bearer <token>` (all routes but `/`, `/ui` and
  `/docs`; here: the Authorize button).
* The web page is at [/ui/](/ui/).
"""


def _version() -> str:
    try:
        return package_version("geocube-ingest")
    except PackageNotFoundError:
        return "0+unknown"


def _lazy_index(settings: Settings, index: Index | None) -> Callable[[], Index]:
    """The index, opened on first use (it may be a Geocube server: routes that do not need it never connect)."""
    lock = threading.Lock()
    opened: list[Index] = [index] if index is not None else []

    def get() -> Index:
        with lock:
            if not opened:
                opened.append(get_index(settings))
            return opened[0]

    return get


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At shutdown, in-process ingestions stop and give their work back (api/runs.py)."""
    yield
    grace = app.state.settings.pipeline.stop_grace_seconds + 2
    await run_in_threadpool(app.state.runs.stop, grace)


def create_app(
    settings: Settings | None = None, workflow: Workflow | None = None, index: Index | None = None
) -> FastAPI:
    settings = settings or get_settings()
    wf = (workflow or Workflow(settings=settings)).as_actor("api")
    app = FastAPI(
        lifespan=_lifespan,
        title="geocube-ingest workflow server",
        version=_version(),
        description=DESCRIPTION,
        docs_url=None,  # FastAPI's Swagger/ReDoc pages load from a CDN: page.docs_router serves shipped files
        redoc_url=None,
        openapi_url=None,  # served below, behind the token like every API route
    )
    app.state.settings = settings
    app.state.workflow = wf
    app.state.index = _lazy_index(settings, index)
    follow(wf, settings, app.state.index)  # failing or forcing a DONE tile withdraws its layers
    app.state.runs = make_starter(wf, settings, app.state.index)
    app.state.aoi_locks = AoiLocks()
    app.state.heavy_turns = threading.BoundedSemaphore(settings.api.resolved_heavy_answers)

    token = settings.api.token
    guarded = [security.require_token(token)] if token is not None else []
    for router in (routes_catalog.router, routes_aoi.router, routes_scene.router, routes_tile.router):
        app.include_router(router, dependencies=guarded)
    app.include_router(page.config_router, dependencies=guarded)
    app.include_router(page.docs_router)

    @app.get("/", summary="Health check", response_model=HealthOut, tags=["service"], responses=errors.responses(503))
    def health(request: Request) -> Any:
        """Open without a token; answers 503 when the workflow database cannot be reached."""
        try:
            with wf.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("health check: database unreachable: %s", type(exc).__name__)
            return JSONResponse({"detail": "workflow database unreachable"}, status_code=503)
        return {"status": "ok", "service": "geocube-ingest", "version": app.version}

    @app.get("/openapi.json", include_in_schema=False, dependencies=guarded)
    def openapi_schema() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    errors.install(app)
    security.install(
        app,
        cors_origins=settings.api.cors_origins,
        max_upload_bytes=settings.api.max_upload_bytes,
        image_sources=page.image_sources(settings.api),
    )
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the models routes reference by name (GeoJSON answers, errors)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    named: list[type[BaseModel]] = [SceneFeatureCollection, TileFeatureCollection, ErrorOut, *CATALOG_COMPONENTS]
    _, extra = models_json_schema(
        [(m, "serialization") for m in named],
        ref_template="#/components/schemas/{model}",
    )
    known = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in {**extra.get("$defs", {}), **payload_document_schemas(), **file_body_schemas()}.items():
        known.setdefault(name, definition)
    app.openapi_schema = schema
    return schema
