"""End-to-end timings: the demo by stage, and orchestration overhead on many no-op tiles.

    python bench/end_to_end.py                      # demo + 10,000 no-op tiles, in-process and Prefect
    python bench/end_to_end.py --tiles 2000 --skip-demo --no-prefect

Part 1 runs the demo payload (10 Sentinel-2 products, NDVI and its changes) in-process and
prints the wall time of each stage. Part 2 posts S scenes of T/S tiles each, chained in
time series (graph `Pass` for both the scene and the tile graph: no raster work), with a
tiny product per scene, and drains them with the real download and processing workers:
what is measured is the orchestration (claims, leases, reports, dispatch, task runs). It
prints the total, the overhead per tile and the peak RSS. Everything runs in a scratch home.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def demo(home: Path) -> None:
    from geocube_ingest.demo.build import build, overrides, prepare_index
    from geocube_ingest.index import get_index
    from geocube_ingest.pipeline import ingest
    from geocube_ingest.settings import get_settings

    t0 = time.perf_counter()
    world = build(home / "demo")
    built = time.perf_counter() - t0
    settings = get_settings().with_overrides(overrides(world))
    prepare_index(get_index(settings))
    t1 = time.perf_counter()
    report = ingest(world.payload, settings=settings)
    total = time.perf_counter() - t1
    s = report.seconds
    print(f"demo: {report.summary.tiles.done} tiles DONE in {total:.1f} s (building the catalogue: {built:.1f} s)")
    print(
        f"  catalogue+records+workflow {s['catalogue']:.2f} s | downloads+processing {s['workers']:.1f} s"
        f" (busy: downloads {s['busy_download']:.1f} s, processing {s['busy_processing']:.1f} s)"
        f" | STAC {s.get('publish', 0):.2f} s"
    )


def post_noop_aoi(aoi: str, n_scenes: int, per_scene: int, folder: Path) -> None:
    """Scenes with a tiny product each, tiles chained across scenes, graphs `Pass`."""
    from geocube_ingest.workflow import NewScene, NewTile, TileKey, Workflow

    folder.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i in range(n_scenes):
        product = folder / f"P{i:05d}.zip"
        with zipfile.ZipFile(product, "w") as archive:
            archive.writestr(f"P{i:05d}/manifest.txt", "no data")
        tiles = [
            NewTile(
                f"t{k:05d}",
                {"graph_name": "Pass", "tile_nr": k},
                previous=TileKey(f"P{i - 1:05d}", f"t{k:05d}") if i else None,
            )
            for k in range(per_scene)
        ]
        data = {
            "date": f"2023-01-01T00:00:{i % 60:02d}Z",
            "graph_name": "Pass",
            "metadata": {"download_link": product.as_uri()},
        }
        scenes.append(NewScene(f"P{i:05d}", data, tiles))
    Workflow().ingest(aoi, scenes)


def noop(home: Path, n_tiles: int, n_scenes: int, prefect: bool) -> None:
    from geocube_ingest.index import get_index
    from geocube_ingest.pipeline import run_workers
    from geocube_ingest.settings import get_settings
    from geocube_ingest.workflow import Workflow

    aoi = "NoopPrefect" if prefect else "NoopInProcess"
    per_scene = n_tiles // n_scenes
    t0 = time.perf_counter()
    post_noop_aoi(aoi, n_scenes, per_scene, home / f"products-{aoi}")
    posted = time.perf_counter() - t0
    settings = get_settings()
    workflow = Workflow(settings=settings)
    t1 = time.perf_counter()
    if prefect:
        from prefect import flow

        from flows.common import PrefectRunner, thread_runner
        from geocube_ingest.pipeline import drain

        @flow(name="bench-noop", task_runner=thread_runner())
        def bench_flow() -> None:
            drain(workflow, settings, aoi, runner=PrefectRunner(aoi, None))

        bench_flow()
    else:
        run_workers(workflow, get_index(settings), settings, aoi)
    elapsed = time.perf_counter() - t1
    summary = workflow.summary(aoi)
    assert summary.tiles.done == per_scene * n_scenes, summary
    mode = "Prefect flow (ephemeral)" if prefect else "in-process"
    print(
        f"{per_scene * n_scenes} no-op tiles, {n_scenes} scenes, {mode}: posted in {posted:.1f} s,"
        f" downloaded and processed in {elapsed:.1f} s = {1000 * elapsed / (per_scene * n_scenes):.2f} ms per tile"
        f" (the {n_scenes} downloads included); peak RSS {peak_mb():.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=10_000)
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--prefect", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gci-e2e-"))
    os.environ["GEOCUBE_INGEST_HOME"] = str(home)
    os.environ["GEOCUBE_INGEST_PIPELINE__TILE_BATCH"] = os.environ.get("GEOCUBE_INGEST_PIPELINE__TILE_BATCH", "100")
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    print(f"scratch home: {home}")
    if not args.skip_demo:
        demo(home)
    noop(home, args.tiles, args.scenes, prefect=False)
    if args.prefect:
        noop(home, args.tiles, args.scenes, prefect=True)


if __name__ == "__main__":
    main()
