"""What storing a job's COG costs, against writing it straight to the storage root with GDAL.

    python bench/cog_store.py                  # a 5490x5490 uint16 band, local root and moto S3
    python bench/cog_store.py --size 10980 --repeat 2

A job writes each COG in its scratch folder (`cog.write_cog`: chunks computed, tiled GTiff,
overviews, GDAL's COG driver on every core, rio-cogeo validation), and `store_outputs`
then stores the outputs the graph keeps (validated again, copied to a temporary name and
renamed on a file system, one PUT on S3). Printed, in seconds:

- cog: `write_cog` into the scratch folder;
- check: the second validation `store_outputs` does (`ensure_cog`);
- store local / store s3: `storage.put_path` to a local storage root / to a moto S3 server;
- direct s3: the same COG written by GDAL's COG driver to `/vsis3/`, then validated there.
  GDAL refuses to create a GeoTIFF on /vsis3/ unless CPL_VSIL_USE_TEMP_FILE_FOR_RANDOM_WRITE
  lets it write a local temporary file and upload it when closed: "direct" is still a local
  file and an upload, done by GDAL.

Needs the moto server of the dev dependencies (started here on a free port).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
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
            "GEOCUBE_INGEST_PROCESSING__N_WORKERS": "1",
            "GEOCUBE_INGEST_PROCESSING__THREADS_PER_WORKER": str(os.cpu_count() or 1),
        }
    )
    try:
        time.sleep(2)
        from geocube_ingest import storage
        from geocube_ingest.processing import cog
        from geocube_ingest.processing.cluster import close_clients, get_client
        from geocube_ingest.settings import get_settings

        settings = get_settings()
        bucket = S3Server(f"http://127.0.0.1:{port}").new_bucket()
        get_client(settings)  # warm cluster, as in a job
        data = band(args.size)
        print(f"{args.size}x{args.size} uint16, {settings.processing.cog_compress}, CPUs {os.cpu_count()}")
        print(f"{'cog':>6} {'check':>6} {'store local':>12} {'store s3':>9} | {'direct s3':>9}  (seconds; MB)")
        for run in range(max(1, args.repeat)):
            with tempfile.TemporaryDirectory(prefix="cog-store-") as tmp:
                scratch, root = Path(tmp) / "scratch", Path(tmp) / "root"
                t0 = time.perf_counter()
                made = Path(cog.write_cog(data, scratch / "ndvi.tif", nodata=0, settings=settings))
                t1 = time.perf_counter()
                cog.ensure_cog(made, settings=settings)
                t2 = time.perf_counter()
                storage.put_path(made, str(root / "ndvi.tif"), settings=settings)
                t3 = time.perf_counter()
                storage.put_path(made, f"s3://{bucket}/run{run}/ndvi.tif", settings=settings)
                t4 = time.perf_counter()
                direct_s3(data, f"s3://{bucket}/run{run}/direct.tif", settings)
                t5 = time.perf_counter()
                size_mb = made.stat().st_size / 1e6
            print(
                f"{t1 - t0:>6.2f} {t2 - t1:>6.2f} {t3 - t2:>12.2f} {t4 - t3:>9.2f} | {t5 - t4:>9.2f} ({size_mb:.0f} MB)"
            )
        close_clients()
    finally:
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
