"""What the browser pages need beyond their static files: the map's settings and the API docs.

- `GET /page/config` tells the web page the operator's basemap (behind the token, like the
  API: a tile URL may carry the provider's key).
- `GET /docs` is Swagger UI from the files shipped in `ui/vendor/` (no CDN). The page itself
  is open, as `/ui` is (a browser cannot send a header when it opens a page); the schema it
  shows stays behind the token: the page asks for it and pre-fills Swagger's Authorize.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from geocube_ingest.api.errors import responses
from geocube_ingest.settings import ApiSettings

DOCS_HTML = Path(__file__).parent / "docs.html"

config_router = APIRouter(tags=["service"])
docs_router = APIRouter(include_in_schema=False)


class PageConfig(BaseModel):
    basemap_url: str | None = Field(description="XYZ tile URL template of the basemap, or null: no basemap.")
    basemap_attribution: str | None = Field(description="Attribution to show with the basemap.")


@config_router.get(
    "/page/config", summary="Settings of the web page's map", response_model=PageConfig, responses=responses(401)
)
def page_config(request: Request) -> Any:
    api: ApiSettings = request.app.state.settings.api
    return PageConfig(basemap_url=api.basemap_url, basemap_attribution=api.basemap_attribution)


@docs_router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML.read_text(encoding="utf-8"))


def image_sources(api: ApiSettings) -> list[str]:
    """Where the pages may load images from besides the server: the basemap's host, for the CSP."""
    if api.basemap_url is None:
        return []
    parts = urlsplit(api.basemap_url)
    host = parts.netloc.replace("{s}", "*")
    return [f"{parts.scheme}://{host}"]
