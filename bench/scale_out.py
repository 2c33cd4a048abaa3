"""Scale-out: tiles/s on 1 and 2 isolated Dask workers, and what the orchestrator itself does.

    python bench/scale_out.py                   # 10 demo scenes x 2 independent tiles, S2Indices
    python bench/scale_out.py --tiles-per-scene 4

Each worker is a `dask worker --nthreads 1` in its own mount namespace (`unshare -m`, a tmpfs
over /tmp where the orchestrator's home, work folder and products live): workers see only
storage (a moto S3 server); the workflow database is PostgreSQL. The orchestrator is this
process: it downloads the demo's Sentinel-2 products (staged to S3 for the scene jobs),
then drains the tiles (graph S2Indices, NDVI + cloud mask as COGs, independent tiles) with
the in-process drain loop. While tiles run it samples its own I/O counters and CPU time:

- tiles/s with 1 and with 2 workers;
- raster bytes read and written by the orchestrating process (psutil io_counters; goal: none);
- its CPU share while tiles run (goal: < 5% of a core).

Needs root (unshare), PostgreSQL on 127.0.0.1:5432 (or GEOCUBE_INGEST_BENCH_PG).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def post_aoi(aoi: str, products: list[Path], items: list[dict[str, object]], per_scene: int) -> int:
    """One scene per demo product, `per_scene` independent tiles each (no time series: all ready at once)."""
    from geocube_ingest.workflow import NewScene, NewTile, Workflow

    scenes = []
    for product, item in zip(products, items, strict=True):
        name = product.name.removesuffix(".zip").removesuffix(".SAFE")
        tiles = [NewTile(f"t{k}", {"graph_name": "S2Indices", "tile_nr": k}) for k in range(per_scene)]
        data = {
            "date": item["properties"]["datetime"],  # type: ignore[index]
            "graph_name": "CopyProductToStorage",
            "metadata": {"download_link": product.resolve().as_uri()},
        }
        scenes.append(NewScene(name, data, tiles))
    Workflow().ingest(aoi, scenes)
    return per_scene * len(scenes)


def notice(text: str) -> None:
    """Why work waited (leases of other workers, provider slots): worth seeing next to the numbers."""
    print(f"  [{time.strftime('%H:%M:%S')}] {text}")


def run(n_workers: int, per_scene: int, scratch: Path) -> None:
    from bench.workflow_scale import drop, postgres_database
    from geocube_ingest.demo.build import _items, build
    from geocube_ingest.pipeline.drain import ThreadRunner, drain
    from geocube_ingest.pipeline.workers import download_batch, process_batch
    from geocube_ingest.processing.cluster import close_clients
    from geocube_ingest.settings import get_settings
    from geocube_ingest.workflow import Workflow
    from geocube_ingest.workflow.owners import owner_id
    from tests.cluster.conftest import orchestrator_env, s3_env, start_cluster
    from tests.storage.servers import S3Server

    s3 = S3Server(os.environ["BENCH_S3_ENDPOINT"])
    world = build(scratch / "world")
    admin_url, database_url = postgres_database()
    logs = scratch / f"logs-{n_workers}"
    logs.mkdir()
    cluster = start_cluster(s3_env(s3), logs, workers=n_workers, threads=1)
    try:
        env = orchestrator_env(cluster, f"s3://{s3.new_bucket()}/cubes", database_url)
        env["GEOCUBE_INGEST_HOME"] = str(scratch / f"home-{n_workers}")
        env["GEOCUBE_INGEST_SECURITY__FILE_ROOTS"] = f'["{world.folder.resolve()}"]'
        env["GEOCUBE_INGEST_PIPELINE__TILE_CONCURRENCY"] = str(2 * n_workers)
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        aoi = f"ScaleOut{n_workers}"
        tiles = post_aoi(aoi, world.products, _items(), per_scene)
        workflow = Workflow(settings=settings)
        runner = ThreadRunner(
            {
                "download": lambda: download_batch(workflow, settings, owner_id("download"), aoi=aoi),
                "processing": lambda: process_batch(workflow, settings, owner_id("process"), index=None, aoi=aoi),
            },
            max_workers=4,
        )
        try:
            t0 = time.perf_counter()
            fetched = drain(workflow, settings, aoi, runner=runner, pools=("download",), on_notice=notice)
            downloads = time.perf_counter() - t0
            from geocube_ingest.processing import load_graph
            from geocube_ingest.processing.validate import require_valid

            require_valid(load_graph("S2Indices", settings), settings, {})  # first imports are not measured
            me = psutil.Process()
            io0, cpu0, t1 = me.io_counters(), me.cpu_times(), time.perf_counter()
            report = drain(workflow, settings, aoi, runner=runner, pools=("processing",), on_notice=notice)
            elapsed = time.perf_counter() - t1
            io1, cpu1 = me.io_counters(), me.cpu_times()
        finally:
            runner.close()
        outcomes = ", ".join(f"{kind} {n}" for kind, n in sorted(report.outcomes.items()))
        problems = "".join(f"\n  {line}" for line in report.failures[:5])
        summary = workflow.summary(aoi)
        assert summary.tiles.done == tiles, summary
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        load = os.getloadavg()[0]
        print(
            f"{n_workers} worker{'s' * (n_workers > 1)} x 1 thread: {tiles} tiles in {elapsed:.1f} s ="
            f" {tiles / elapsed:.2f} tiles/s (downloads and staging before: {downloads:.1f} s;"
            f" load average {load:.1f} on {os.cpu_count()} cores)"
        )
        print(
            f"  orchestrator while tiles ran: read {io1.read_bytes - io0.read_bytes} B,"
            f" wrote {io1.write_bytes - io0.write_bytes} B (disk; syscalls {io1.read_chars - io0.read_chars} B read,"
            f" {io1.write_chars - io0.write_chars} B written), CPU {100 * cpu / elapsed:.1f}% of a core"
        )
        print(f"  job outcomes: {outcomes}{problems}")
        if fetched.failures:  # a scene given back stalls the run by its delay: say why
            print("  download and scene jobs:" + "".join(f"\n  {line}" for line in fetched.failures[:5]))
    finally:
        close_clients()
        cluster.close()
        drop(admin_url, database_url)


def main() -> None:
    import subprocess

    from tests.processes import free_port
    from tests.storage.servers import _executable

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles-per-scene", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="gci-scale-"))
    port = free_port()
    moto = subprocess.Popen(
        [_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["BENCH_S3_ENDPOINT"] = f"http://127.0.0.1:{port}"
    try:
        time.sleep(2)
        for n in args.workers:
            run(n, args.tiles_per_scene, scratch)
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
