"""Cloud-Optimized GeoTIFFs: writing them from lazy arrays, converting files, checking them.

rioxarray cannot write a COG straight from Dask (the COG driver needs the whole raster),
so a lazy array is first written as an uncompressed tiled GTiff, block by block and in
parallel, GDAL adds its overviews, then GDAL's COG driver lays it out and compresses it,
reading that file tile by tile. Memory stays bounded: chunks in flight plus GDAL's block
cache (`gdal_cache_mb`).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rio_cogeo import cog_validate

from geocube_ingest.errors import FatalError
from geocube_ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    import xarray as xr
    from distributed import Client

log = logging.getLogger(__name__)

CONTINUOUS = "AVERAGE"
CATEGORICAL = "NEAREST"


class _GcpRasterNotice(logging.Filter):
    """rioxarray creates a GCP-georeferenced file with an identity transform, then sets its GCPs.

    GDAL then says the transform is cleared: expected, and only noise for a user.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "going to be cleared due to the setting of GCPs" not in record.getMessage()


logging.getLogger("rasterio._env").addFilter(_GcpRasterNotice())
# Same cause, as a Python warning; a filter set once (catch_warnings is not thread-safe).
warnings.filterwarnings("ignore", "The given matrix is equal to Affine.identity", NotGeoreferencedWarning)


def gdal_env(settings: Settings, **options: object) -> rasterio.Env:
    return rasterio.Env(
        GDAL_CACHEMAX=settings.processing.gdal_cache_mb,
        GDAL_NUM_THREADS="ALL_CPUS",
        GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
        **options,
    )


def to_cog(
    src: str | Path,
    dst: Path,
    *,
    resampling: str = CONTINUOUS,
    settings: Settings | None = None,
) -> Path:
    """Convert any raster GDAL reads (GTiff, JP2, VRT, /vsizip/...) into a COG at `dst` (nodata kept)."""
    settings = settings or get_settings()
    p = settings.processing
    options: dict[str, object] = {
        "compress": p.cog_compress,
        "blocksize": p.cog_blocksize,
        "overview_resampling": resampling,
        "num_threads": "ALL_CPUS",
        "bigtiff": "IF_SAFER",
    }
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with gdal_env(settings):
            rasterio.shutil.copy(str(src), str(partial), driver="COG", **options)
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)
    return dst


def write_tiled(
    data: xr.DataArray,
    path: Path,
    *,
    nodata: float | None,
    client: Client,
    settings: Settings | None = None,
) -> Path:
    """Write a lazy array as an uncompressed tiled GTiff, chunks in parallel on the cluster."""
    from distributed import Lock

    settings = settings or get_settings()
    block = settings.processing.cog_blocksize
    if nodata is not None:
        data = data.rio.write_nodata(nodata, encoded=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A named distributed lock serialises writes whichever process or machine runs them.
    lock = Lock(f"geocube-ingest-write-{uuid.uuid4().hex}")
    delayed = data.rio.to_raster(
        path,
        driver="GTiff",
        tiled=True,
        blockxsize=block,
        blockysize=block,
        bigtiff="IF_SAFER",
        lock=lock,
        compute=False,
    )
    client.compute(delayed).result()
    return path


def overview_factors(width: int, height: int, blocksize: int) -> list[int]:
    """Halvings down to about one tile, like GDAL's COG driver picks them."""
    factors = []
    factor = 2
    while max(width, height) / (factor // 2) > blocksize:
        factors.append(factor)
        factor *= 2
    return factors


def add_overviews(path: Path, *, resampling: str = CONTINUOUS, settings: Settings | None = None) -> None:
    """Internal overviews of a local tiled GTiff, so the COG driver only has to copy and compress.

    GDAL computes them block by block from the uncompressed file in well under the time
    the COG driver takes to compute them itself (it then reuses them: OVERVIEWS=AUTO).
    """
    settings = settings or get_settings()
    with gdal_env(settings), rasterio.open(path, "r+") as dst:
        factors = overview_factors(dst.width, dst.height, settings.processing.cog_blocksize)
        if factors:
            dst.build_overviews(factors, Resampling[resampling.lower()])


def write_cog(
    data: xr.DataArray,
    path: Path,
    *,
    nodata: float | None,
    client: Client,
    resampling: str = CONTINUOUS,
    settings: Settings | None = None,
) -> Path:
    """Compute `data` and store it as a validated COG at `path`."""
    settings = settings or get_settings()
    tiled = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tiled.tif")
    try:
        start = time.perf_counter()
        write_tiled(data, tiled, nodata=nodata, client=client, settings=settings)
        computed = time.perf_counter()
        add_overviews(tiled, resampling=resampling, settings=settings)
        to_cog(tiled, path, resampling=resampling, settings=settings)
        log.debug("%s: computed in %.1f s, COG in %.1f s", path.name, computed - start, time.perf_counter() - computed)
    finally:
        tiled.unlink(missing_ok=True)
    validate_cog(path, settings=settings)
    return path


def cog_problems(path: Path, settings: Settings | None = None) -> list[str]:
    """Why `path` is not a COG we hand on: rio-cogeo's errors, missing overviews or compression."""
    settings = settings or get_settings()
    try:
        valid, errors, _warnings = cog_validate(str(path), quiet=True)
    except Exception as exc:  # rio-cogeo raises on files GDAL cannot open
        return [f"cannot be read: {exc}"]
    problems = list(errors)
    with rasterio.open(path) as src:
        if max(src.width, src.height) > settings.processing.cog_blocksize and not src.overviews(1):
            problems.append("no internal overviews")
        if src.profile.get("compress") is None:
            problems.append("not compressed")
        if not src.profile.get("tiled", False) and max(src.width, src.height) > 512:
            problems.append("not tiled")
    if not valid and not problems:
        problems.append("rio-cogeo says invalid")
    return problems


def validate_cog(path: Path, settings: Settings | None = None) -> None:
    problems = cog_problems(path, settings)
    if problems:
        raise FatalError(f"{path.name} is not a valid COG: {'; '.join(problems)}")


def ensure_cog(path: Path, *, resampling: str = CONTINUOUS, settings: Settings | None = None) -> Path:
    """Make a GeoTIFF written by any step a valid COG (in place), then check it."""
    settings = settings or get_settings()
    if cog_problems(path, settings):
        log.info("converting %s to a COG", path.name)
        converted = path.with_name(f".{path.name}.cog.tif")
        try:
            to_cog(path, converted, resampling=resampling, settings=settings)
            converted.replace(path)
        finally:
            converted.unlink(missing_ok=True)
    validate_cog(path, settings)
    return path


def nodata_for(dtype: str, nodata: float) -> float | None:
    """GDAL cannot store NaN nodata in integer files."""
    if math.isnan(nodata) and not dtype.startswith(("float", "complex")):
        return None
    return nodata
