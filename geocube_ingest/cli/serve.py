"""`geocube-ingest serve`: the workflow server (REST API + web page) with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from geocube_ingest.cli.common import console
from geocube_ingest.settings import get_settings


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: settings api.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (default: settings api.port).")
    ] = None,
    reload: Annotated[bool, typer.Option("--reload", help="Restart when the code changes (development).")] = False,
) -> None:
    """Serve the REST API and the web page (/ui) over the configured workflow database."""
    import uvicorn

    settings = get_settings()
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    auth = "bearer token required" if settings.api.token is not None else "no token configured: open to anyone"
    console.print(f"workflow server on http://{host}:{port}/  (web page /ui/, {auth})", highlight=False)
    uvicorn.run(
        "geocube_ingest.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        log_level=settings.log_level.lower(),
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
