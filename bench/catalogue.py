"""Catalogue-side costs: splitting a Sentinel-1 product into bursts, and chaining many tiles.

Prints numbers, asserts nothing. Usage: python bench/catalogue.py [TILES]  (default 20000)
- bursts: annotation parsing + footprints + ESA burst ids of the fixture product 1a (3 swaths);
- graph: link_tiles over TILES new tiles on 200 locations with as many tiles already ingested
  (append + backfill), the step `catalog tiles` runs for a 10^4-tile AOI.
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from geocube_ingest.catalogue.graph import link_tiles
from geocube_ingest.catalogue.models import CatalogueTile
from geocube_ingest.catalogue.s1.annotation import parse_annotation
from geocube_ingest.catalogue.s1.bursts import product_bursts
from geocube_ingest.catalogue.s1.manifest import parse_manifest
from geocube_ingest.status import Status
from geocube_ingest.workflow.models import Tile

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
PRODUCT = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.SAFE"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_bursts(repeat: int = 5) -> None:
    safe = FIXTURES / "s1_safe" / PRODUCT
    files = [(str(p), p.read_bytes()) for p in sorted((safe / "annotation").glob("s1*.xml"))]
    manifest = (safe / "manifest.safe").read_bytes()
    start = time.perf_counter()
    for _ in range(repeat):
        annotations = [(name, parse_annotation(data, name)) for name, data in files]
        bursts = product_bursts(annotations, parse_manifest(manifest))
    elapsed = (time.perf_counter() - start) / repeat
    print(f"bursts: {len(bursts)} bursts of one product in {elapsed * 1000:.0f} ms ({len(files)} annotations)")


def bench_graph(count: int) -> None:
    base = datetime(2020, 1, 1, tzinfo=UTC)
    locations = [f"t071_{151000 + i:06d}_iw2" for i in range(200)]
    existing = []
    for n in range(count):
        location = locations[n % len(locations)]
        rank = n // len(locations)
        existing.append(
            Tile(
                id=n + 1,
                aoi="bench",
                scene_id=rank + 1,
                scene_source_id=f"SCENE_{rank:05d}",
                scene_status=Status.DONE,
                scene_data={},
                source_id=location,
                status=Status.DONE,
                message="",
                data={},
                previous_id=n + 1 - len(locations) if rank else None,
                reference_id=(n % len(locations)) + 1 if rank else None,
                date=base + timedelta(days=12 * rank),
                footprint=None,
                retry_countdown=0,
            )
        )
    last_rank = (count - 1) // len(locations)
    new = []
    for n in range(count):
        rank = n // len(locations)
        # Half appended after the ingested ones, half backfilled between them.
        offset = timedelta(days=12 * (last_rank + 1 + rank)) if n % 2 else timedelta(days=12 * rank + 6)
        new.append(CatalogueTile(locations[n % len(locations)], f"NEW_{n:06d}", base + offset, None))
    start = time.perf_counter()
    relinked = link_tiles(new, existing, link=True)
    elapsed = time.perf_counter() - start
    print(
        f"graph: {count} new tiles onto {count} ingested on {len(locations)} locations "
        f"in {elapsed:.2f} s, {len(relinked)} re-wired"
    )


if __name__ == "__main__":
    bench_bursts()
    bench_graph(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
