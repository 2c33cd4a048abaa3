"""Errors as HTTP answers: the status a GeocubeIngestError class names, a JSON body, no stack trace.

Every error body is `{"detail": "<one readable line>"}` (plus `problems` for field errors),
so clients and the web page show the same message the CLI prints.

Unexpected exceptions are answered 500 by `CatchAll`, a middleware that does not re-raise:
Starlette's own handler re-raises after answering, and uvicorn then closes the connection,
which resets the next request a client sends on it (keep-alive).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from geocube_ingest.api.middleware import HttpMiddleware, TrackedSend
from geocube_ingest.errors import FieldError, GeocubeIngestError, InvalidInput

log = logging.getLogger(__name__)


class GraphTooLarge(InvalidInput):
    """The dependency graph has more nodes than Graphviz can lay out in reasonable time."""


class GraphUnavailable(GeocubeIngestError):
    """Graphviz is missing on the server or took too long: the dot text is still available."""

    http_status = 503


class UnsupportedMediaType(InvalidInput):
    """A request body in a format the route does not read."""

    http_status = 415


class ServiceUnavailable(GeocubeIngestError):
    """Something the server depends on (a catalogue, the Prefect server) cannot be reached now: try later."""

    http_status = 503


class UpstreamFailed(GeocubeIngestError):
    """A service the server called answered with an error that retrying will not fix."""

    http_status = 502


def error_body(exc: GeocubeIngestError) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": str(exc)}
    if isinstance(exc, FieldError):
        body["problems"] = [{"field": field, "reason": reason} for field, reason in exc.problems]
    return body


async def _geocube_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GeocubeIngestError)
    return JSONResponse(error_body(exc), status_code=exc.http_status)


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape without echoing the input back (it may be huge, or not even JSON: NaN)."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": error.get("type", ""),
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)


INTERNAL_ERROR = {"detail": "internal server error (see the server log)"}


class CatchAll(HttpMiddleware):
    """Answer 500 for any exception a route lets through, and keep the connection usable.

    The traceback goes to the server log only; clients get one line.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except HTTPException:
            raise  # an answer meant for an outer middleware (413 of the body limit)
        except Exception as exc:
            log.error("internal error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            if tracked.started:  # half an answer is out: only closing the connection can tell the client
                raise
            await JSONResponse(INTERNAL_ERROR, status_code=500)(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GeocubeIngestError, _geocube_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(CatchAll)


INCONSISTENT = "The change would leave the graph of dependencies inconsistent (the detail says why); nothing changed"


def responses(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer; `e503="..."` words one for this route."""
    described = {
        400: "Bad input (the detail names what is wrong)",
        401: "Missing or wrong bearer token",
        403: "Transition refused by the workflow rules",
        404: "Unknown AOI, scene or tile",
        409: "Already exists",
        413: "Request body too large",
        415: "Unsupported content type",
        502: "A service the server called answered with an error",
        503: "Graphviz unavailable or too slow",
    }
    for key, text in descriptions.items():
        described[int(key.removeprefix("e"))] = text
    # Spelled out (not `model=`) so errors stay application/json on text and SVG routes too;
    # app._openapi() puts ErrorOut in the components.
    schema = {"$ref": "#/components/schemas/ErrorOut"}
    return {
        code: {"description": described[code], "content": {"application/json": {"schema": schema}}} for code in codes
    }
