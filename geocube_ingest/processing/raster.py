"""Lazy raster building blocks: open, put on a grid, calibrate, scale to a data format.

Everything returns xarray DataArrays backed by Dask, so nothing is read before a COG is
written. Grids are odc-geo `GeoBox`es (the model the index's read-back uses) and
reprojection is odc-geo's `xr_reproject`: one GDAL warp per output chunk from the source
chunks it overlaps, affine or GCP georeferencing alike, run wherever the chunk is computed.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, cast

import dask.array as darr
import numpy as np
import rasterio
import rioxarray
import xarray as xr
from odc.geo.crs import CRS
from odc.geo.geobox import GeoBox, GeoboxTiles
from odc.geo.geom import Geometry, multipoint
from odc.geo.xr import xr_coords, xr_reproject
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import reproject

from geocube_ingest.errors import InvalidInput
from geocube_ingest.index.base import DFormat

NATIVE = ("", "native", "source")
AUTO_UTM = ("utm", "auto")


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


def geobox_of(path: str | Path) -> GeoBox | None:
    """The affine grid of a raster, None for a raster georeferenced by GCPs only."""
    with rasterio.open(path) as src:
        if src.crs is None or src.transform.is_identity:
            return None
        return GeoBox.from_rio(src)


def same_grid(a: GeoBox | None, b: GeoBox | None) -> bool:
    """Equal grids, transforms compared to 1e-6 (a rewritten file may round them)."""
    return (
        a is not None
        and b is not None
        and a.crs == b.crs
        and a.shape == b.shape
        and a.affine.almost_equals(b.affine, precision=1e-6)
    )


def _gcp_footprint(src: rasterio.io.DatasetReader) -> Geometry:
    gcps, gcp_crs = src.gcps
    if not gcps or gcp_crs is None:
        raise InvalidInput(f"{src.name} is not georeferenced (no CRS, no GCPs)")
    # odc-geo's GCP model fits a polynomial that breaks on a regular grid of GCPs with one
    # at the centroid (as in small products): the GCPs' hull here.
    return multipoint([(g.x, g.y) for g in gcps], CRS(gcp_crs)).convex_hull


def target_grid(path: str | Path, projection: str = "", resolution: str | float | None = None) -> GeoBox:
    """The grid a raster lands on: `projection` (EPSG code, WKT, `UTM` for the zone of its
    centre, empty for its own CRS) at `resolution`, pixel edges on multiples of it."""
    proj = (projection or "").strip()
    res = float(resolution) if resolution not in (None, "") else None
    with rasterio.open(path) as src:
        source = None if src.crs is None or src.transform.is_identity else GeoBox.from_rio(src)
        footprint = source.extent if source is not None else _gcp_footprint(src)
        shape = src.shape
    assert footprint.crs is not None
    crs: CRS
    if proj.lower() in NATIVE:
        crs = footprint.crs
    elif proj.lower() in AUTO_UTM:
        crs = CRS.utm(footprint)
    else:
        try:
            crs = CRS(proj)
        except Exception:
            raise InvalidInput(f"unknown projection {projection!r}") from None
    if source is not None and crs == source.crs and res is None:
        return source
    # Edges sampled at 100 points each, as GDAL samples them for its own warps.
    edge = max(footprint.boundingbox.span_x, footprint.boundingbox.span_y) / 100
    bbox = footprint.to_crs(crs, resolution=edge).boundingbox
    if res is None:
        # GDAL's choice (gdalwarp without -tr): the diagonal keeps its number of pixels.
        grid = GeoBox.from_bbox(bbox, resolution=math.hypot(bbox.span_x, bbox.span_y) / math.hypot(*shape), tight=True)
    else:
        grid = GeoBox.from_bbox(bbox, resolution=res, tol=0)
    if grid.width == 0 or grid.height == 0:
        raise InvalidInput(f"{path}: empty target grid for projection {projection!r}, resolution {resolution!r}")
    return grid


def _nodata_for(dtype: np.dtype, nodata: float | None) -> float:
    if nodata is not None:
        return nodata
    return float("nan") if dtype.kind in "fc" else 0


# odc-geo hands GDAL's warper in-memory arrays, which rasterio reports as "not georeferenced"
# although both grids are given: set once (catch_warnings is not thread-safe).
warnings.filterwarnings("ignore", "Dataset has no geotransform", NotGeoreferencedWarning, "rasterio.warp")


def _warp_gcps(path: str, grid: GeoBox, chunks: int, resampling: Resampling) -> xr.DataArray:
    """A GCP-georeferenced raster on `grid`: one GDAL warp through the GCPs per output chunk,
    reading the source window it needs. odc-geo's GCP model breaks on regular GCP grids and
    rioxarray reopens a WarpedVRT with an approximate affine transform instead of the GCPs."""
    with rasterio.open(path) as src:
        dtype = np.dtype(src.dtypes[0])
        src_nodata = src.nodata
        gcps, gcp_crs = src.gcps
        attrs = {"scale_factor": src.scales[0], "add_offset": src.offsets[0]}
    dst_nodata = _nodata_for(dtype, src_nodata)
    tiles = GeoboxTiles(grid, (chunks, chunks))
    wkt = str(grid.crs.wkt) if grid.crs is not None else None

    def block(block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        tile = tiles[tuple(block_info[None]["chunk-location"])]
        assert isinstance(tile, GeoBox)
        out = np.full(tile.shape.yx, dst_nodata, dtype=dtype)
        with rasterio.open(path) as src:
            reproject(
                rasterio.band(src, 1),
                out,
                gcps=gcps,
                src_crs=gcp_crs,
                dst_transform=tile.affine,
                dst_crs=wkt,
                src_nodata=src_nodata,
                dst_nodata=dst_nodata,
                resampling=resampling,
            )
        return out

    values = darr.map_blocks(block, chunks=tiles.chunks, dtype=dtype, meta=np.empty((0, 0), dtype=dtype))
    data = xr.DataArray(values, dims=("y", "x"), coords=xr_coords(grid, always_yx=True), attrs=attrs)
    return cast("xr.DataArray", data.rio.write_nodata(dst_nodata, encoded=False))


def warp(
    path: str | Path,
    grid: GeoBox,
    *,
    chunks: int,
    resampling: Resampling = Resampling.bilinear,
    decode: bool = False,
) -> xr.DataArray:
    """`path` warped onto `grid`, lazily (`decode`: nodata→NaN and scale/offset after the warp)."""
    assert grid.crs is not None, "target grids always have a CRS"
    wkt = grid.crs.wkt
    if geobox_of(path) is not None:
        source = open_raster(path, chunks=chunks)
        src_nodata = source.rio.nodata
        dst_nodata = _nodata_for(source.dtype, src_nodata)
        # XSCALE/YSCALE None: GDAL picks the kernel radius from the scale change, as a plain
        # rasterio warp does (odc-geo pins it to one source pixel otherwise).
        data = xr_reproject(
            source,
            grid,
            resampling=resampling.name,
            src_nodata=src_nodata,
            dst_nodata=dst_nodata,
            XSCALE=None,
            YSCALE=None,
        )
    else:
        data = _warp_gcps(str(path), grid, chunks, resampling)
        dst_nodata = data.rio.nodata
    scale, offset = data.attrs.get("scale_factor", 1.0), data.attrs.get("add_offset", 0.0)
    data = data.rio.write_crs(wkt).rio.write_transform(grid.affine)
    if decode:
        real = data.astype("float32")
        if not math.isnan(dst_nodata):
            real = real.where(data != dst_nodata)
        if (scale, offset) != (1.0, 0.0):
            real = real * scale + offset
        return cast("xr.DataArray", real.rio.write_crs(wkt).rio.write_transform(grid.affine))
    return cast("xr.DataArray", data.rio.write_nodata(dst_nodata, encoded=False))


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
    grid: GeoBox | None,
    *,
    chunks: int,
    resampling: Resampling = Resampling.bilinear,
    decode: bool = False,
) -> xr.DataArray:
    """`path` on `grid` (as is when already there)."""
    if grid is None or same_grid(grid, geobox_of(path)):
        return open_raster(path, chunks=chunks, decode=decode)
    return warp(path, grid, chunks=chunks, resampling=resampling, decode=decode)


def linear_to_db(data: xr.DataArray) -> xr.DataArray:
    data = data.astype("float32")
    return cast("xr.DataArray", xr.where(data > 0, 10 * np.log10(data.where(data > 0)), np.nan).astype("float32"))


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
    return cast("xr.DataArray", out)


def copy_georef(template: xr.DataArray, data: xr.DataArray) -> xr.DataArray:
    """Give computed values the coordinates and CRS of the raster they came from."""
    result = (
        xr.DataArray(data, coords=template.coords, dims=template.dims) if not isinstance(data, xr.DataArray) else data
    )
    crs = template.rio.crs
    if crs is not None:
        result = result.rio.write_crs(crs)
    return cast("xr.DataArray", result.rio.write_transform(template.rio.transform()))


def box_sum(block: np.ndarray, wy: int, wx: int) -> np.ndarray:
    """Sum over a centred wy x wx window (edges use the part inside), with cumulative sums."""
    padded = np.pad(block, ((wy // 2 + 1, wy // 2), (wx // 2 + 1, wx // 2)))
    c = padded.cumsum(axis=0).cumsum(axis=1)
    return cast("np.ndarray", c[wy:, wx:] - c[:-wy, wx:] - c[wy:, :-wx] + c[:-wy, :-wx])


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
