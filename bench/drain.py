"""What the orchestrating loop costs while batches run: CPU of the drain loop's own thread.

    python bench/drain.py                       # SQLite, 20,000 tiles
    python bench/drain.py --tiles 100000 --backend postgresql
    python bench/drain.py --compare-with main   # also the loop of another git revision

An AOI of N ready tiles (scenes DONE, tiles independent) is drained by the real loop and
`ThreadRunner`; each batch claims its tiles with leases, waits `--tile-seconds` per tile
(standing for graph steps running on the Dask cluster, where the orchestrator does no
work), and reports them DONE in one transaction. The numbers are the CPU time of the
thread running `drain` (time.thread_time), its share of a core over the run, and the
number of `work_status` queries it made. With `--compare-with REV`, `drain.py` of that
revision (git show) runs the same AOI on a fresh database first.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from workflow_scale import drop, postgres_database  # noqa: E402  (scratch PostgreSQL databases)

from geocube_ingest.pipeline.workers import BatchResult  # noqa: E402
from geocube_ingest.settings import Settings  # noqa: E402
from geocube_ingest.workflow import NewScene, NewTile, Outcome, Workflow  # noqa: E402

AOI = "BenchDrain"


def build(workflow: Workflow, n_tiles: int, per_scene: int) -> None:
    scenes = [
        NewScene(f"S{i}", {"date": f"2022-01-01T10:00:{i % 60:02d}Z"}, [NewTile(f"t{k}") for k in range(per_scene)])
        for i in range(n_tiles // per_scene)
    ]
    workflow.ingest(AOI, scenes)
    while leases := workflow.claim("scene", "bench-setup", limit=500, aoi=AOI):
        workflow.report_many([(lease, Outcome.done()) for lease in leases])


def batches(workflow: Workflow, batch: int, tile_seconds: float) -> dict[str, Callable[[], BatchResult]]:
    def process() -> BatchResult:
        leases = workflow.claim("tile", "bench-worker", limit=batch, aoi=AOI)
        time.sleep(tile_seconds * len(leases))  # the cluster works; the orchestrator waits
        result = BatchResult("tile", claimed=len(leases))
        result.outcomes["DONE"] = sum(workflow.report_many([(lease, Outcome.done()) for lease in leases]))
        return result

    def download() -> BatchResult:
        return BatchResult("scene")

    return {"download": download, "processing": process}


class CountingWorkflow(Workflow):
    looks = 0

    def work_status(self, aoi: str | None = None, **options: Any) -> Any:
        CountingWorkflow.looks += 1
        return super().work_status(aoi, **options)


def run(module: ModuleType, url: str, args: argparse.Namespace) -> dict[str, float]:
    settings = Settings(database_url=url, pipeline={"tile_batch": args.batch, "max_parallel_batches": args.parallel})
    workflow = CountingWorkflow(url, settings=settings)
    build(workflow, args.tiles, args.per_scene)
    runner = module.ThreadRunner(batches(workflow, args.batch, args.tile_seconds), max_workers=2 * args.parallel)
    CountingWorkflow.looks = 0
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    report = module.drain(workflow, settings, AOI, runner=runner)
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    runner.close()
    assert workflow.summary(AOI).tiles.done == args.tiles, workflow.summary(AOI)
    return {"cpu": cpu, "wall": wall, "looks": CountingWorkflow.looks, "batches": report.batches}


def revision_module(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:geocube_ingest/pipeline/drain.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="bench-drain-")) / "drain_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("drain_rev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["drain_rev"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def database(backend: str, folder: Path, name: str) -> tuple[str, str | None]:
    """The database URL, and the admin URL to drop it with (PostgreSQL)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / f'{name}.db'}", None
    admin_url, url = postgres_database()
    return url, admin_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=20_000)
    parser.add_argument("--per-scene", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500, help="tiles per batch (pipeline.tile_batch)")
    parser.add_argument("--parallel", type=int, default=4, help="batches in flight (pipeline.max_parallel_batches)")
    parser.add_argument("--tile-seconds", type=float, default=0.005, help="time a tile spends on the cluster")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--compare-with", metavar="REV", help="also run drain.py of this git revision")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    loops = [(f"drain.py of {args.compare_with}", revision_module(args.compare_with))] if args.compare_with else []
    loops.append(("drain.py of this checkout", importlib.import_module("geocube_ingest.pipeline.drain")))
    shape = f"batches of {args.batch}, {args.parallel} in flight, {args.tile_seconds} s per tile on the cluster"
    print(f"{args.tiles} tiles, {shape}, {args.backend}")
    for label, module in loops:
        url, admin_url = database(args.backend, folder, label.split()[-1])
        try:
            got = run(module, url, args)
        finally:
            if admin_url is not None:
                drop(admin_url, url)
        print(
            f"{label}: {got['wall']:.1f} s, loop thread CPU {got['cpu']:.2f} s = {100 * got['cpu'] / got['wall']:.1f} %"
            f" of a core, {got['looks']:.0f} work_status queries, {got['batches']:.0f} batches"
        )


if __name__ == "__main__":
    main()
