"""A STAC API with the transactions extension, served for real on 127.0.0.1 (uvicorn in a thread).

It implements the extension's create/update/delete endpoints for collections and items (POST →
201, or 409 when it exists; PUT replaces; DELETE removes an item; 404 for an unknown one), bearer-token
auth, and can answer 503 (or another status, with headers) a given number of times to exercise
retries. Stores in memory.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class StacApi:
    url: str = ""
    token: str = ""
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    fail_next: int = 0
    fail_status: int = 503
    fail_headers: dict[str, str] = field(default_factory=dict)
    posts: int = 0
    puts: int = 0
    deletes: int = 0


def build_app(state: StacApi) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if state.fail_next > 0:
            state.fail_next -= 1
            return JSONResponse({"detail": "busy"}, status_code=state.fail_status, headers=state.fail_headers)
        if request.headers.get("authorization") != f"Bearer {state.token}":
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        return await call_next(request)

    @app.post("/collections")
    async def create_collection(request: Request) -> JSONResponse:
        body = await request.json()
        state.posts += 1
        if body["id"] in state.collections:
            return JSONResponse({"detail": "exists"}, status_code=409)
        state.collections[body["id"]] = body
        state.items.setdefault(body["id"], {})
        return JSONResponse(body, status_code=201)

    @app.put("/collections/{collection_id}")
    async def update_collection(collection_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        state.puts += 1
        if collection_id not in state.collections or body.get("id") != collection_id:
            return JSONResponse({"detail": "not found"}, status_code=404)
        state.collections[collection_id] = body
        return JSONResponse(body)

    @app.post("/collections/{collection_id}/items")
    async def create_item(collection_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        state.posts += 1
        if collection_id not in state.collections:
            return JSONResponse({"detail": "no collection"}, status_code=404)
        if body.get("collection") != collection_id or body.get("type") != "Feature":
            return JSONResponse({"detail": "bad item"}, status_code=400)
        if body["id"] in state.items[collection_id]:
            return JSONResponse({"detail": "exists"}, status_code=409)
        state.items[collection_id][body["id"]] = body
        return JSONResponse(body, status_code=201)

    @app.put("/collections/{collection_id}/items/{item_id}")
    async def update_item(collection_id: str, item_id: str, request: Request) -> JSONResponse:
        body = await request.json()
        state.puts += 1
        if item_id not in state.items.get(collection_id, {}):
            return JSONResponse({"detail": "not found"}, status_code=404)
        state.items[collection_id][item_id] = body
        return JSONResponse(body)

    @app.delete("/collections/{collection_id}/items/{item_id}")
    async def delete_item(collection_id: str, item_id: str) -> JSONResponse:
        state.deletes += 1
        if state.items.get(collection_id, {}).pop(item_id, None) is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return JSONResponse({})

    return app


@contextmanager
def running_stac_api(token: str) -> Iterator[StacApi]:
    state = StacApi(token=token)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(build_app(state), log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        state.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
