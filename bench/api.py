"""Workflow server response times and sizes on a big AOI (what the web page polls).

Prints numbers, asserts nothing. Usage: python bench/api.py [SCENES] [TILES_PER_SCENE]
(default 100 x 100 = 10,000 chained tiles, SQLite; set DATABASE_URL for PostgreSQL).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from geocube_ingest.api import create_app
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import NewScene, NewTile, TileKey, Workflow

PATHS = [
    "/aoi/{aoi}",
    "/aoi/{aoi}/summary",
    "/aoi/?details=true",
    "/aoi/{aoi}/tiles?limit=50&page=10",
    "/aoi/{aoi}/tiles/NEW?limit=50",
    "/aoi/{aoi}/footprints",
    "/aoi/{aoi}/tiles",
    "/aoi/{aoi}/tiles?format=geojson",
    "/aoi/{aoi}/roottiles",
    "/aoi/{aoi}/dot",
    "/aoi/{aoi}/dot.svg",
]


def square(x: float, y: float, size: float) -> str:
    return f"POLYGON (({x} {y}, {x + size} {y}, {x + size} {y + size}, {x} {y + size}, {x} {y}))"


def big_aoi(workflow: Workflow, aoi: str, n_scenes: int, n_tiles: int) -> None:
    scenes = []
    for k in range(n_scenes):
        tiles = [
            NewTile(
                f"b{b:04d}",
                {"swath_id": "IW1", "tile_nr": b + 1, "graph_name": "S1Backscatter", "is_retriable": True},
                previous=TileKey(f"S{k - 1:05d}", f"b{b:04d}") if k else None,
                footprint=square(b * 0.1, 0.0, 0.1),
            )
            for b in range(n_tiles)
        ]
        data = {
            "date": "2022-01-01T00:00:00Z",
            "graph_name": "CopyProductToStorage",
            "instances_id": {f"B{i:02d}": "7b2cb808-a021-4de1-8703-716824fc23d8" for i in range(12)},
        }
        scenes.append(NewScene(f"S{k:05d}", data, tiles, footprint=square(0, 0, n_tiles * 0.1)))
    workflow.ingest(aoi, scenes)


def main() -> None:
    n_scenes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    n_tiles = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(home=Path(tmp), database_url=url)
        workflow = Workflow(url, settings=settings)
        start = time.perf_counter()
        big_aoi(workflow, "BenchAOI", n_scenes, n_tiles)
        print(f"ingest {n_scenes} scenes x {n_tiles} tiles: {time.perf_counter() - start:.2f} s")

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(settings, workflow), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with httpx.Client(base_url=base, timeout=300) as client:
            print(f"{'GET':44s} {'status':>6s} {'MB':>8s} {'seconds':>8s}")
            for path in PATHS:
                target = path.format(aoi="BenchAOI")
                start = time.perf_counter()
                answer = client.get(target)
                elapsed = time.perf_counter() - start
                print(f"{target:44s} {answer.status_code:6d} {len(answer.content) / 1e6:8.2f} {elapsed:8.2f}")
        server.should_exit = True
        thread.join()
        if url.startswith("postgresql"):
            workflow.delete_aoi("BenchAOI")


if __name__ == "__main__":
    main()
