"""Throughput and memory of ExtractS2Bands against GDAL's own COG writer.

    /work/venv/bin/python bench/processing.py            # 1x, 2x, 4x a 10980x10980 band
    /work/venv/bin/python bench/processing.py --quick    # a quarter of the sizes (smoke run)
    /work/venv/bin/python bench/processing.py --repeat 2 # best of two runs each (busy machines)

Builds a Sentinel-2 L2A SAFE (real MTD_MSIL2A.xml of a baseline 04.00 product, so the
-1000 offset is harmonised: the Dask path) holding one uint16 band, then times

- ours: the ExtractS2Bands graph step (read the band lazily, harmonise, tiled GTiff in
  parallel on the Dask cluster, COG with GDAL), on a warm cluster (start-up not counted);
- gdal: `gdal_translate -of COG` of the same band with the same creation options, or, when
  the binary is missing, the same GDAL COG driver through rasterio (`rasterio.shutil.copy`).

Each run is a fresh subprocess whose whole process tree (Dask workers included) is sampled
for its peak resident memory. Throughput = uncompressed raster bytes / seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = 10980
CREATION = {"COMPRESS": "DEFLATE", "BLOCKSIZE": "512", "OVERVIEW_RESAMPLING": "AVERAGE", "BIGTIFF": "IF_SAFER"}


def make_product(root: Path, size: int) -> Path:
    """A SAFE with one B04 band of size x size (GeoTIFF, deflate, 1024-pixel tiles, like S2 JP2 tiling)."""
    import rasterio
    from rasterio.transform import from_origin

    from tests.processing.products import S2_L2A, S2_L2A_GRANULE, S2_L2A_ORIGIN, S2_L2A_PREFIX, make_s2_safe

    fixtures = ROOT.parent / "shared" / "fixtures"
    safe = make_s2_safe(root, fixtures, {}, level="L2A", ext="tif", name=S2_L2A)
    band = safe / "GRANULE" / S2_L2A_GRANULE / "IMG_DATA" / "R10m" / f"{S2_L2A_PREFIX}_B04_10m.tif"
    band.parent.mkdir(parents=True, exist_ok=True)
    x0, y0, epsg = S2_L2A_ORIGIN
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint16", "nodata": 0,
        "crs": f"EPSG:{epsg}", "transform": from_origin(x0, y0, 10, 10), "tiled": True,
        "blockxsize": 1024, "blockysize": 1024, "compress": "deflate",
    }  # fmt: skip
    rng = np.random.default_rng(42)
    with rasterio.open(band, "w", **profile) as dst:
        for row in range(0, size, 1024):
            h = min(1024, size - row)
            y = np.arange(row, row + h)[:, None]
            x = np.arange(size)[None, :]
            data = 1000 + (x * 7 + y * 3) % 4000 + rng.integers(0, 300, (h, size))
            data[:, : size // 20] = 0  # a no-data edge, as at swath borders
            dst.write(data.astype("uint16"), 1, window=((row, row + h), (0, size)))
    return safe


def band_of(safe: Path) -> Path:
    return next(safe.rglob("*_B04_10m.tif"))


# ------------------------------------------------------------------ workers (subprocesses)


def tree_mb() -> float:
    me = psutil.Process()
    return sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 1e6


def _warm() -> None:
    """What a worker imports for raster steps (part of its idle footprint, not of the work)."""
    import numexpr  # noqa: F401
    import rioxarray  # noqa: F401
    import xarray  # noqa: F401


def worker_ours(safe: Path, out_dir: Path) -> tuple[float, float]:
    from geocube_ingest.processing.cluster import get_client
    from geocube_ingest.processing.graph import load_graph
    from geocube_ingest.processing.runner import run_steps
    from geocube_ingest.processing.workspace import SlotTile, Workspace
    from geocube_ingest.settings import get_settings

    settings = get_settings()
    client = get_client(settings)  # warm cluster: a service keeps it running between tiles
    client.run(_warm)
    _warm()
    idle = tree_mb()
    loaded = load_graph("ExtractS2Bands", settings)
    from datetime import UTC, datetime

    slot = SlotTile("bench", safe.name.removesuffix(".SAFE"), "T33XWJ", datetime(2022, 4, 13, tzinfo=UTC), {}, {}, "")
    workspace = Workspace(out_dir, [slot, slot, slot], product=safe)
    config = loaded.graph.resolved_config({}, out_dir)
    start = time.perf_counter()
    error = run_steps(loaded, config, workspace, settings)
    elapsed = time.perf_counter() - start
    if error is not None:
        raise error
    return elapsed, idle


def worker_gdal(safe: Path, out_dir: Path) -> tuple[float, float]:
    source = band_of(safe)
    target = out_dir / "gdal_cog.tif"
    binary = shutil.which("gdal_translate")
    idle = tree_mb()
    start = time.perf_counter()
    if binary:
        argv = [
            binary,
            "-q",
            "-of",
            "COG",
            *(a for k, v in CREATION.items() for a in ("-co", f"{k}={v}")),
            str(source),
            str(target),
        ]
        subprocess.run(argv, check=True)
    else:
        import rasterio.shutil

        rasterio.shutil.copy(str(source), str(target), driver="COG", **{k.lower(): v for k, v in CREATION.items()})
    return time.perf_counter() - start, idle


# ------------------------------------------------------------------ driver


def run_measured(mode: str, safe: Path, out_dir: Path) -> tuple[float, float, float]:
    """(seconds, peak MB of the whole process tree, MB of that tree before the work) of one worker subprocess."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", mode, str(safe), str(out_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
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
        raise SystemExit(f"{mode} worker failed ({process.returncode})")
    answer = json.loads(stdout.strip().splitlines()[-1])
    return answer["seconds"], peak / 1e6, answer["idle_mb"]


def check_outputs(out_ours: Path, out_gdal: Path) -> str:
    from rio_cogeo import cog_validate

    ours = next(out_ours.glob("*_B04.tif"))
    valid, errors, _ = cog_validate(str(ours), quiet=True)
    if not valid:
        raise SystemExit(f"our output is not a valid COG: {errors}")
    return f"ours {ours.stat().st_size / 1e6:.0f} MB, gdal {(out_gdal / 'gdal_cog.tif').stat().st_size / 1e6:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the sizes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measure; the fastest time is kept")
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "SAFE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, safe, out = args.worker
        seconds, idle = (worker_ours if mode == "ours" else worker_gdal)(Path(safe), Path(out))
        print(json.dumps({"seconds": seconds, "idle_mb": idle}))
        return

    base = BASE // 2 if args.quick else BASE
    baseline = (
        "gdal_translate -of COG" if shutil.which("gdal_translate") else "GDAL COG driver via rasterio.shutil.copy"
    )
    print(
        f"baseline: {baseline} (gdal_translate binary {'found' if shutil.which('gdal_translate') else 'not installed'})"
    )
    print(f"creation options (both): {' '.join(f'{k}={v}' for k, v in CREATION.items())}; CPUs: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench-processing-", dir=os.environ.get("BENCH_DIR")) as tmp:
        scratch = Path(tmp)
        print(f"\n{'area':>5} {'raster':>12} {'MB':>6} | {'ours s':>7} {'MB/s':>6} {'peak MB':>8} {'(idle)':>7} | "
              f"{'gdal s':>7} {'MB/s':>6} {'peak MB':>8} | {'ratio':>5}")  # fmt: skip
        rows = []
        for factor in (1, 2, 4):
            size = round(base * factor**0.5)
            safe = make_product(scratch / f"x{factor}", size)
            megabytes = size * size * 2 / 1e6
            ours_runs, gdal_runs = [], []
            for _ in range(max(1, args.repeat)):
                # Interleaved, so that a busy moment of the machine hits both sides alike.
                ours_runs.append(run_measured("ours", safe, scratch / f"x{factor}" / "ours"))
                gdal_runs.append(run_measured("gdal", safe, scratch / f"x{factor}" / "gdal"))
            ours_s, ours_peak, ours_idle = min(r[0] for r in ours_runs), max(r[1] for r in ours_runs), ours_runs[0][2]
            gdal_s, gdal_peak = min(r[0] for r in gdal_runs), max(r[1] for r in gdal_runs)
            sizes = check_outputs(scratch / f"x{factor}" / "ours", scratch / f"x{factor}" / "gdal")
            ratio = gdal_s / ours_s
            rows.append((factor, ours_peak - ours_idle, megabytes))
            print(
                f"{factor:>4}x {size:>5}x{size:<6} {megabytes:>6.0f} | {ours_s:>7.1f} {megabytes / ours_s:>6.1f} "
                f"{ours_peak:>8.0f} {ours_idle:>7.0f} | {gdal_s:>7.1f} {megabytes / gdal_s:>6.1f} {gdal_peak:>8.0f} "
                f"| {ratio:>5.2f}  ({sizes})"
            )
            shutil.rmtree(scratch / f"x{factor}")
        growth = rows[-1][1] / rows[0][1]
        print(
            "\nratio = gdal time / our time (>= 0.8 wanted); (idle) = our process tree (Python, Dask workers and"
            " nannies) before the work.\n"
            f"raster x{rows[-1][2] / rows[0][2]:.1f} -> memory above idle x{growth:.2f}"
            f" ({rows[0][1]:.0f} MB -> {rows[-1][1]:.0f} MB)"
        )


if __name__ == "__main__":
    main()
