"""Workflow server response times on a big AOI, alone and under load (what the web page and clients see).

Prints numbers, asserts nothing. Usage:

    python bench/api.py [SCENES] [TILES_PER_SCENE] [--clients 16] [--big 12] [--seconds 30]

(default 100 x 100 = 10,000 chained tiles, all DONE, SQLite; set DATABASE_URL for PostgreSQL).
The server is `geocube-ingest serve` in its own process. First every route is timed alone;
then `--big` clients fetch the whole `GET /aoi/{aoi}/tiles/DONE` in a loop (curl processes, so
the clients' own parsing does not compete with the measuring threads) while the other clients
poll the small routes (`GET /aoi/{aoi}` summary, `GET /tile/{id}`); p50/p99 of each route are
printed. The goal: p99 of the AOI summary under 300 ms while 10,000-tile lists are served.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
from sqlalchemy import update

from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import NewScene, NewTile, TileKey, Workflow
from geocube_ingest.workflow.tables import SceneRow, TileRow

PATHS = [
    "/aoi/{aoi}",
    "/aoi/{aoi}/summary",
    "/aoi/?details=true",
    "/tile/{tile}",
    "/aoi/{aoi}/tiles?limit=50&page=10",
    "/aoi/{aoi}/tiles/DONE?limit=50",
    "/aoi/{aoi}/footprints",
    "/aoi/{aoi}/tiles",
    "/aoi/{aoi}/tiles/DONE",
    "/aoi/{aoi}/tiles?format=geojson",
    "/aoi/{aoi}/scenes",
    "/aoi/{aoi}/roottiles",
    "/aoi/{aoi}/dot",
    "/aoi/{aoi}/dot.svg",
]
AOI = "BenchAOI"


def square(x: float, y: float, size: float) -> str:
    return f"POLYGON (({x} {y}, {x + size} {y}, {x + size} {y + size}, {x} {y + size}, {x} {y}))"


def big_aoi(workflow: Workflow, aoi: str, n_scenes: int, n_tiles: int) -> None:
    """Chained tiles, then every scene and tile DONE (set directly: the rules are not what is measured)."""
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
    with workflow.engine.begin() as connection:
        connection.execute(update(SceneRow).where(SceneRow.aoi_id == aoi).values(status=Status.DONE.value))
        connection.execute(update(TileRow).where(TileRow.aoi_id == aoi).values(status=Status.DONE.value))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(home: Path, url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    script = Path(sys.executable).with_name("geocube-ingest")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "geocube_ingest.cli.main"]
    env = {
        **os.environ,
        "GEOCUBE_INGEST_HOME": str(home),
        "GEOCUBE_INGEST_DATABASE_URL": url,
        "GEOCUBE_INGEST_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def alone(base: str, tile_ids: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=300) as client:
        print(f"{'GET (alone)':44s} {'status':>6s} {'MB':>8s} {'seconds':>8s}")
        for path in PATHS:
            target = path.format(aoi=AOI, tile=tile_ids[len(tile_ids) // 2])
            client.get(target)  # warm
            start = time.perf_counter()
            answer = client.get(target)
            elapsed = time.perf_counter() - start
            print(f"{target:44s} {answer.status_code:6d} {len(answer.content) / 1e6:8.2f} {elapsed:8.3f}")


def under_load(base: str, tile_ids: list[int], clients: int, big: int, seconds: float) -> None:
    stop = time.monotonic() + seconds
    times: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    big_path = f"/aoi/{AOI}/tiles/DONE"

    def big_client() -> None:
        while time.monotonic() < stop:
            done = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", base + big_path],
                capture_output=True,
                text=True,
                check=False,
            )
            code, _, elapsed = done.stdout.partition(" ")
            with lock:
                if code == "200":
                    times[big_path].append(float(elapsed))
                else:
                    errors[big_path] += 1

    def small_client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base, timeout=120) as client:
            while time.monotonic() < stop:
                for path in (f"/aoi/{AOI}", f"/tile/{rng.choice(tile_ids)}"):
                    start = time.perf_counter()
                    answer = client.get(path)
                    elapsed = time.perf_counter() - start
                    key = path if path.startswith("/aoi") else "/tile/{id}"
                    with lock:
                        if answer.status_code == 200:
                            times[key].append(elapsed)
                        else:
                            errors[key] += 1
                    time.sleep(0.05)  # a polling page, not a flood

    threads = [threading.Thread(target=big_client) for _ in range(big)]
    threads += [threading.Thread(target=small_client, args=(i,)) for i in range(clients - big)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"\nunder load: {big} clients fetching {big_path} in a loop, {clients - big} polling, {seconds:.0f} s")
    print(f"{'GET':44s} {'n':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'errors':>6s}")
    for key in (f"/aoi/{AOI}", "/tile/{id}", big_path):
        values = sorted(times[key])
        if not values:
            print(f"{key:44s} {'-':>6s}")
            continue
        p50 = statistics.median(values) * 1000
        p99 = values[min(len(values) - 1, int(0.99 * len(values)))] * 1000
        print(f"{key:44s} {len(values):6d} {p50:8.0f} {p99:8.0f} {values[-1] * 1000:8.0f} {errors[key]:6d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", type=int, nargs="?", default=100)
    parser.add_argument("tiles", type=int, nargs="?", default=100)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--big", type=int, default=12, help="clients fetching the whole DONE list")
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        workflow = Workflow(url, settings=Settings(home=Path(tmp), database_url=url))
        start = time.perf_counter()
        big_aoi(workflow, AOI, args.scenes, args.tiles)
        print(f"ingest {args.scenes} scenes x {args.tiles} tiles: {time.perf_counter() - start:.2f} s")
        tile_ids = [t.id for t in workflow.tiles(AOI, limit=args.scenes * args.tiles)]
        process, base = start_server(Path(tmp), url)
        try:
            alone(base, tile_ids)
            under_load(base, tile_ids, args.clients, args.big, args.seconds)
        finally:
            process.terminate()
            process.wait(timeout=20)
            if url.startswith("postgresql"):
                workflow.delete_aoi(AOI)


if __name__ == "__main__":
    main()
