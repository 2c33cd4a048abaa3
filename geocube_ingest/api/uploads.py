"""The files posted to `/catalog/*`: multipart fields as in the seed's curl commands, or JSON.

    curl -F "area=@payload.json" [-F "scenes=@scenes.json" | -F "tiles=@tiles.json"] .../catalog/aoi
    curl -H "Content-Type: application/json" -d @payload.json .../catalog/scenes
    curl -H "Content-Type: application/json" -d '{"area": {...}, "tiles": {...}}' .../catalog/aoi

Only reading happens here (in the event loop: awaiting the body); parsing the documents is
CPU work, left to the routes that run in the thread pool. Request bodies are already capped
by `security.BodySizeLimit`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from geocube_ingest import json_input
from geocube_ingest.api.errors import UnsupportedMediaType
from geocube_ingest.errors import InvalidInput

JSON_TYPES = ("application/json", "application/geo+json")
MULTIPART = "multipart/form-data"


@dataclass(frozen=True, slots=True)
class CatalogUpload:
    """What was posted: each document as raw bytes (a file or form field) or already-decoded JSON."""

    area: Any
    scenes: Any = None
    tiles: Any = None


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return bool(request.headers.get("transfer-encoding")) or (length is not None and length.strip() not in ("", "0"))


def _missing_area() -> InvalidInput:
    return InvalidInput(
        "the payload is missing: send it as the multipart field 'area' (curl -F \"area=@payload.json\") "
        "or as a JSON body"
    )


def _unexpected(names: list[str], fields: tuple[str, ...]) -> InvalidInput:
    return InvalidInput(f"unexpected field(s) {', '.join(map(repr, names))}: this route reads {', '.join(fields)}")


async def _from_multipart(request: Request, fields: tuple[str, ...]) -> CatalogUpload:
    found: dict[str, Any] = {}
    # Few parts are expected: the limits make a flood of parts fail fast (Starlette answers 400).
    async with request.form(max_files=8, max_fields=8) as form:
        unexpected = sorted({name for name in form if name not in fields})
        if unexpected:
            raise _unexpected(unexpected, fields)
        for name in fields:
            values = form.getlist(name)
            if len(values) > 1:
                raise InvalidInput(f"multipart field {name!r} is given {len(values)} times: send it once")
            if values:
                value = values[0]
                found[name] = await value.read() if isinstance(value, UploadFile) else value.encode("utf-8")
    if "area" not in found:
        raise _missing_area()
    return CatalogUpload(**found)


def _from_json(body: bytes, fields: tuple[str, ...]) -> CatalogUpload:
    document = json_input.loads(body, "JSON body")
    if isinstance(document, dict) and "area" in document:
        # The envelope {"area": payload, "scenes": ..., "tiles": ...}; a payload never has an `area` key.
        unexpected = sorted(k for k in document if k not in fields)
        if unexpected:
            raise _unexpected(unexpected, fields)
        return CatalogUpload(**{name: document.get(name) for name in fields})
    return CatalogUpload(area=document)


def upload_reader(*fields: str) -> Callable[[Request], Awaitable[CatalogUpload]]:
    """A dependency reading the route's documents (`area` first, then the optional files)."""

    async def read(request: Request) -> CatalogUpload:
        media = _media_type(request)
        if media == MULTIPART:
            return await _from_multipart(request, fields)
        if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
            return _from_json(await request.body(), fields)
        if not media and not _has_body(request):
            raise _missing_area()
        raise UnsupportedMediaType(
            f"content type {media or '(none)'!r} is not read here: send multipart/form-data "
            '(curl -F "area=@payload.json") or application/json'
        )

    return read
