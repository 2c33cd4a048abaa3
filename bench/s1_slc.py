"""Seconds and peak memory per burst of the Sentinel-1 SLC graphs (S1SlcBackscatter, S1SlcCoherence).

    .venv/bin/python bench/s1_slc.py                 # a whole IW1 burst (1507 x 23055 samples), 20 m
    .venv/bin/python bench/s1_slc.py --km 10         # the 10 km x 10 km at the burst's centre (bbox)
    .venv/bin/python bench/s1_slc.py --resolution 40

Builds, from the real metadata of the fixtures' 12-day IW pair (s1_slc/), two products whose
burst 5 of IW1 VV is filled with speckle-like samples (circular Gaussian of about -10 dB
gamma0 within the annotation's valid samples: the work does not depend on the values), a
DEM COG with hills over the burst (1 arc-second, heights above EGM96), splits both with
the scene graph's step into burst products, then runs each tile graph's steps on them as a
tile job does (burst products in the scratch folder, a LocalCluster of one worker with
2 threads: 2 cores). Each run is a fresh subprocess whose whole process tree is sampled for
its peak resident memory; the time excludes start-up and imports (a warm worker).

Measured (2026-12-07, 2 cores shared with other jobs: load average ~8, so times are
inflated): whole burst at 20 m (4756 x 1791 px), S1SlcBackscatter 925 s / 1.4 GB peak,
S1SlcCoherence 698 s / 1.2 GB peak (in 512-px blocks of the map grid; 813 s / 10.1 GB when
the whole burst was one block); `--km 10`: 44 s / 1.1 GB and 41 s / 0.8 GB. SNAP, the only published figures found
(cgi-estonia-space/ALUs, algs/*/README.md: SNAP 8 gpt, 12 threads, -Xmx22 GB, data on a RAM
disk): a whole IW2 sub-swath (~9 bursts) VV, noise removal + sigma0 calibration + deburst +
terrain correction (no RTC) ~42.5 s; split + orbit + back-geocoding + coherence + deburst +
terrain correction ~85.7 s, i.e. ~5 s and ~10 s per burst on 12 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT.parent / "shared" / "fixtures" / "s1_slc"
PRODUCTS = (
    "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1",
    "S1A_IW_SLC__1SDV_20230916T063730_20230916T063757_050349_060FCD_6814",
)
SWATH, POLARISATION, BURST = "IW1", "VV", 5  # BURST is 1-based (tile_nr)
BURST_ID = "t052_110435_iw1"
DN_RMS = 104.0  # |DN| rms of gamma0 -10 dB with IW1's gamma LUT (~330)
ENV = {
    "GEOCUBE_INGEST_PROCESSING__PROCESSES": "false",
    "GEOCUBE_INGEST_PROCESSING__N_WORKERS": "1",
    "GEOCUBE_INGEST_PROCESSING__THREADS_PER_WORKER": "2",
    "PYTHONWARNINGS": "ignore",
}


def write_dem(path: Path, bounds: tuple[float, float, float, float]) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    step = 1 / 3600
    west, south, east, north = bounds
    cols, rows = round((east - west) / step), round((north - south) / step)
    lon = west + (np.arange(cols) + 0.5) * step
    lat = north - (np.arange(rows) + 0.5) * step
    x, y = np.meshgrid((lon - lon.mean()) * 95_000, (lat - lat.mean()) * 111_000)
    heights = (1100 + 150 * np.sin(2 * np.pi * x / 6000) * np.cos(2 * np.pi * y / 7000)).astype("float32")
    profile = {"driver": "COG", "width": cols, "height": rows, "count": 1, "dtype": "float32", "crs": "EPSG:4326"}
    with rasterio.open(path, "w", **profile, transform=from_origin(west, north, step, step)) as dst:
        dst.write(heights, 1)
    return path


def speckle(geometry: Any, rng: np.random.Generator) -> Iterator[tuple[int, int, np.ndarray]]:
    """The burst's valid samples as circular Gaussian digital numbers, 256 lines at a time."""
    pixel = np.arange(geometry.samples)
    first, last = geometry.first_valid_sample, geometry.last_valid_sample
    for line in range(0, geometry.lines, 256):
        rows = slice(line, min(line + 256, geometry.lines))
        shape = (rows.stop - rows.start, geometry.samples)
        values = rng.normal(0, DN_RMS / np.sqrt(2), shape) + 1j * rng.normal(0, DN_RMS / np.sqrt(2), shape)
        valid = (first[rows, None] >= 0) & (pixel >= first[rows, None]) & (pixel <= last[rows, None])
        yield geometry.first_line + line, 0, np.where(valid, values, 0).astype("complex64")


def write_products(scratch: Path) -> tuple[list[Path], tuple[float, float, float, float]]:
    """The two burst products (zips) and the burst's lon/lat bounds."""
    from geocube_ingest.demo.s1_slc_products import swath_files, write_slc_safe
    from geocube_ingest.processing.sar.burst import burst_geometry
    from geocube_ingest.processing.sar.split import split_burst

    rng = np.random.default_rng(5)
    bursts = []
    bounds = (0.0, 0.0, 0.0, 0.0)
    for name in PRODUCTS:
        metadata = FIXTURES / f"{name}.SAFE"
        geometry = burst_geometry(metadata, SWATH, POLARISATION, BURST - 1)
        bounds = geometry.footprint.bounds
        safe = write_slc_safe(scratch / "safe", metadata, {(SWATH, POLARISATION): speckle(geometry, rng)})
        out = scratch / f"{name}_burst.zip"
        split_burst(safe, SWATH, BURST, out, burst_id=BURST_ID)
        measurement = safe / swath_files(safe)[(SWATH, POLARISATION)].measurement
        print(f"  {name[-4:]}: product measurement {measurement.stat().st_size / 1e6:.0f} MB, "
              f"burst product {out.stat().st_size / 1e6:.0f} MB")  # fmt: skip
        bursts.append(out)
    return bursts, bounds


# ------------------------------------------------------------------ worker (subprocess)


def tree_mb() -> float:
    me = psutil.Process()
    return float(sum(p.memory_info().rss for p in [me, *me.children(recursive=True)])) / 1e6


def worker(graph: str, bursts: list[str], config: dict[str, str], out_dir: Path) -> dict[str, float]:
    from geocube_ingest.processing.cluster import get_client
    from geocube_ingest.processing.graph import load_graph
    from geocube_ingest.processing.runner import run_steps
    from geocube_ingest.processing.sar import steps  # noqa: F401  (imports: not part of the work)
    from geocube_ingest.processing.workspace import SlotTile, Workspace
    from geocube_ingest.settings import get_settings

    settings = get_settings()
    get_client(settings)
    idle = tree_mb()
    loaded = load_graph(graph, settings)
    slots = [
        SlotTile("bench", name, BURST_ID, when, {}, {}, "")
        for name, when in zip(
            PRODUCTS, (datetime(2023, 9, 4, tzinfo=UTC), datetime(2023, 9, 16, tzinfo=UTC)), strict=True
        )
    ]
    current, previous = (slots[1], slots[0]) if graph == "S1SlcCoherence" else (slots[0], slots[0])
    workspace = Workspace(out_dir, [current, previous, previous])
    workspace.register(0, "burst", "zip", Path(bursts[1] if graph == "S1SlcCoherence" else bursts[0]))
    workspace.register(1, "burst", "zip", Path(bursts[0]))
    workspace.register(2, "burst", "zip", Path(bursts[0]))
    resolved = loaded.graph.resolved_config(config, out_dir)
    start = time.perf_counter()
    error = run_steps(loaded, resolved, workspace, settings)
    seconds = time.perf_counter() - start
    if error is not None:
        raise error
    return {"seconds": seconds, "idle_mb": idle}


def run_measured(graph: str, bursts: list[Path], config: dict[str, str], out_dir: Path) -> tuple[float, float, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, __file__, "--worker", graph, json.dumps([str(b) for b in bursts]), json.dumps(config)]
    process = subprocess.Popen([*argv, str(out_dir)], stdout=subprocess.PIPE, text=True, env={**os.environ, **ENV})
    parent = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    stdout, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{graph} failed ({process.returncode})")
    answer = json.loads(stdout.strip().splitlines()[-1])
    return answer["seconds"], peak / 1e6, answer["idle_mb"]


def output_pixels(out_dir: Path) -> str:
    import rasterio

    made = sorted(out_dir.glob("*_gamma0_VV.tif")) + sorted(out_dir.glob("*_coh_VV.tif"))
    with rasterio.open(made[0]) as src:
        values = src.read(1, masked=True)
        return f"{src.width} x {src.height} px, {float(values.count()) / values.size:.0%} valid"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--km", type=float, default=0.0, help="process this square at the burst's centre (0: all)")
    parser.add_argument("--resolution", default="20", help="output pixel, metres")
    parser.add_argument("--graphs", default="S1SlcBackscatter,S1SlcCoherence")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        graph, bursts, config, out = args.worker
        print(json.dumps(worker(graph, json.loads(bursts), json.loads(config), Path(out))))
        return
    print(f"CPUs: {os.cpu_count()}; one Dask worker, 2 threads; burst {BURST} of {SWATH} {POLARISATION}")
    with tempfile.TemporaryDirectory(prefix="bench-s1-slc-", dir=os.environ.get("BENCH_DIR")) as tmp:
        scratch = Path(tmp)
        start = time.perf_counter()
        bursts, (west, south, east, north) = write_products(scratch)
        dem = write_dem(scratch / "dem.tif", (west - 0.1, south - 0.1, east + 0.1, north + 0.1))
        print(f"  inputs written in {time.perf_counter() - start:.0f} s")
        config = {"dem_url": str(dem), "resolution": args.resolution}
        area = "the whole burst"
        if args.km:
            lon, lat = (west + east) / 2, (south + north) / 2
            dlon, dlat = args.km / 2 / (111.32 * np.cos(np.radians(lat))), args.km / 2 / 111.32
            config["bbox"] = f"{lon - dlon},{lat - dlat},{lon + dlon},{lat + dlat}"
            area = f"{args.km:g} km x {args.km:g} km at the burst's centre"
        print(f"area: {area}, {args.resolution} m\n")
        os.environ["GEOCUBE_INGEST_SECURITY__FILE_ROOTS"] = json.dumps([str(scratch)])
        print(f"{'graph':<18} {'seconds':>8} {'peak MB':>8} {'(idle MB)':>9}  output")
        for graph in args.graphs.split(","):
            out_dir = scratch / graph
            seconds, peak, idle = run_measured(graph, bursts, config, out_dir)
            print(f"{graph:<18} {seconds:8.1f} {peak:8.0f} {idle:9.0f}  {output_pixels(out_dir)}")


if __name__ == "__main__":
    main()
