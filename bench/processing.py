"""Throughput and memory of ExtractS2Bands against GDAL's own COG writer on every core.

    .venv/bin/python bench/processing.py            # 1x, 2x, 4x a 10980x10980 band
    .venv/bin/python bench/processing.py --quick    # a quarter of the sizes (smoke run)
    .venv/bin/python bench/processing.py --repeat 2 # best of two runs each (busy machines)
    .venv/bin/python bench/processing.py --odc      # also odc-geo's Dask COG writer on the same step
    .venv/bin/python bench/processing.py --gdal-writer  # also our step with processing.cog_writer = "gdal"

Builds a Sentinel-2 L2A SAFE (real MTD_MSIL2A.xml of a baseline 04.00 product, so the
-1000 offset is harmonised: the Dask path) holding one uint16 band, then times

- job: the ExtractS2Bands graph step as a job runs it on a Dask worker (`processing.job`):
  read the band lazily, harmonise, each chunk computed whole on one of the worker's threads
  (`cog.computed`), which also cuts it into COG tiles, halves it for the overviews and
  compresses them, and the step's thread lays the COG out from them (`processing.cog_writer
  = "tiles"`, the default: `processing/cog_tiles.py`); warm (start-up not counted: the step
  first runs on another, 1024x1024 product, as on a worker that ran a job before);
- local: the same step in an orchestrating process without a scheduler, its chunks computed
  by the default LocalCluster (one worker process per core), so every chunk crosses processes;
- job-gdal (with --gdal-writer): "job" with `processing.cog_writer = "gdal"`: chunks written
  uncompressed to a tiled GTiff, overviews by GDAL, then GDAL's COG driver on every core;
- gdal: `gdal_translate -of COG` of the same band with the same creation options and
  `NUM_THREADS=ALL_CPUS` (the fair baseline on a multi-core machine), or, when the binary is
  missing, the same GDAL COG driver through rasterio (`rasterio.shutil.copy`);
- odc (with --odc): "job" with its COG written by odc-geo's `save_cog_with_dask` (tiles
  compressed by the chunks' tasks, same compression and blocks).

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
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = 10980
CREATION = {"COMPRESS": "DEFLATE", "BLOCKSIZE": "512", "OVERVIEW_RESAMPLING": "AVERAGE", "BIGTIFF": "IF_SAFER"}
THREADS = {"NUM_THREADS": "ALL_CPUS"}  # GDAL's baseline only: our path sets it itself


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
    return float(sum(p.memory_info().rss for p in [me, *me.children(recursive=True)]) / 1e6)


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process and its Dask workers: unlike wall time, not
    inflated by other work on a shared machine."""
    me = psutil.Process()
    return float(sum(sum(p.cpu_times()[:2]) for p in [me, *me.children(recursive=True)]))


def _warm() -> None:
    """What a worker imports for raster steps (part of its idle footprint, not of the work)."""
    import numexpr  # noqa: F401
    import rioxarray  # noqa: F401
    import xarray  # noqa: F401

    import geocube_ingest.processing.cog_tiles
    import geocube_ingest.processing.engines.xarray  # noqa: F401  (the steps: 1.5 s of imports, once per worker)


def odc_write_cog(data: Any, path: str | Path, *, nodata: float | None, resampling: str = "AVERAGE", **_: Any) -> str:
    """The step's COG through odc-geo's Dask writer: same compression, blocks and overviews."""
    import odc.geo.xr  # noqa: F401  (the .odc accessor)
    from odc.geo.cog import save_cog_with_dask

    from geocube_ingest.processing import cog
    from geocube_ingest.settings import get_settings

    settings = get_settings()
    data.attrs["nodata"] = nodata
    delayed = save_cog_with_dask(
        data,
        str(path),
        compression="DEFLATE",
        level=6,
        blocksize=settings.processing.cog_blocksize,
        overview_resampling=resampling.lower(),
        stats=False,  # its statistics ship masked arrays, which distributed cannot send for uint16
    )
    with cog.cluster_client(None, settings) as client:
        client.compute(delayed).result()
    cog.validate_cog(Path(path), settings)
    return str(path)


def worker_ours(safe: Path, out_dir: Path, writer: str = "job") -> tuple[float, float, float]:
    from geocube_ingest.processing.cluster import get_client
    from geocube_ingest.processing.graph import load_graph
    from geocube_ingest.processing.runner import run_steps
    from geocube_ingest.processing.workspace import SlotTile, Workspace
    from geocube_ingest.settings import get_settings

    if writer == "odc":
        from geocube_ingest.processing import cog

        cog.write_cog = odc_write_cog
    settings = get_settings()
    if writer in ("local", "odc"):  # a job's chunks run on its own threads, without a cluster
        client = get_client(settings)  # warm cluster: a service keeps it running between tiles
        client.run(_warm)
    _warm()
    loaded = load_graph("ExtractS2Bands", settings)
    from datetime import UTC, datetime

    def run(product: Path, out: Path) -> None:
        slot = SlotTile(
            "bench", product.name.removesuffix(".SAFE"), "T33XWJ", datetime(2022, 4, 13, tzinfo=UTC), {}, {}, ""
        )
        error = run_steps(
            loaded, loaded.graph.resolved_config({}, out), Workspace(out, [slot] * 3, product=product), settings
        )
        if error is not None:
            raise error

    # A worker that ran a job before: the step once on another, small product (code paths and
    # thread pools warm; no pixel of the measured band in any cache).
    warm = out_dir.parent / f"warm-{writer}"
    run(make_product(warm / "product", 1024), warm)
    shutil.rmtree(warm)
    idle = tree_mb()
    cpu, start = tree_cpu(), time.perf_counter()
    run(safe, out_dir)
    return time.perf_counter() - start, idle, tree_cpu() - cpu


def worker_gdal(safe: Path, out_dir: Path) -> tuple[float, float, float]:
    source = band_of(safe)
    target = out_dir / "gdal_cog.tif"
    binary = shutil.which("gdal_translate")
    idle = tree_mb()
    cpu, start = tree_cpu(), time.perf_counter()
    if binary:
        argv = [
            binary,
            "-q",
            "-of",
            "COG",
            *(a for k, v in {**CREATION, **THREADS}.items() for a in ("-co", f"{k}={v}")),
            *("--config", "GDAL_NUM_THREADS", "ALL_CPUS"),
            str(source),
            str(target),
        ]
        subprocess.run(argv, check=True)
    else:
        import rasterio
        import rasterio.shutil

        options = {k.lower(): v for k, v in {**CREATION, **THREADS}.items()}
        with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
            rasterio.shutil.copy(str(source), str(target), driver="COG", **options)
    return time.perf_counter() - start, idle, tree_cpu() - cpu


# ------------------------------------------------------------------ driver


def run_measured(mode: str, safe: Path, out_dir: Path) -> tuple[float, float, float, float]:
    """(seconds, peak MB of the whole process tree, MB of that tree before the work, CPU seconds
    of the work) of one worker subprocess."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if mode in ("job", "job-gdal", "odc"):  # the chunks of a job on a worker: that worker's threads
        env.update(GEOCUBE_INGEST_PROCESSING__PROCESSES="false", GEOCUBE_INGEST_PROCESSING__N_WORKERS="1")
        env["GEOCUBE_INGEST_PROCESSING__THREADS_PER_WORKER"] = str(os.cpu_count() or 1)
    if mode == "job-gdal":
        env["GEOCUBE_INGEST_PROCESSING__COG_WRITER"] = "gdal"
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
    return answer["seconds"], peak / 1e6, answer["idle_mb"], answer["cpu"]


def check_outputs(out_dir: Path) -> float:
    """MB of the step's COG, refused unless rio-cogeo says it is valid."""
    from rio_cogeo import cog_validate

    made = next(out_dir.glob("*_B04.tif"))
    valid, errors, _ = cog_validate(str(made), quiet=True)
    if not valid:
        raise SystemExit(f"{made} is not a valid COG: {errors}")
    return made.stat().st_size / 1e6


def best(runs: list[tuple[float, float, float, float]]) -> tuple[float, float, float]:
    """Fastest time, highest peak, idle footprint of the first run."""
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2]


def cpu_note(runs: dict[str, list[tuple[float, float, float, float]]]) -> str:
    """Least CPU seconds of each mode's runs."""
    return "CPU s: " + ", ".join(f"{mode} {min(r[3] for r in measured):.1f}" for mode, measured in runs.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the sizes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measure; the fastest time is kept")
    parser.add_argument("--odc", action="store_true", help="also odc-geo's Dask COG writer")
    parser.add_argument("--gdal-writer", action="store_true", help="also our step with processing.cog_writer = 'gdal'")
    parser.add_argument("--sizes", default="1,2,4", help="areas to run, in multiples of the base band")
    parser.add_argument("--no-local", action="store_true", help="leave out 'local' (the orchestrator's LocalCluster)")
    parser.add_argument("--worker", nargs=3, metavar=("MODE", "SAFE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, safe, out = args.worker
        if mode == "gdal":
            seconds, idle, cpu = worker_gdal(Path(safe), Path(out))
        else:
            seconds, idle, cpu = worker_ours(Path(safe), Path(out), mode)
        print(json.dumps({"seconds": seconds, "idle_mb": idle, "cpu": cpu}))
        return

    base = BASE // 2 if args.quick else BASE
    binary = shutil.which("gdal_translate")
    baseline = "gdal_translate -of COG" if binary else "GDAL COG driver via rasterio.shutil.copy"
    print(f"baseline: {baseline} with NUM_THREADS=ALL_CPUS (gdal_translate {'found' if binary else 'not installed'})")
    print(f"creation options (all): {' '.join(f'{k}={v}' for k, v in CREATION.items())}; CPUs: {os.cpu_count()}")
    modes = ["job", *([] if args.no_local else ["local"]), "gdal"]
    modes += [*(["odc"] if args.odc else []), *(["job-gdal"] if args.gdal_writer else [])]
    ours = [m for m in modes if m != "gdal"]
    with tempfile.TemporaryDirectory(prefix="bench-processing-", dir=os.environ.get("BENCH_DIR")) as tmp:
        scratch = Path(tmp)
        header = f"{'area':>5} {'raster':>12} {'MB':>6} | " + " | ".join(f"{m + ' s':>8} {'peak MB':>8}" for m in modes)
        header += " | " + " ".join(f"{'gdal/' + m:>10}" for m in ours) + f" | {'floor s':>7} {'gdal/floor':>10}"
        print("\n" + header)
        rows = []
        for factor in (int(f) for f in args.sizes.split(",")):
            size = round(base * factor**0.5)
            safe = make_product(scratch / f"x{factor}", size)
            megabytes = size * size * 2 / 1e6
            runs: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in modes}
            for _ in range(max(1, args.repeat)):
                # Interleaved, so that a busy moment of the machine hits every side alike.
                for mode in modes:
                    runs[mode].append(run_measured(mode, safe, scratch / f"x{factor}" / mode))
            best_of = {m: best(runs[m]) for m in modes}
            sizes = {m: check_outputs(scratch / f"x{factor}" / m) for m in ours}
            gdal_cog = scratch / f"x{factor}" / "gdal" / "gdal_cog.tif"
            sizes["gdal"] = gdal_cog.stat().st_size / 1e6
            decode, encode = cpu_floor(band_of(safe), gdal_cog)
            floor = (decode + encode) / (os.cpu_count() or 1)
            _, job_peak, job_idle = best_of["job"]
            rows.append((factor, job_peak - job_idle, megabytes))
            gdal_s = best_of["gdal"][0]
            line = f"{factor:>4}x {size:>5}x{size:<6} {megabytes:>6.0f} | "
            line += " | ".join(f"{best_of[m][0]:>8.2f} {best_of[m][1]:>8.0f}" for m in modes)
            line += " | " + " ".join(f"{gdal_s / best_of[m][0]:>10.2f}" for m in ours)
            line += f" | {floor:>7.2f} {gdal_s / floor:>10.2f}"
            notes = ", ".join(f"{m} {mb:.0f} MB" for m, mb in sizes.items())
            print(f"{line}  ({notes}; {cpu_note(runs)}; floor CPU s: decode {decode:.1f} + deflate {encode:.1f})")
            shutil.rmtree(scratch / f"x{factor}")
        growth = rows[-1][1] / rows[0][1]
        print(
            "\nratio gdal/<mode> = gdal time / that mode's time (>= 1.3 wanted on 2 cores). floor = CPU seconds that"
            " any writer of this COG spends (decoding the band + deflating every tile of every level, measured on one"
            " thread here) spread perfectly over every core: no writer, ours or GDAL's, can beat it; gdal/floor is the"
            " best ratio this machine allows.\n"
            f"job: raster x{rows[-1][2] / rows[0][2]:.1f} -> memory above idle (Python and its Dask worker threads)"
            f" x{growth:.2f} ({rows[0][1]:.0f} MB -> {rows[-1][1]:.0f} MB)"
        )


def cpu_floor(band: Path, cog_path: Path) -> tuple[float, float]:
    """CPU seconds, on one thread, of decoding `band` and of deflating every tile of every level
    of `cog_path` (GDAL's COG of it) with libdeflate at GDAL's level: the work no writer avoids."""
    import imagecodecs
    import rasterio
    from rasterio.windows import Window

    start = time.thread_time()
    with rasterio.open(band) as src:
        for _, window in src.block_windows(1):
            src.read(1, window=window)
    decode = time.thread_time() - start
    encode, block = 0.0, int(CREATION["BLOCKSIZE"])
    with rasterio.open(cog_path) as src:
        levels = [1, *src.overviews(1)]
    for level in range(-1, len(levels) - 1):  # -1: full resolution, then each overview
        options = {"overview_level": level} if level >= 0 else {}
        with rasterio.open(cog_path, **options) as src:
            for row in range(0, src.height, block):
                for col in range(0, src.width, block):
                    tile = src.read(1, window=Window(col, row, block, block), boundless=True, fill_value=0)
                    begin = time.thread_time()
                    imagecodecs.deflate_encode(tile.tobytes(), level=6)
                    encode += time.thread_time() - begin
    return decode, encode


if __name__ == "__main__":
    main()
