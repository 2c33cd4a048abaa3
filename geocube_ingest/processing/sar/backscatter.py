"""One SLC burst to terrain-flattened backscatter (gamma0 RTC) and a layover/shadow mask on a map grid.

Each output chunk is computed on its own (a Dask task), so memory is bounded by the chunk:
1. the DEM is resampled on a grid `dem_factor` times finer than the output, padded by a
   margin so that the radar bins of the chunk's pixels collect all their facets;
2. every DEM point is backward-geocoded to the burst (`geocoding`), its facet's projected
   area summed into radar bins about one output pixel in size (`radiometry`);
3. the burst's samples under the chunk are read, calibrated to beta0 with the thermal noise
   removed, averaged in the same bins;
4. at each DEM point: gamma0_rtc = beta0 / normalised gamma area (both interpolated from the
   bins); an output pixel is the mean of its `dem_factor`^2 points (linear power), its mask
   the OR of theirs.
Pixels the burst does not see (outside its valid window, zero samples, outside the burst)
are NaN with mask 255.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import dask.array as darr
import numpy as np
import numpy.typing as npt
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords, xr_reproject

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.burst import BurstGeometry, burst_geometry, open_burst, valid_window
from geocube_ingest.processing.sar.dem import NotCovered, flat_dem, load_dem_on, utm_crs, utm_geobox
from geocube_ingest.processing.sar.radiometry import (
    NODATA_MASK,
    BinGrid,
    Bins,
    Facets,
    calibrated_intensity,
    calibration_lut,
    layover_shadow_mask,
    look_bins,
    noise_lut,
    normalised_gamma_area,
    terrain_facets,
)
from geocube_ingest.settings import Settings

QUANTITIES = ("gamma0_rtc", "gamma0", "sigma0", "beta0")
DEFAULT_CHUNK = 256
_MIN_BIN_COVERAGE = 0.5  # share of valid samples a bin needs to have a value


def burst_grid(
    geometry: BurstGeometry, resolution: float, bounds_lonlat: tuple[float, float, float, float] | None = None
) -> GeoBox:
    """A UTM grid (zone of the burst's centre) over the burst's footprint, cut to `bounds_lonlat` if given."""
    if not resolution > 0:
        raise InvalidInput(f"resolution {resolution!r}: a positive number of metres is expected")
    west, south, east, north = geometry.footprint.bounds
    if bounds_lonlat is not None:
        w, s, e, n = bounds_lonlat
        west, south, east, north = max(west, w), max(south, s), min(east, e), min(north, n)
        if west >= east or south >= north:
            raise InvalidInput(f"bounds {bounds_lonlat!r} do not meet burst {geometry.burst_index} of {geometry.swath}")
    centre = geometry.footprint.centroid
    return utm_geobox((west, south, east, north), resolution, utm_crs(centre.x, centre.y))


def _fine(box: GeoBox, factor: int, pad: int) -> GeoBox:
    """`box` padded by `pad` pixels, each pixel cut into factor x factor."""
    padded = box.pad(pad)
    return GeoBox(
        (padded.shape.y * factor, padded.shape.x * factor), padded.affine * Affine.scale(1 / factor), padded.crs
    )


def _heights(dem: xr.DataArray | str, fine: GeoBox, geoid: str, settings: Settings | None) -> xr.DataArray:
    if isinstance(dem, str):
        try:
            return load_dem_on(dem, fine, geoid=geoid, settings=settings)
        except NotCovered:  # a chunk beyond the DEM: no data there, not a failed step
            return flat_dem(fine, np.nan)
    coords = xr_coords(fine)
    heights = dem.interp(x=coords["x"], y=coords["y"], method="linear")
    return heights.drop_vars("spatial_ref", errors="ignore").assign_coords(spatial_ref=coords["spatial_ref"])


def _radar_window(facets: Facets, bins: Bins, geometry: BurstGeometry) -> tuple[slice, slice] | None:
    """Burst lines and pixels (whole bins, one bin of margin) under the facets; None if they miss the burst."""
    ok = np.isfinite(facets.line)
    if not ok.any():
        return None
    first, last = geometry.valid_lines
    l0 = max(int(np.floor(facets.line[ok].min() / bins.lines)) - 1, first // bins.lines) * bins.lines
    l1 = min((int(np.ceil(facets.line[ok].max() / bins.lines)) + 2) * bins.lines, (last + 1) // bins.lines * bins.lines)
    p0 = max(int(np.floor(facets.pixel[ok].min() / bins.samples)) - 1, 0) * bins.samples
    p1 = min(
        (int(np.ceil(facets.pixel[ok].max() / bins.samples)) + 2) * bins.samples,
        geometry.samples // bins.samples * bins.samples,
    )
    if l1 <= l0 or p1 <= p0:
        return None
    return slice(l0, l1), slice(p0, p1)


def _binned_beta0(geometry: BurstGeometry, window: tuple[slice, slice], bins: Bins, noise: bool) -> BinGrid:
    """Mean beta0 (linear, noise removed) of the burst's valid samples in each bin of the window."""
    lines, pixels = window
    sync = {"scheduler": "synchronous"}
    slc = open_burst(geometry.safe, geometry.swath, geometry.polarisation, geometry.burst_index, geometry=geometry)
    lut = calibration_lut(
        geometry.safe, geometry.swath, geometry.polarisation, geometry.burst_index, "beta0", geometry=geometry
    )
    part = {"line": lines, "pixel": pixels}
    samples = slc.isel(part).compute(**sync)
    thermal = (
        noise_lut(geometry.safe, geometry.swath, geometry.polarisation, geometry.burst_index, geometry=geometry)
        .isel(part)
        .compute(**sync)
        if noise
        else None
    )
    # Noise removed per sample but clipped per bin: clipping each sample would bias dark areas up.
    beta0 = calibrated_intensity(samples, lut.isel(part).compute(**sync), thermal, clip=False).values.astype("float64")
    good = valid_window(geometry, lines, pixels) & (samples.values != 0)
    shape = (beta0.shape[0] // bins.lines, bins.lines, beta0.shape[1] // bins.samples, bins.samples)
    total = np.where(good, beta0, 0.0).reshape(shape).sum(axis=(1, 3))
    count = good.reshape(shape).sum(axis=(1, 3))
    mean = np.where(
        count >= _MIN_BIN_COVERAGE * bins.lines * bins.samples, np.clip(total / np.maximum(count, 1), 0, None), np.nan
    )
    return BinGrid(lines.start // bins.lines, pixels.start // bins.samples, mean)


def _value(
    quantity: str, beta0: npt.NDArray[np.float64], area: npt.NDArray[np.float64], facets: Facets
) -> npt.NDArray[np.float64]:
    theta = np.deg2rad(facets.incidence)
    if quantity == "gamma0_rtc":
        return np.where(area > 0, beta0 / np.where(area > 0, area, 1), np.nan)
    if quantity == "gamma0":
        return beta0 * np.tan(theta)
    if quantity == "sigma0":
        return beta0 * np.sin(theta)
    return beta0


def _block_mean(values: npt.NDArray[np.float64], factor: int, pad: int) -> npt.NDArray[np.float64]:
    inner = values[pad * factor : values.shape[0] - pad * factor, pad * factor : values.shape[1] - pad * factor]
    ny, nx = inner.shape[0] // factor, inner.shape[1] // factor
    blocks = inner.reshape(ny, factor, nx, factor)
    count = np.isfinite(blocks).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _block_or(mask: npt.NDArray[np.uint8], factor: int, pad: int) -> npt.NDArray[np.uint8]:
    inner = mask[pad * factor : mask.shape[0] - pad * factor, pad * factor : mask.shape[1] - pad * factor]
    ny, nx = inner.shape[0] // factor, inner.shape[1] // factor
    reduced = np.bitwise_or.reduce(np.bitwise_or.reduce(inner.reshape(ny, factor, nx, factor), axis=3), axis=1)
    return np.asarray(reduced, dtype="uint8")


def compute_block(
    geometry: BurstGeometry,
    dem: xr.DataArray | str,
    box: GeoBox,
    *,
    quantity: str,
    resolution: float,
    factor: int,
    pad: int,
    noise: bool,
    geoid: str,
    settings: Settings | None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Linear backscatter and mask of one output chunk `box` (see the module docstring)."""
    ny, nx = box.shape.y, box.shape.x
    nodata = (np.full((ny, nx), np.nan, dtype="float32"), np.full((ny, nx), NODATA_MASK, dtype="uint8"))
    if not box.extent.to_crs("EPSG:4326").geom.intersects(geometry.footprint):
        return nodata  # nothing of the burst here: no DEM read, no geocoding
    heights = _heights(dem, _fine(box, factor, pad), geoid, settings)
    facets = terrain_facets(geometry, heights)
    bins = look_bins(geometry, resolution)
    window = _radar_window(facets, bins, geometry)
    if window is None:
        return nodata
    beta_bins = _binned_beta0(geometry, window, bins, noise)
    u, v = bins.of(facets.line, facets.pixel)
    beta0 = beta_bins.sample(u, v)
    area = normalised_gamma_area(facets, bins).sample(u, v) if quantity == "gamma0_rtc" else np.ones_like(beta0)
    values = _value(quantity, beta0, area, facets)
    mask = layover_shadow_mask(facets, bins)
    out = _block_mean(values, factor, pad).astype("float32")
    seen = _block_mean(np.where(np.isfinite(beta0), 1.0, np.nan), factor, pad)
    flags = np.where(np.isfinite(seen), _block_or(mask, factor, pad), NODATA_MASK).astype("uint8")
    return out, flags


def backscatter(
    safe: str | Path,
    swath: str,
    polarisation: str,
    burst_index: int,
    dem: xr.DataArray | str,
    grid: GeoBox,
    *,
    db: bool = True,
    quantity: str = "gamma0_rtc",
    dem_factor: int = 3,
    margin_m: float = 300.0,
    noise: bool = True,
    chunk: int = DEFAULT_CHUNK,
    geoid: str = "EGM96",
    settings: Settings | None = None,
) -> xr.Dataset:
    """Calibrated, noise-removed backscatter of one burst on `grid`, lazily (one Dask task per chunk).

    `dem`: ellipsoidal heights (m) as a DataArray on a projected grid (odc CRS set; resampled to
    `grid`'s CRS if it differs), or a DEM URL read per chunk through the storage rules with
    `geoid` ("EGM96": orthometric heights converted, "none": ellipsoidal already).
    `quantity`: gamma0_rtc (terrain flattened), or gamma0 / sigma0 / beta0 on the ellipsoid.
    `margin_m`: DEM read around each chunk; layover from relief farther than this is missed.
    Returns Dataset(`quantity`: float32, dB if `db`, NaN for no data; `mask`: uint8, bit 1
    layover, bit 2 shadow, 255 no data) on `grid`.
    """
    if quantity not in QUANTITIES:
        raise InvalidInput(f"quantity {quantity!r}: expected one of {', '.join(QUANTITIES)}")
    if not isinstance(dem_factor, int) or dem_factor < 3:
        raise InvalidInput(
            f"dem_factor {dem_factor!r}: the DEM must be at least 3x finer than the output (an integer >= 3)"
        )
    geometry = burst_geometry(safe, swath, polarisation, burst_index)
    if isinstance(dem, xr.DataArray) and grid.crs is not None and dem.odc.crs != grid.crs:
        dem = xr_reproject(dem, grid.crs, resampling="bilinear")
    resolution = abs(grid.resolution.x)
    pad = max(1, int(np.ceil(margin_m / resolution)))
    options: dict[str, Any] = dict(
        quantity=quantity,
        resolution=resolution,
        factor=dem_factor,
        pad=pad,
        noise=noise,
        geoid=geoid,
        settings=settings,
    )
    template = darr.empty((2, grid.shape.y, grid.shape.x), chunks=(2, chunk, chunk), dtype="float32")

    def block(_: npt.NDArray[np.float32], block_info: dict[object, Any]) -> npt.NDArray[np.float32]:
        (_b0, _b1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        values, flags = compute_block(geometry, dem, grid[y0:y1, x0:x1], **options)
        return np.stack([values, flags.astype("float32")])

    stacked = template.map_blocks(block, dtype="float32", meta=np.array((), dtype="float32"))
    coords = xr_coords(grid)
    values = xr.DataArray(stacked[0], coords=coords, dims=("y", "x"))
    if db:
        values = cast(xr.DataArray, 10 * np.log10(values.where(values > 0)))
    mask = xr.DataArray(stacked[1].astype("uint8"), coords=coords, dims=("y", "x"))
    values.attrs.update(units="dB" if db else "1", quantity=quantity, nodata=np.nan)
    mask.attrs.update(nodata=NODATA_MASK, flag_masks=[1, 2], flag_meanings="layover shadow")
    return xr.Dataset(
        {quantity: values.astype("float32"), "mask": mask},
        attrs={"swath": geometry.swath, "polarisation": geometry.polarisation, "burst_index": burst_index},
    )
