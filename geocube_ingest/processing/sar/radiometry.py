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
from pathlib import Path

import dask.array as darr
import numpy as np
import numpy.typing as npt
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

CALIBRATION_KINDS = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma", "dn": "dn"}

BlockFn = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.float32]]


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
    if kind not in CALIBRATION_KINDS:
        raise InvalidInput(f"calibration kind {kind!r}: expected one of {', '.join(CALIBRATION_KINDS)}")
    geometry = geometry or burst_geometry(safe, swath, polarisation, burst_index)
    table = xs1.open_calibration_dataset(str(product_file(safe, geometry.swath, geometry.polarisation, "calibration")))
    vector_times = (table.azimuth_time.values - geometry.azimuth_time0) / ONE_SECOND
    vector_pixels = table.pixel.values
    values = table[CALIBRATION_KINDS[kind]].values.astype("float64")
    interval = geometry.azimuth_time_interval

    def block(lines: npt.NDArray[np.int64], pixels: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        weights = _time_weights(vector_times, lines * interval)
        return (weights @ _range_interp(pixels, vector_pixels, values)).astype("float32")

    out = _lazy_grid(block, geometry, chunks, f"calibration_{kind}")
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
    noise_range = xs1.open_noise_range_dataset(str(path))
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
    return out.rename("intensity")
