"""What storing a job's COG costs: through the worker's scratch folder, or straight to the storage root.

    python bench/cog_store.py                  # a 5490x5490 uint16 band, local root and moto S3
    python bench/cog_store.py --size 10980 --repeat 2

Printed, in seconds (best of --repeat):

- via scratch, s3: what jobs did before: `write_cog` with GDAL's COG driver into the scratch
  folder, the second check of `store_outputs` (`ensure_cog`), then one upload (`put_path`);
- straight, s3: what a job does now for a kept COG on S3 (`processing.cog_writer = "tiles"`,
  the default): the tiles writer streams the COG to its final key as the parts of a multipart
  upload, rio-cogeo checks a local replica of its headers, and the job completes the upload;
- via scratch, local / straight, local: the same for a local storage root (the tiles writer
  into a temporary file next to the target, checked, then renamed);
- gdal /vsis3/: GDAL's COG driver writing to `/vsis3/` itself (it needs
  CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE: a local temporary file uploaded on close).

Needs the moto server of the dev dependencies (started here on a free port).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import xarray as xr

    from geocube_ingest.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def band(size: int) -> xr.DataArray:
    """A lazy uint16 band in 1024-pixel chunks, with a no-data edge (as `bench/processing.py`)."""
    import dask.array as da
    import rioxarray  # noqa: F401  (the .rio accessor)
    import xarray as xr
    from rasterio.transform import from_origin

    y = da.arange(size, chunks=1024)[:, None]
    x = da.arange(size, chunks=1024)[None, :]
    noise = da.random.default_rng(42).integers(0, 300, (size, size), chunks=1024)
    values = (1000 + (x * 7 + y * 3) % 4000 + noise).astype("uint16")
    values = da.where(x < size // 20, 0, values).astype("uint16")
    data = xr.DataArray(values, dims=("y", "x"), coords={"y": 5000000 - 10 * (np.arange(size) + 0.5),
                                                         "x": 500000 + 10 * (np.arange(size) + 0.5)})  # fmt: skip
    georeferenced: xr.DataArray = data.rio.write_crs("EPSG:32633").rio.write_transform(
        from_origin(500000, 5000000, 10, 10)
    )
    return georeferenced


def direct_s3(data: xr.DataArray, url: str, settings: Settings) -> None:
    """Tiled GTiff and overviews in scratch, then the COG driver writing to `/vsis3/` itself."""
    import rasterio.shutil

    from geocube_ingest import storage
    from geocube_ingest.processing import cog

    p = settings.processing
    with tempfile.TemporaryDirectory(prefix="direct-") as tmp:
        tiled = Path(tmp) / "tiled.tif"
        cog.write_tiled(data, tiled, nodata=0, settings=settings)
        cog.add_overviews(tiled, settings=settings)
        options = {"compress": p.cog_compress, "blocksize": p.cog_blocksize, "overview_resampling": "AVERAGE",
                   "num_threads": "ALL_CPUS", "bigtiff": "IF_SAFER"}  # fmt: skip
        # GDAL refuses to create a GeoTIFF on /vsis3/ ("w+b not supported") unless it may use a local temporary file.
        with (
            cog.gdal_env(settings, CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE="YES"),
            storage.rasterio_env(url, settings=settings),
        ):
            rasterio.shutil.copy(str(tiled), storage.gdal_path(url), driver="COG", **options)
            cog.validate_cog(Path(storage.gdal_path(url)), settings)


def timed(work: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    work(*args)
    return time.perf_counter() - start


def via_scratch(data: xr.DataArray, local: Path, url: str, settings: Settings) -> None:
    """Before: GDAL's COG in the scratch folder, checked again, then uploaded."""
    from geocube_ingest import storage
    from geocube_ingest.processing import cog

    made = Path(cog.write_cog(data, local, nodata=0, settings=settings.with_overrides(
        {"processing": {"cog_writer": "gdal"}})))  # fmt: skip
    cog.ensure_cog(made, settings=settings)
    storage.put_path(made, url, settings=settings)


def straight(data: xr.DataArray, url: str, settings: Settings) -> None:
    """Now: written straight to its URL, checked, then committed (as the job does when it stores its outputs)."""
    from geocube_ingest.processing import cog

    cog.write_pending(data, url, nodata=0, settings=settings).commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=5490)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from tests.processes import free_port
    from tests.storage.servers import S3_KEY, S3_SECRET, S3Server, _executable

    port = free_port()
    moto = subprocess.Popen([_executable("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.environ.update(
        {
            "GEOCUBE_INGEST_S3__ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "GEOCUBE_INGEST_S3__REGION": "us-east-1",
            "GEOCUBE_INGEST_S3__ACCESS_KEY_ID": S3_KEY,
            "GEOCUBE_INGEST_S3__SECRET_ACCESS_KEY": S3_SECRET,
            "GEOCUBE_INGEST_PROCESSING__PROCESSES": "false",  # a job on a worker: its own threads
            "GEOCUBE_INGEST_PROCESSING__N_WORKERS": "1",
            "GEOCUBE_INGEST_PROCESSING__THREADS_PER_WORKER": str(os.cpu_count() or 1),
        }
    )
    try:
        time.sleep(2)
        from geocube_ingest import storage
        from geocube_ingest.processing.cluster import close_clients, get_client
        from geocube_ingest.settings import get_settings

        settings = get_settings()
        bucket = S3Server(f"http://127.0.0.1:{port}").new_bucket()
        get_client(settings)  # warm cluster, as in a job
        data = band(args.size)
        print(f"{args.size}x{args.size} uint16, {settings.processing.cog_compress}, CPUs {os.cpu_count()}")
        columns = ("via scratch, s3", "straight, s3", "via scratch, local", "straight, local", "gdal /vsis3/")
        print(" | ".join(f"{c:>18}" for c in columns) + "  (seconds; MB)")
        best: list[float] = [float("inf")] * len(columns)
        for run in range(max(1, args.repeat)):
            with tempfile.TemporaryDirectory(prefix="cog-store-") as tmp:
                scratch, root = Path(tmp) / "scratch", Path(tmp) / "root"
                s3 = f"s3://{bucket}/run{run}"
                times = [
                    timed(via_scratch, data, scratch / "a.tif", f"{s3}/a.tif", settings),
                    timed(straight, data, f"{s3}/b.tif", settings),
                    timed(via_scratch, data, scratch / "c.tif", str(root / "c.tif"), settings),
                    timed(straight, data, str(root / "d.tif"), settings),
                    timed(direct_s3, data, f"{s3}/e.tif", settings),
                ]
                size_mb = (root / "c.tif").stat().st_size / 1e6
                streamed_mb = (storage.size(f"{s3}/b.tif", settings=settings) or 0) / 1e6
            best = [min(b, t) for b, t in zip(best, times, strict=True)]
            print(" | ".join(f"{t:>18.2f}" for t in times) + f"  ({size_mb:.0f} MB; streamed {streamed_mb:.0f} MB)")
        print("best: " + ", ".join(f"{c} {b:.2f}" for c, b in zip(columns, best, strict=True)))
        close_clients()
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
