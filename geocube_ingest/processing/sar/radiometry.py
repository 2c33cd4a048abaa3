"""Radiometry of an SLC burst: calibration and thermal-noise tables, calibrated intensities.

The IPF gives calibration vectors (sigmaNought, betaNought, gamma, dn) and noise range vectors
at a few azimuth times, sampled every ~40 pixels. They are interpolated:
- calibration: bilinearly in (azimuth time, pixel). The vectors' `line` numbers of an IW SLC
  count as if the bursts were one continuous image (they run from before the first line to
  after the last), so their azimuth times, not their lines, place them on a burst;
- noise (IPF >= 2.9): the range vector of the burst (the one whose azimuth time falls in the
  burst, as ESA's thermal denoising note prescribes for SLC; linear in pixel) times the
  azimuth vector (linear in swath line, inside its block's line and sample span).
Calibrated intensity: `x0 = (|DN|^2 - noise) / A_x^2` (S1 Level-1 calibration note).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import dask.array as darr
import numpy as np
import numpy.typing as npt
import odc.geo.xr  # noqa: F401  (the .odc accessor)
import xarray as xr
import xarray_sentinel.sentinel1 as xs1

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.burst import (
    DEFAULT_CHUNKS,
    ONE_SECOND,
    BurstGeometry,
    burst_coords,
    burst_geometry,
    product_file,
)
from geocube_ingest.processing.sar.geocoding import (
    RadarCoordinates,
    backward_geocode_points,
    ellipsoid_normal,
    map_to_ecef,
)

CALIBRATION_KINDS = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma", "dn": "dn"}

BlockFn = Callable[[npt.NDArray[Any], npt.NDArray[Any]], npt.NDArray[np.float32]]


@lru_cache(maxsize=8)
def _calibration_table(path: str) -> xr.Dataset:
    return xs1.open_calibration_dataset(path)


@lru_cache(maxsize=8)
def _noise_range_table(path: str) -> xr.Dataset:
    return xs1.open_noise_range_dataset(path)


def _lazy_grid(fn: BlockFn, geometry: BurstGeometry, chunks: dict[str, int] | None, name: str) -> xr.DataArray:
    """A (line, pixel) float32 array of the burst whose blocks are `fn(lines, pixels)`, computed on demand."""
    wanted = {**DEFAULT_CHUNKS, **(chunks or {})}
    template = darr.empty((geometry.lines, geometry.samples), chunks=(wanted["line"], wanted["pixel"]), dtype="float32")

    def block(
        _: npt.NDArray[np.float32], block_info: dict[object, dict[str, list[tuple[int, int]]]]
    ) -> npt.NDArray[np.float32]:
        (l0, l1), (p0, p1) = block_info[None]["array-location"]
        return fn(np.arange(l0, l1), np.arange(p0, p1))

    data = template.map_blocks(block, dtype="float32", meta=np.array((), dtype="float32"))
    return xr.DataArray(data, dims=("line", "pixel"), coords=burst_coords(geometry), name=name)


def _time_weights(vector_times: npt.NDArray[np.float64], times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(len(times), len(vector_times)) weights of linear interpolation in time, held constant beyond the ends."""
    t = np.clip(times, vector_times[0], vector_times[-1])
    i = np.clip(np.searchsorted(vector_times, t, side="right") - 1, 0, len(vector_times) - 2)
    span = vector_times[i + 1] - vector_times[i]
    f = np.where(span > 0, (t - vector_times[i]) / np.where(span > 0, span, 1), 0.0)
    weights = np.zeros((t.size, vector_times.size))
    rows = np.arange(t.size)
    weights[rows, i] = 1 - f
    weights[rows, i + 1] += f
    return weights


def _range_interp(
    pixels: npt.NDArray[np.int64], vector_pixels: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Each row of `values` (on `vector_pixels`) linearly interpolated at `pixels`."""
    return np.stack([np.interp(pixels, vector_pixels, row) for row in values])


def _calibration_fn(geometry: BurstGeometry, kind: str) -> BlockFn:
    """The LUT of `kind` on the outer grid of burst lines x pixels (fractional values allowed)."""
    if kind not in CALIBRATION_KINDS:
        raise InvalidInput(f"calibration kind {kind!r}: expected one of {', '.join(CALIBRATION_KINDS)}")
    table = _calibration_table(str(product_file(geometry.safe, geometry.swath, geometry.polarisation, "calibration")))
    vector_times = (table.azimuth_time.values - geometry.azimuth_time0) / ONE_SECOND
    vector_pixels = table.pixel.values
    values = table[CALIBRATION_KINDS[kind]].values.astype("float64")
    interval = geometry.azimuth_time_interval

    def block(lines: npt.NDArray[Any], pixels: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        weights = _time_weights(vector_times, np.asarray(lines, dtype="float64") * interval)
        return (weights @ _range_interp(pixels, vector_pixels, values)).astype("float32")

    return block


def calibration_at(
    geometry: BurstGeometry, kind: str, lines: npt.ArrayLike, pixels: npt.ArrayLike
) -> npt.NDArray[np.float32]:
    """The calibration LUT A of `kind` at burst lines x pixels (an outer grid, fractional values allowed)."""
    return _calibration_fn(geometry, kind)(np.atleast_1d(np.asarray(lines)), np.atleast_1d(np.asarray(pixels)))


def calibration_lut(
    safe: str | Path,
    swath: str,
    polarisation: str,
    burst_index: int,
    kind: str = "sigma0",
    *,
    chunks: dict[str, int] | None = None,
    geometry: BurstGeometry | None = None,
) -> xr.DataArray:
    """The calibration LUT A (amplitude units) of `kind` (sigma0, beta0, gamma0, dn) on the burst's (line, pixel)."""
    geometry = geometry or burst_geometry(safe, swath, polarisation, burst_index)
    out = _lazy_grid(_calibration_fn(geometry, kind), geometry, chunks, f"calibration_{kind}")
    out.attrs.update(kind=kind, description="calibration LUT A: x0 = |DN|^2 / A^2")
    return out


def _burst_range_vector(noise_range: xr.Dataset, geometry: BurstGeometry) -> npt.NDArray[np.float64]:
    """The noise range vector of the burst: the one whose time falls in it, else the nearest in time."""
    times = (noise_range.azimuth_time.values - geometry.azimuth_time0) / ONE_SECOND
    duration = geometry.lines * geometry.azimuth_time_interval
    inside = np.flatnonzero((times >= -1e-6) & (times < duration))
    i = int(inside[0]) if inside.size else int(np.argmin(np.abs(times - duration / 2)))
    return np.asarray(noise_range.noiseRangeLut.values[i], dtype="float64")


def _azimuth_blocks(
    noise_path: Path,
) -> list[tuple[int, int, int, int, npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
    """(first line, last line, first sample, last sample, lines, values) of each noise azimuth vector."""
    import xml.etree.ElementTree as ET

    root = ET.parse(noise_path).getroot()
    blocks = []
    for vector in root.iter("noiseAzimuthVector"):
        blocks.append(
            (
                int(vector.findtext("firstAzimuthLine") or 0),
                int(vector.findtext("lastAzimuthLine") or 0),
                int(vector.findtext("firstRangeSample") or 0),
                int(vector.findtext("lastRangeSample") or 0),
                np.array((vector.findtext("line") or "").split(), dtype="int64"),
                np.array((vector.findtext("noiseAzimuthLut") or "").split(), dtype="float64"),
            )
        )
    return blocks


def noise_lut(
    safe: str | Path,
    swath: str,
    polarisation: str,
    burst_index: int,
    *,
    chunks: dict[str, int] | None = None,
    geometry: BurstGeometry | None = None,
) -> xr.DataArray:
    """Thermal noise power (DN^2 units) on the burst's (line, pixel): range LUT x azimuth LUT (IPF >= 2.9).

    Products before IPF 2.9 have no azimuth vectors: the azimuth factor is then 1.
    """
    geometry = geometry or burst_geometry(safe, swath, polarisation, burst_index)
    path = product_file(safe, geometry.swath, geometry.polarisation, "noise")
    noise_range = _noise_range_table(str(path))
    range_vector = _burst_range_vector(noise_range, geometry)
    range_pixels = noise_range.pixel.values
    azimuth = _azimuth_blocks(path)

    def block(lines: npt.NDArray[np.int64], pixels: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        out = np.broadcast_to(np.interp(pixels, range_pixels, range_vector), (lines.size, pixels.size)).copy()
        if azimuth:
            factor = np.ones_like(out)
            swath_lines = lines + geometry.first_line
            for first_line, last_line, first_sample, last_sample, vlines, values in azimuth:
                rows = (swath_lines >= first_line) & (swath_lines <= last_line)
                cols = (pixels >= first_sample) & (pixels <= last_sample)
                if rows.any() and cols.any():
                    column = np.interp(swath_lines[rows], vlines, values)
                    factor[np.ix_(rows, cols)] = column[:, None]
            out *= factor
        return out.astype("float32")

    result = _lazy_grid(block, geometry, chunks, "noise")
    result.attrs.update(description="thermal noise power, subtract from |DN|^2 before calibration")
    return result


def calibrated_intensity(
    slc: xr.DataArray, calibration: xr.DataArray, noise: xr.DataArray | None = None, *, clip: bool = True
) -> xr.DataArray:
    """(|DN|^2 - noise) / A^2 (linear power); negative values after noise removal clipped to 0 when `clip`."""
    power = np.abs(slc).astype("float32") ** 2
    if noise is not None:
        power = power - noise
        if clip:
            power = power.clip(min=0.0)
    out = power / calibration.astype("float32") ** 2
    return cast(xr.DataArray, out).rename("intensity")


# -- terrain flattening ----------------------------------------------------------------------------
#
# Small (2011), "Flattening gamma: radiometric terrain correction for SAR imagery": the
# reference area of a radar pixel is the sum of the areas, projected on the plane normal to
# the look direction, of the ground facets that fall in it. Summing DEM facets into single
# radar pixels (2.3 m x 14 m) with a 30 m DEM leaves most pixels empty or holding one facet:
# sarsen's default grouping is +1.7 dB off for that reason. Here the facets of a DEM at least
# 3x finer than the output are summed into radar *bins* of several lines x samples whose
# ground size is about the output's pixel, with bilinear weights, so each bin collects many
# facets and a flat DEM gives cot(theta) exactly up to sampling.

LAYOVER = 1  # mask bits
SHADOW = 2
NODATA_MASK = 255


@dataclass(frozen=True)
class Bins:
    """Radar bins: `lines` x `samples` burst samples each; bin (i, j) starts at line i*lines, pixel j*samples."""

    lines: int
    samples: int

    def of(self, line: npt.NDArray[np.float64], pixel: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], ...]:
        """Fractional bin coordinates whose integer values are bin centres."""
        return line / self.lines - 0.5, pixel / self.samples - 0.5


def look_bins(geometry: BurstGeometry, resolution_m: float) -> Bins:
    """Bins whose ground size is about `resolution_m` (ground range spacing at mid-swath incidence)."""
    ground_range = geometry.range_pixel_spacing / np.sin(np.deg2rad(geometry.incidence_angle_mid_swath))
    return Bins(
        max(1, round(resolution_m / geometry.azimuth_pixel_spacing)), max(1, round(resolution_m / ground_range))
    )


@dataclass(frozen=True)
class Facets:
    """Per DEM point (arrays of the DEM's shape): where it images and how it is lit."""

    line: npt.NDArray[np.float64]  # burst-local fractional line
    pixel: npt.NDArray[np.float64]  # fractional swath sample
    gamma_area: npt.NDArray[np.float64]  # projected area / (slant range spacing x ground azimuth spacing)
    incidence: npt.NDArray[np.float64]  # ellipsoid incidence angle, degrees
    local_incidence: npt.NDArray[np.float64]  # between the facet normal and the look vector, degrees
    layover: npt.NDArray[np.bool_]  # the facet faces the sensor more steeply than the incidence
    shadow: npt.NDArray[np.bool_]  # the facet faces away from the sensor, or is hidden by nearer terrain
    slant_range: npt.NDArray[np.float64]  # m


def _grid_ecef(dem: xr.DataArray) -> npt.NDArray[np.float64]:
    crs = str(dem.odc.crs)
    x, y = np.meshgrid(dem.x.values, dem.y.values)
    return map_to_ecef(x, y, dem.values, crs)


def _area_vectors(ecef: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Outward area vector (m^2) of the DEM cell around each point: the cross product of its two grid tangents."""
    d_y = np.gradient(ecef, axis=0)
    d_x = np.gradient(ecef, axis=1)
    area = np.cross(d_x, d_y)
    outward = np.sign(np.sum(area * ecef, axis=-1, keepdims=True))
    return np.asarray(area * outward, dtype="float64")


def _ground_azimuth_spacing(
    geometry: BurstGeometry, ecef: npt.NDArray[np.float64], radar: RadarCoordinates
) -> npt.NDArray[np.float64]:
    """Ground distance (m) between lines at each point: how fast the zero-Doppler plane sweeps it.

    The plane through the satellite S normal to its velocity V moves at the point P at
    |V| - (P - S).A / |V| (A: the orbit's acceleration, ECEF), i.e. slower than the satellite
    by the ratio of the radii for a circular orbit.
    """
    orbit = geometry.orbit
    flat_times = xr.DataArray(radar.azimuth_time.ravel(), dims="point", name="azimuth_time")
    acceleration = orbit.acceleration(flat_times).transpose("point", "axis").values.reshape(ecef.shape)
    velocity = radar.satellite_velocity
    speed = np.linalg.norm(velocity, axis=-1)
    sweep = speed - np.sum((ecef - radar.satellite_position) * acceleration, axis=-1) / speed
    return np.asarray(sweep * geometry.azimuth_time_interval, dtype="float64")


def _seed_times(geometry: BurstGeometry, ecef: npt.NDArray[np.float64], step: int = 16) -> npt.NDArray[np.datetime64]:
    """Zero-Doppler times solved on every `step`-th point and interpolated: Newton then needs one or two steps."""
    ny, nx = ecef.shape[:2]
    rows = np.unique(np.append(np.arange(0, ny, step), ny - 1))
    cols = np.unique(np.append(np.arange(0, nx, step), nx - 1))
    coarse = backward_geocode_points(geometry, ecef[np.ix_(rows, cols)]).azimuth_time
    seconds = (coarse - geometry.azimuth_time0) / ONE_SECOND
    if rows.size < 2 or cols.size < 2:
        fine = np.full((ny, nx), float(np.mean(seconds)))
    else:
        from scipy.interpolate import RegularGridInterpolator

        interp = RegularGridInterpolator((rows, cols), seconds, method="linear")
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        fine = interp(np.stack([yy.ravel(), xx.ravel()], axis=-1)).reshape(ny, nx)
    return np.asarray(geometry.azimuth_time0 + np.round(fine * 1e9).astype("timedelta64[ns]"), dtype="datetime64[ns]")


def terrain_facets(geometry: BurstGeometry, dem: xr.DataArray) -> Facets:
    """Backward-geocode every point of `dem` (ellipsoidal heights, projected grid) and measure its facet.

    Shadow is active (the facet faces away) or passive (hidden by nearer terrain, `_hidden`).
    """
    ecef = _grid_ecef(dem)
    finite: npt.NDArray[np.bool_] = np.asarray(np.isfinite(ecef).all(axis=-1))
    ecef = np.where(finite[..., None], ecef, 0.0)
    radar = backward_geocode_points(geometry, ecef, guess=_seed_times(geometry, ecef))
    area = _area_vectors(ecef)
    area_norm = np.linalg.norm(area, axis=-1)
    normal = area / np.where(area_norm > 0, area_norm, 1)[..., None]
    projected = np.sum(area * radar.look, axis=-1)
    spacing = _ground_azimuth_spacing(geometry, ecef, radar)
    gamma_area = np.where(finite, np.clip(projected, 0, None) / (geometry.range_pixel_spacing * spacing), np.nan)
    up = ellipsoid_normal(ecef)
    incidence = np.rad2deg(np.arccos(np.clip(np.sum(up * radar.look, axis=-1), -1, 1)))
    # Signed local incidence in the range plane: slope towards the sensor (alpha) against theta.
    away = -(radar.look - np.sum(radar.look * up, axis=-1, keepdims=True) * up)
    away /= np.linalg.norm(away, axis=-1, keepdims=True)
    alpha = np.rad2deg(np.arctan2(-np.sum(normal * away, axis=-1), np.sum(normal * up, axis=-1)))
    range_plane_incidence = incidence - alpha
    layover = finite & (range_plane_incidence < 0)
    shadow = finite & ((range_plane_incidence > 90) | (projected <= 0))
    dem_spacing = float(np.abs(dem.x.values[1] - dem.x.values[0])) if dem.sizes["x"] > 1 else 1.0
    shadow |= finite & _hidden(ecef, radar, dem_spacing)
    return Facets(
        line=np.where(finite, radar.line, np.nan),
        pixel=np.where(finite, radar.pixel, np.nan),
        gamma_area=gamma_area,
        incidence=incidence,
        local_incidence=np.rad2deg(np.arccos(np.clip(np.sum(normal * radar.look, axis=-1), -1, 1))),
        layover=layover,
        shadow=shadow,
        slant_range=radar.slant_range,
    )


def _hidden(ecef: npt.NDArray[np.float64], radar: RadarCoordinates, tolerance_m: float) -> npt.NDArray[np.bool_]:
    """Ray-traced shadow: along each radar line, a point whose look angle is below that of a point nearer the sensor.

    Nearer in ground range means a smaller angle, at the Earth's centre, between the point and
    the satellite. On lit terrain the look angle grows with ground range, so nothing is flagged.
    A radar line holds points a few metres apart along track: the slope across it tilts their
    look angles, so a point counts as hidden only when it lies `tolerance_m` (one DEM spacing)
    below the grazing ray.
    """
    position = radar.satellite_position
    nadir = -position / np.linalg.norm(position, axis=-1, keepdims=True)
    look_angle = np.arccos(np.clip(np.sum(-radar.look * nadir, axis=-1), -1, 1))
    unit = ecef / np.linalg.norm(ecef, axis=-1, keepdims=True)
    ground = np.arccos(np.clip(np.sum(unit * -nadir, axis=-1), -1, 1))
    finite = np.isfinite(radar.line)
    row = np.where(finite, np.floor(np.where(finite, radar.line, 0)), 0).ravel()
    order = np.lexsort((ground.ravel(), row))
    rank = np.unique(row[order], return_inverse=True)[1]
    stacked = look_angle.ravel()[order] + 10.0 * rank  # rows apart: a running maximum never leaks between rows
    before = np.maximum.accumulate(np.concatenate([[-np.inf], stacked[:-1]]))
    hidden = np.zeros(row.size, dtype=bool)
    epsilon = tolerance_m / radar.slant_range.ravel()[order]
    hidden[order] = stacked < before - epsilon
    return hidden.reshape(look_angle.shape) & finite


@dataclass(frozen=True)
class BinGrid:
    """Values summed on radar bins: bin (i, j) of `values` is bin (i0 + i, j0 + j) of the burst."""

    i0: int
    j0: int
    values: npt.NDArray[np.float64]

    def sample(self, u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Bilinear interpolation at fractional bin coordinates (NaN outside)."""
        from scipy.ndimage import map_coordinates

        out = map_coordinates(self.values, [u - self.i0, v - self.j0], order=1, mode="constant", cval=np.nan)
        inside = np.isfinite(u) & np.isfinite(v)
        return np.where(inside, out, np.nan)


def _splat(u: npt.NDArray[np.float64], v: npt.NDArray[np.float64], weight: npt.NDArray[np.float64]) -> BinGrid:
    """Sum `weight` into bins with bilinear weights (the transpose of bilinear sampling)."""
    ok = np.isfinite(u) & np.isfinite(v) & np.isfinite(weight)
    u, v, weight = u[ok], v[ok], weight[ok]
    i, j = np.floor(u).astype("int64"), np.floor(v).astype("int64")
    fu, fv = u - i, v - j
    i0, j0 = int(i.min()), int(j.min())
    shape = (int(i.max()) - i0 + 2, int(j.max()) - j0 + 2)
    total = np.zeros(shape)
    for di, wi in ((0, 1 - fu), (1, fu)):
        for dj, wj in ((0, 1 - fv), (1, fv)):
            np.add.at(total, (i - i0 + di, j - j0 + dj), weight * wi * wj)
    return BinGrid(i0, j0, total)


def normalised_gamma_area(facets: Facets, bins: Bins) -> BinGrid:
    """Per radar bin: the facets' gamma areas over the bin's beta reference area (flat terrain: cot theta)."""
    u, v = bins.of(facets.line, facets.pixel)
    summed = _splat(u, v, facets.gamma_area)
    return BinGrid(summed.i0, summed.j0, summed.values / (bins.lines * bins.samples))


def layover_shadow_mask(facets: Facets, bins: Bins) -> npt.NDArray[np.uint8]:
    """LAYOVER | SHADOW bits per DEM point; passive layover: every point of a bin holding a layover facet."""
    u, v = bins.of(facets.line, facets.pixel)
    i, j = np.round(u), np.round(v)
    mask = np.where(facets.shadow, SHADOW, 0).astype("uint8")
    ok = np.isfinite(i) & np.isfinite(j)
    if (facets.layover & ok).any():
        i0, j0 = int(i[ok].min()), int(j[ok].min())
        width = int(j[ok].max()) - j0 + 1
        keys = np.where(ok, (i - i0) * width + (j - j0), -1).astype("int64")
        passive = ok & np.isin(keys, np.unique(keys[facets.layover & ok]))
        mask |= np.where(passive | facets.layover, LAYOVER, 0).astype("uint8")
    return mask
