"""`geocube-ingest serve`: the workflow server (REST API + web page) with uvicorn.

SIGTERM or SIGINT stops it within seconds: the ingestions it runs in-process wind down
and give their work back (api/runs.py); it exits 128+signal when work was left unfinished.
"""

from __future__ import annotations

import math
from types import FrameType
from typing import Annotated

import typer

from geocube_ingest import shutdown
from geocube_ingest.cli.common import EXIT_CODES_HELP, console, leave_stopped, stoppable
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

    class Server(uvicorn.Server):
        """uvicorn's server, whose signal handler also asks this process to stop, so in-process
        ingestions wind down while uvicorn closes connections; the app's shutdown then waits
        for them. uvicorn hands the signal on to our handler once it has stopped."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            shutdown.request(sig)
            super().handle_exit(sig, frame)

    settings = get_settings()
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    auth = "bearer token required" if settings.api.token is not None else "no token configured: open to anyone"
    console.print(f"workflow server on http://{host}:{port}/  (web page /ui/, {auth})", highlight=False)
    config = uvicorn.Config(
        "geocube_ingest.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=math.ceil(settings.pipeline.stop_grace_seconds) or 1,
    )
    with stoppable(settings):
        if reload:  # a supervisor process restarts the server: no in-process ingestion to stop here
            uvicorn.run(config.app, factory=True, host=host, port=port, reload=True, log_level=config.log_level)
        else:
            Server(config).run()
    if shutdown.work_left():
        console.print("[yellow]Stopped:[/] in-process ingestions were given back; post them again to resume.")
        leave_stopped(settings)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES_HELP)(serve)
