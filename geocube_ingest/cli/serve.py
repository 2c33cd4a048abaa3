"""`geocube-ingest serve`: the workflow server (REST API + web page) with uvicorn.

SIGTERM or SIGINT stops it within seconds: the ingestions it runs in-process wind down
and give their work back (api/runs.py); it exits 128+signal when work was left unfinished.
"""

from __future__ import annotations

import ipaddress
import math
from types import FrameType
from typing import Annotated

import typer

from geocube_ingest import shutdown
from geocube_ingest.cli.common import EXIT_CODES_HELP, console, leave_stopped, stoppable
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import Settings, get_settings


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_line(settings: Settings, host: str, allow_anonymous: bool) -> str:
    """Who may call the server, said out loud; InvalidInput when it would be open to the network unasked."""
    if settings.api.token is not None:
        return "bearer token required on every route but /, /ui and /docs"
    if _loopback(host):
        return "no token configured: open to anyone on this machine"
    if not (allow_anonymous or settings.security.allow_anonymous):
        raise InvalidInput(
            f"no api.token is configured and {host} is not a loopback address: anyone who reaches it could "
            "post payloads and change every status. Set GEOCUBE_INGEST_API__TOKEN, or pass --allow-anonymous "
            "(security.allow_anonymous) to serve it open on purpose"
        )
    return "NO TOKEN: open to anyone who can reach this address (allowed by the operator)"


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: settings api.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (default: settings api.port).")
    ] = None,
    reload: Annotated[bool, typer.Option("--reload", help="Restart when the code changes (development).")] = False,
    allow_anonymous: Annotated[
        bool,
        typer.Option("--allow-anonymous", help="Serve a non-loopback address without api.token (anyone may call)."),
    ] = False,
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
    auth = access_line(settings, host, allow_anonymous)
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
