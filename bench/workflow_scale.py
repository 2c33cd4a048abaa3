"""Workflow throughput at scale: ingest N tiles in chains of length L, then drain with K workers.

    python bench/workflow_scale.py --tiles 100000 --chain 10 --workers 4 --backend postgresql
    python bench/workflow_scale.py --tiles 20000 --backend sqlite

Prints tiles/s for ingestion and for claim+complete, and peak memory (RSS) of the driver
and of the worker processes. PostgreSQL: a scratch database is created on the server of
GEOCUBE_INGEST_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geocube_ingest.database import dispose_engines, normalize_url
from geocube_ingest.workflow import NewScene, NewTile, Outcome, TileKey, Workflow

AOI = "Bench"


def scenes(n_tiles: int, chain: int) -> list[NewScene]:
    """`chain` acquisitions of n_tiles/chain locations each: every location is a chain of `chain` tiles."""
    locations = n_tiles // chain
    out = []
    for i in range(chain):
        tiles = [
            NewTile(f"l{k}", {"tile_nr": k}, previous=TileKey(f"S{i - 1}", f"l{k}") if i else None)
            for k in range(locations)
        ]
        out.append(NewScene(f"S{i}", {"date": f"2022-01-{i + 1:02d}T10:00:00Z"}, tiles))
    return out


def drain_worker(url: str, name: str, batch: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    wf = Workflow(url).as_actor(f"bench:{name}")
    done = 0
    idle = 0
    while idle < 20:
        leases = wf.claim("tile", name, limit=batch, aoi=AOI, lease_seconds=600)
        if not leases:
            idle += 1
            time.sleep(0.05)
            continue
        idle = 0
        done += sum(wf.report_many([(lease, Outcome.done()) for lease in leases]))
    out.put((done, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def run(url: str, n_tiles: int, chain: int, workers: int, batch: int) -> dict[str, float]:
    wf = Workflow(url).as_actor("bench")
    t0 = time.perf_counter()
    for scene in scenes(n_tiles, chain):
        wf.ingest(AOI, [scene])
    ingest_s = time.perf_counter() - t0
    for lease in wf.claim("scene", "bench", limit=chain):
        wf.report(lease, Outcome.done())
    dispose_engines()  # no pooled connection crosses the fork

    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=drain_worker, args=(url, f"w{i}", batch, out)) for i in range(workers)]
    t1 = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    drain_s = time.perf_counter() - t1 - 20 * 0.05  # the workers' final idle wait is not work
    for p in procs:
        p.join()
    completed = sum(r[0] for r in results)
    summary = Workflow(url).summary(AOI)
    assert summary.tiles.done == n_tiles == completed, (summary.tiles, completed)
    return {
        "ingest_tiles_per_s": n_tiles / ingest_s,
        "ingest_s": ingest_s,
        "drain_tiles_per_s": n_tiles / drain_s,
        "drain_s": drain_s,
        "driver_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_peak_mb": max(r[1] for r in results) / 1024,
    }


def postgres_database() -> tuple[str, str]:
    admin_url = normalize_url(
        os.environ.get("GEOCUBE_INGEST_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    name = f"gci_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop(admin_url: str, url: str) -> None:
    dispose_engines()
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiles", type=int, default=100_000)
    parser.add_argument("--chain", type=int, default=10, help="tiles per time series")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200, help="tiles claimed and reported at once")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{args.tiles} tiles in chains of {args.chain}, {args.workers} workers, batches of {args.batch}")
    for backend in backends:
        if backend == "sqlite":
            folder = tempfile.mkdtemp(prefix="gci-bench-")
            result = run(f"sqlite:///{folder}/bench.db", args.tiles, args.chain, args.workers, args.batch)
        else:
            admin, url = postgres_database()
            try:
                result = run(url, args.tiles, args.chain, args.workers, args.batch)
            finally:
                drop(admin, url)
        print(
            f"{backend:>10}: ingest {result['ingest_tiles_per_s']:8.0f} tiles/s ({result['ingest_s']:.1f} s)"
            f" | claim+complete {result['drain_tiles_per_s']:7.0f} tiles/s ({result['drain_s']:.1f} s)"
            f" | peak RSS driver {result['driver_peak_mb']:.0f} MB, worker {result['worker_peak_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
