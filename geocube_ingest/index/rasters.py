"""Opening an indexed file: what the index checks and keeps about its grid.

Files are read through fsspec (rasterio's `opener`) so every storage the product writes
to (local, s3://, gs://) can be checked with the credentials from settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio
import rasterio.warp
from rasterio.crs import CRS
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from geocube_ingest import storage
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import Settings


@dataclass(frozen=True, slots=True)
class RasterInfo:
    count: int
    dtypes: tuple[str, ...]
    crs: str
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]  # (height, width)
    footprint: BaseGeometry  # EPSG:4326


def crs_text(crs: CRS) -> str:
    """ "EPSG:n" when the CRS has a code, else its WKT."""
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def epsg_of(text: str) -> int | None:
    if text.upper().startswith("EPSG:"):
        return int(text.split(":", 1)[1])
    epsg: int | None = CRS.from_user_input(text).to_epsg()
    return epsg


def open_raster(uri: str, settings: Settings | None = None) -> Any:
    """A rasterio dataset for a local path or any storage URL (through fsspec)."""
    fs, path = storage.filesystem(uri, settings=settings)
    if storage.protocol_of(uri) in ("file", "local"):
        return rasterio.open(path)
    return rasterio.open(path, opener=fs)


def inspect(uri: str, settings: Settings | None = None) -> RasterInfo:
    """Read a file's header; InvalidInput naming the file when it cannot be read as a raster."""
    try:
        with open_raster(uri, settings) as ds:
            if ds.crs is None:
                raise InvalidInput(f"cannot index {uri}: the file has no CRS")
            # Read one small window: a header alone does not prove the pixels are readable.
            ds.read(1, window=((0, min(1, ds.height)), (0, min(16, ds.width))))
            footprint = _footprint(ds.bounds, ds.crs)
            t = ds.transform
            return RasterInfo(
                count=ds.count,
                dtypes=tuple(ds.dtypes),
                crs=crs_text(ds.crs),
                transform=(t.a, t.b, t.c, t.d, t.e, t.f),
                shape=(ds.height, ds.width),
                footprint=footprint,
            )
    except InvalidInput:
        raise
    except (rasterio.errors.RasterioError, OSError, ValueError) as exc:
        raise InvalidInput(f"cannot index {uri}: not a readable raster ({exc})") from None


def _footprint(bounds: Any, crs: CRS) -> BaseGeometry:
    outline = box(bounds.left, bounds.bottom, bounds.right, bounds.top)
    if crs.to_epsg() == 4326:
        return outline
    geometry = rasterio.warp.transform_geom(crs, "EPSG:4326", mapping(outline), precision=-1)
    return shape(geometry)


def check_dtype(uri: str, info: RasterInfo, bands: tuple[int, ...], dtype: str) -> None:
    """The indexed bands exist and hold the dformat's data type."""
    missing = [b for b in bands if not 1 <= b <= info.count]
    if missing:
        raise InvalidInput(
            f"cannot index {uri}: band(s) {', '.join(map(str, missing))} requested, the file has {info.count}"
        )
    expected = np.dtype(dtype)
    wrong = sorted({info.dtypes[b - 1] for b in bands if np.dtype(info.dtypes[b - 1]) != expected})
    if wrong:
        raise InvalidInput(f"cannot index {uri}: the dformat says {expected.name}, the file holds {', '.join(wrong)}")
