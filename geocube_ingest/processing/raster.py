"""Lazy raster building blocks: open, put on a grid, calibrate, scale to a data format.

Everything returns xarray DataArrays backed by Dask, so nothing is read before a COG is
written. Reprojection is one GDAL warp per output chunk (GDAL paths, GCP sources included),
run wherever the chunk is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as darr
import numpy as np
import rasterio
import rasterio.shutil
import rioxarray
import xarray as xr
from affine import Affine
from dask.array.core import normalize_chunks
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.warp import aligned_target, calculate_default_transform, reproject, transform_bounds

from geocube_ingest.errors import InvalidInput
from geocube_ingest.index.base import DFormat

NATIVE = ("", "native", "source")
AUTO_UTM = ("utm", "auto")


@dataclass(frozen=True)
class Grid:
    crs: CRS
    transform: Affine
    width: int
    height: int

    @classmethod
    def of(cls, path: str | Path) -> Grid | None:
        """The affine grid of a raster, None for a raster georeferenced by GCPs only."""
        with rasterio.open(path) as src:
            if src.crs is None or src.transform == Affine.identity():
                return None
            return cls(src.crs, src.transform, src.width, src.height)

    def same_as(self, other: Grid | None) -> bool:
        return (
            other is not None
            and self.crs == other.crs
            and (self.width, self.height) == (other.width, other.height)
            and self.transform.almost_equals(other.transform, precision=1e-6)
        )

    @property
    def resolution(self) -> float:
        return abs(self.transform.a)


def parse_resampling(name: str) -> Resampling:
    key = name.strip().lower().removesuffix("_interpolation")
    aliases = {
        "bilinear": "bilinear",
        "bicubic": "cubic",
        "cubic": "cubic",
        "nearest": "nearest",
        "nearest_neighbour": "nearest",
    }
    try:
        return Resampling[aliases.get(key, key)]
    except KeyError:
        names = ", ".join(r.name for r in Resampling)
        raise InvalidInput(f"unknown resampling {name!r} (expected one of {names})") from None


def utm_crs(lon: float, lat: float) -> CRS:
    zone = min(60, max(1, math.floor((lon + 180) / 6) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _source_crs(src: rasterio.io.DatasetReader) -> CRS:
    if src.crs is not None:
        return src.crs
    gcps, gcp_crs = src.gcps
    if gcps and gcp_crs is not None:
        return gcp_crs
    raise InvalidInput(f"{src.name} is not georeferenced (no CRS, no GCPs)")


def target_grid(path: str | Path, projection: str = "", resolution: str | float | None = None) -> Grid:
    """The grid a raster lands on: `projection` (EPSG code, WKT, `UTM` for the zone of its
    centre, empty for its own CRS) at `resolution`, pixels aligned on multiples of it."""
    with rasterio.open(path) as src:
        src_crs = _source_crs(src)
        gcps = src.gcps[0] if src.crs is None else None
        if gcps:
            xs = [g.x for g in gcps]
            ys = [g.y for g in gcps]
            bounds = (min(xs), min(ys), max(xs), max(ys))
        else:
            bounds = tuple(src.bounds)
        proj = (projection or "").strip()
        if proj.lower() in NATIVE:
            dst_crs = src_crs
        elif proj.lower() in AUTO_UTM:
            west, south, east, north = transform_bounds(src_crs, "EPSG:4326", *bounds)
            dst_crs = utm_crs((west + east) / 2, (south + north) / 2)
        else:
            try:
                dst_crs = CRS.from_user_input(proj)
            except Exception:
                raise InvalidInput(f"unknown projection {projection!r}") from None
        res = float(resolution) if resolution not in (None, "") else None
        if gcps:
            transform, width, height = calculate_default_transform(
                src_crs, dst_crs, src.width, src.height, gcps=gcps, resolution=res
            )
        else:
            transform, width, height = calculate_default_transform(
                src_crs, dst_crs, src.width, src.height, *bounds, resolution=res
            )
        if res is not None and width and height:
            transform, width, height = aligned_target(transform, width, height, res)
    if not width or not height:
        raise InvalidInput(f"{path}: empty target grid for projection {projection!r}, resolution {resolution!r}")
    return Grid(CRS.from_user_input(dst_crs), transform, int(width), int(height))


def _nodata_for(dtype: np.dtype, nodata: float | None) -> float:
    if nodata is not None:
        return nodata
    return float("nan") if dtype.kind in "fc" else 0


def warp(
    path: str | Path,
    grid: Grid,
    *,
    chunks: int,
    resampling: Resampling = Resampling.bilinear,
    decode: bool = False,
) -> xr.DataArray:
    """`path` warped onto `grid`, lazily: each chunk is one GDAL warp of the source window it
    needs (affine or GCP georeferencing alike), run wherever the chunk is computed."""
    source = str(path)
    with rasterio.open(source) as src:
        dtype = np.dtype(src.dtypes[0])
        src_nodata = src.nodata
        scale, offset = src.scales[0], src.offsets[0]
        gcps, gcp_crs = src.gcps
        use_gcps = src.crs is None and bool(gcps)
    dst_nodata = _nodata_for(dtype, src_nodata)

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        out = np.full((r1 - r0, c1 - c0), dst_nodata, dtype=dtype)
        extra: dict[str, Any] = {"gcps": gcps, "src_crs": gcp_crs} if use_gcps else {}
        with rasterio.open(source) as src:
            reproject(
                rasterio.band(src, 1),
                out,
                dst_transform=grid.transform @ Affine.translation(c0, r0),
                dst_crs=grid.crs,
                src_nodata=src_nodata,
                dst_nodata=dst_nodata,
                resampling=resampling,
                **extra,
            )
        return out

    blocks = normalize_chunks((chunks, chunks), (grid.height, grid.width))
    values = darr.map_blocks(block, chunks=blocks, dtype=dtype, meta=np.empty((0, 0), dtype=dtype))
    t = grid.transform
    coords = {
        "y": t.f + (np.arange(grid.height) + 0.5) * t.e,
        "x": t.c + (np.arange(grid.width) + 0.5) * t.a,
    }
    data = xr.DataArray(values, dims=("y", "x"), coords=coords)
    data = data.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    if decode:
        real = data.astype("float32")
        if not math.isnan(dst_nodata):
            real = real.where(data != dst_nodata)
        if (scale, offset) != (1.0, 0.0):
            real = real * scale + offset
        return real.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return data.rio.write_nodata(dst_nodata, encoded=False)


def open_raster(path: str | Path, *, chunks: int, band: int = 1, decode: bool = False) -> xr.DataArray:
    """One band, lazily, as (y, x). `decode` applies nodata→NaN and the file's scale/offset."""
    data = rioxarray.open_rasterio(
        path,
        chunks={"band": 1, "y": chunks, "x": chunks},
        lock=False,
        masked=decode,
        mask_and_scale=decode,
    )
    if not isinstance(data, xr.DataArray):
        raise InvalidInput(f"{path}: expected a raster, got several sub-datasets")
    if band not in data.band.values:
        raise InvalidInput(f"{path}: no band {band} (it has {data.sizes['band']})")
    return data.sel(band=band, drop=True)


def open_on_grid(
    path: str | Path,
    grid: Grid | None,
    *,
    chunks: int,
    resampling: Resampling = Resampling.bilinear,
    decode: bool = False,
) -> xr.DataArray:
    """`path` on `grid` (as is when already there)."""
    if grid is None or grid.same_as(Grid.of(path)):
        return open_raster(path, chunks=chunks, decode=decode)
    return warp(path, grid, chunks=chunks, resampling=resampling, decode=decode)


def linear_to_db(data: xr.DataArray) -> xr.DataArray:
    data = data.astype("float32")
    return xr.where(data > 0, 10 * np.log10(data.where(data > 0)), np.nan).astype("float32")


def db_to_linear(data: xr.DataArray) -> xr.DataArray:
    return (10 ** (data.astype("float32") / 10)).astype("float32")


def parse_range(text: str | None, default: tuple[float, float]) -> tuple[float, float]:
    if text in (None, ""):
        return default
    parts = [p.strip() for p in str(text).split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"invalid range {text!r}: expected 'min,max'") from None
    if not low < high:
        raise InvalidInput(f"invalid range {text!r}: min must be below max")
    return low, high


def to_dformat(
    data: xr.DataArray,
    dformat: DFormat,
    real_range: tuple[float, float],
    exponent: float = 1.0,
) -> xr.DataArray:
    """Store real values in `dformat`: the inverse of the index's
    `real = rmin + (rmax - rmin) * ((v - min) / (max - min)) ** exponent`.

    NaN becomes nodata; values are clipped to [min, max]; integer formats are rounded and a
    valid value never lands on nodata. With exponent 1 the file carries the matching GDAL
    scale/offset, so readers decode it back to real values.
    """
    low, high = real_range
    dtype = np.dtype(dformat.dtype)
    real = data.astype("float64")
    fraction = ((real - low) / (high - low)).clip(0, 1)
    if exponent != 1:
        fraction = fraction ** (1 / exponent)
    stored = dformat.min + (dformat.max - dformat.min) * fraction
    if dtype.kind in "iu":
        stored = stored.round()
        if dformat.min <= dformat.nodata <= dformat.max:
            bumped = dformat.nodata + 1 if dformat.nodata < dformat.max else dformat.nodata - 1
            stored = stored.where(stored != dformat.nodata, bumped)
    nodata = dformat.nodata
    if math.isnan(nodata) and dtype.kind not in "fc":
        raise InvalidInput(f"data format {dformat}: an integer type cannot have NaN as nodata")
    out = stored.where(real.notnull(), nodata).astype(dtype)
    out.attrs = {}
    out = out.rio.write_nodata(nodata, encoded=False)
    if exponent == 1:
        scale = (high - low) / (dformat.max - dformat.min)
        out.attrs["scale_factor"] = scale
        out.attrs["add_offset"] = low - dformat.min * scale
    return out


def copy_georef(template: xr.DataArray, data: xr.DataArray) -> xr.DataArray:
    """Give computed values the coordinates and CRS of the raster they came from."""
    result = (
        xr.DataArray(data, coords=template.coords, dims=template.dims) if not isinstance(data, xr.DataArray) else data
    )
    crs = template.rio.crs
    if crs is not None:
        result = result.rio.write_crs(crs)
    return result.rio.write_transform(template.rio.transform())


def box_sum(block: np.ndarray, wy: int, wx: int) -> np.ndarray:
    """Sum over a centred wy x wx window (edges use the part inside), with cumulative sums."""
    padded = np.pad(block, ((wy // 2 + 1, wy // 2), (wx // 2 + 1, wx // 2)))
    c = padded.cumsum(axis=0).cumsum(axis=1)
    return c[wy:, wx:] - c[:-wy, wx:] - c[wy:, :-wx] + c[:-wy, :-wx]


def coherence(a: xr.DataArray, b: xr.DataArray, window: tuple[int, int]) -> xr.DataArray:
    """|Σ a·b*| / sqrt(Σ|a|² Σ|b|²) over a moving window: interferometric coherence for
    complex inputs, a local normalised correlation for real ones. NaN where either is NaN."""
    wy, wx = window
    valid = a.notnull() & b.notnull()
    a0 = a.where(valid, 0).data
    b0 = b.where(valid, 0).data

    def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        num = np.abs(box_sum(x * np.conj(y), wy, wx))
        den = np.sqrt(box_sum(np.abs(x) ** 2, wy, wx) * box_sum(np.abs(y) ** 2, wy, wx))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / den, np.nan)
        return out.astype("float32")

    depth = {0: wy // 2 + 1, 1: wx // 2 + 1}
    values = darr.map_overlap(kernel, a0, b0, depth=depth, boundary=0, dtype="float32", trim=True)
    result = xr.DataArray(values, coords=a.coords, dims=a.dims).where(valid)
    return copy_georef(a, result)
