"""Forward model of Sentinel-1 TOPS SLC bursts over a DEM: synthetic measurements with known truth.

There are no real SLC pixels offline, so the demo and the tests write bursts whose gamma0,
coherence and interferometric phase are known, on real annotations and orbits.

The model, for acquisitions k = 0 (reference) ... K of the same burst, over a DEM:

- every DEM node is backward-geocoded with each acquisition's orbit (`geocoding`), which maps
  each acquisition's (line, pixel) to the reference's (line0, pixel0) and to the ground (x, y);
- the scene is band-limited circular-Gaussian speckle at baseband on the reference grid:
  z (shared) and n_k (one per acquisition), white noise filtered to the annotation's
  processing bandwidths and Hamming windows, generated 2x oversampled so that it can be
  evaluated at any fractional position with negligible error (kernel on a 2x oversampled band);
- b_k = sqrt(rho) z + sqrt(1 - rho) n_k, so that the coherence of any two dates is rho(x, y);
- s_k(line, pixel) = sqrt(P(x, y)) * exp(j psi_0(line0, pixel0)) * b_k(line0, pixel0)
                     * exp(-j 4 pi / lambda (R_k - R_0)) * exp(-j screen_k(x, y))
  where psi_0 is the reference burst's TOPS ramp (`tops`): a ground point keeps the phase
  its scatterers have in the reference burst, while every acquisition sees it through its own
  sampling and ramp (the ramp is a modulation around each target, not a per-target phase);
  R_k is the slant range of the point from acquisition k; screen_k is the interferometric
  phase (reference minus k) the chain must return after removing the geometry;
- P = gamma0 * scale: expected |DN|^2; `scale` is the caller's calibration (e.g. the gamma0
  LUT squared, A_gamma^2, so that `radiometry.calibrated_intensity(..., gamma0 LUT)` returns gamma0).

It shares the chain's geometry (orbits, backward geocoding) and ramp model: it tests that the
chain inverts them consistently, not that they match ESA's processor.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import xarray as xr
import xarray_sentinel.sentinel1 as xs1
from odc.geo.geobox import GeoBox

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.burst import SPEED_OF_LIGHT, BurstGeometry, fit_orbit, product_file
from geocube_ingest.processing.sar.coherence import RadarModel, RadarWindow, dem_nodes, sample_map
from geocube_ingest.processing.sar.geocoding import RadarCoordinates, backward_geocode_points
from geocube_ingest.processing.sar.resample import interpolate
from geocube_ingest.processing.sar.tops import tops_ramp

OVERSAMPLE = 2
_PAD = 16  # samples of field beyond the reference window on each side (kernel support, mapping slack)
_FIELD_TAPS = (8, 8)  # on a 2x oversampled band the short kernel is exact to ~1e-4


@dataclass(frozen=True)
class Bandwidth:
    """Processed bandwidth as a fraction of the sampling rate, and the Hamming coefficient, per axis."""

    azimuth: float
    azimuth_hamming: float
    range: float
    range_hamming: float


def processing_bandwidth(geometry: BurstGeometry) -> Bandwidth:
    """The annotation's azimuth and range processing bandwidths and windows for the burst's swath."""
    root = ET.parse(product_file(geometry.safe, geometry.swath, geometry.polarisation, "annotation")).getroot()
    params = root.find("imageAnnotation/processingInformation/swathProcParamsList/swathProcParams")
    if params is None:
        raise InvalidInput(f"{geometry.safe}: annotation has no swathProcParams")

    def value(path: str) -> float:
        text = params.findtext(path)
        if text is None:
            raise InvalidInput(f"{geometry.safe}: annotation has no {path}")
        return float(text)

    prf = 1.0 / geometry.azimuth_time_interval
    return Bandwidth(
        azimuth=value("azimuthProcessing/processingBandwidth") / prf,
        azimuth_hamming=value("azimuthProcessing/windowCoefficient"),
        range=value("rangeProcessing/processingBandwidth") / geometry.range_sampling_rate,
        range_hamming=value("rangeProcessing/windowCoefficient"),
    )


def _hamming(freq: npt.NDArray[np.float64], band: float, alpha: float) -> npt.NDArray[np.float64]:
    inside = np.abs(freq) <= band / 2
    return np.where(inside, alpha + (1 - alpha) * np.cos(2 * np.pi * freq / band), 0.0)


def speckle_field(
    shape: tuple[int, int], bandwidth: Bandwidth, rng: np.random.Generator, oversample: int = OVERSAMPLE
) -> npt.NDArray[np.complex64]:
    """Band-limited circular-Gaussian field, E|z|^2 = 1, sampled `oversample` times finer than `shape`.

    Its samples [::oversample, ::oversample] are the field on the native grid.
    """
    n, m = shape
    white = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    fa = np.asarray(np.fft.fftfreq(n), dtype="float64")
    fr = np.asarray(np.fft.fftfreq(m), dtype="float64")
    weight = np.outer(
        _hamming(fa, bandwidth.azimuth, bandwidth.azimuth_hamming),
        _hamming(fr, bandwidth.range, bandwidth.range_hamming),
    )
    spectrum = np.fft.fft2(white) * weight / np.sqrt(2.0 * np.mean(weight**2))
    big = np.zeros((n * oversample, m * oversample), dtype="complex128")
    ia = np.round(fa * n).astype(int) % (n * oversample)
    ir = np.round(fr * m).astype(int) % (m * oversample)
    big[np.ix_(ia, ir)] = spectrum
    return np.asarray(np.fft.ifft2(big) * oversample**2, dtype="complex64")


def shift_orbit(geometry: BurstGeometry, cross_track_m: float, along_track_m: float = 0.0) -> BurstGeometry:
    """The burst seen from an orbit moved across track (along the orbit normal r x v) and along track.

    The annotation's state vectors are displaced and refitted: the second orbit of a pair
    with a known perpendicular baseline.
    """
    from dataclasses import replace

    orbit = xs1.open_orbit_dataset(
        str(product_file(geometry.safe, geometry.swath, geometry.polarisation, "annotation"))
    )
    position = orbit.position.transpose("azimuth_time", "axis").values
    velocity = orbit.velocity.transpose("azimuth_time", "axis").values
    normal = np.cross(position, velocity)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    along = velocity / np.linalg.norm(velocity, axis=1, keepdims=True)
    moved = position + cross_track_m * normal + along_track_m * along
    shifted = orbit.copy()
    shifted["position"] = (("azimuth_time", "axis"), moved)
    shifted["position"] = shifted.position.transpose(*orbit.position.dims)
    return replace(geometry, orbit=fit_orbit(shifted))


@dataclass(frozen=True)
class _Mapping:
    """Positions of one acquisition's window in the reference burst, and on the ground."""

    window: RadarWindow
    line0: npt.NDArray[np.float64]
    pixel0: npt.NDArray[np.float64]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]


def _window_of(coords: RadarCoordinates, inside: npt.NDArray[np.bool_], geometry: BurstGeometry) -> RadarWindow:
    lines, pixels = coords.line[inside], coords.pixel[inside]
    line0 = max(int(np.ceil(lines.min())), 0)
    pixel0 = max(int(np.ceil(pixels.min())), 0)
    line1 = min(int(np.floor(lines.max())), geometry.lines - 1)
    pixel1 = min(int(np.floor(pixels.max())), geometry.samples - 1)
    if line1 < line0 or pixel1 < pixel0:
        raise InvalidInput(f"burst {geometry.burst_index} of {geometry.safe} does not see the area")
    return RadarWindow(line0, pixel0, line1 - line0 + 1, pixel1 - pixel0 + 1)


def _mapping(
    coords: RadarCoordinates,
    reference: RadarCoordinates,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    window: RadarWindow,
) -> _Mapping:
    values = np.stack([reference.line, reference.pixel, x, y], axis=-1)
    mapped = RadarModel.fit(coords.line, coords.pixel, values, window)(window)
    return _Mapping(window, mapped[..., 0], mapped[..., 1], mapped[..., 2], mapped[..., 3])


def _on_ground(
    value: float | xr.DataArray, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    if isinstance(value, xr.DataArray):
        return sample_map(value, x, y)
    return np.full(x.shape, float(value))


def simulate_stack(
    geometries: Sequence[BurstGeometry],
    dem: xr.DataArray,
    area: GeoBox,
    *,
    coherence: float | xr.DataArray = 1.0,
    phase_screens: Sequence[float | xr.DataArray] | None = None,
    gamma0: float | xr.DataArray = 1.0,
    scales: Sequence[float | npt.NDArray[np.float64]] | None = None,
    seed: int = 0,
) -> list[xr.DataArray]:
    """Complex bursts (complex64, dims line/pixel, burst-local coords) of every acquisition over `area`.

    `geometries[0]` is the reference. `coherence`, `phase_screens[k]` (rad, reference minus
    k; entry 0 is ignored) and `gamma0` are numbers or maps in the DEM's CRS. `scales[k]`
    multiplies gamma0 into expected |DN|^2 (a number or an array on acquisition k's window, see
    the module doc). Each burst covers the area's footprint in its own geometry.
    """
    if not geometries:
        raise InvalidInput("simulate_stack: at least one burst geometry is needed")
    screens = list(phase_screens) if phase_screens is not None else [0.0] * len(geometries)
    if len(screens) != len(geometries):
        raise InvalidInput("simulate_stack: one phase screen per acquisition (the first is ignored)")
    ecef, x, y = dem_nodes(dem, area)
    coords = [backward_geocode_points(g, ecef) for g in geometries]
    inside = _inside(x, y, area)
    ref = coords[0]
    ref_window = _window_of(ref, inside, geometries[0])
    field_window = ref_window.expanded(_PAD, _PAD)
    bandwidth = processing_bandwidth(geometries[0])
    rng = np.random.default_rng(seed)
    shape = (field_window.lines, field_window.pixels)
    common = speckle_field(shape, bandwidth, rng)
    ramp0 = tops_ramp(geometries[0])
    wavelength = geometries[0].wavelength
    out = []
    for k, (geometry, coord) in enumerate(zip(geometries, coords, strict=True)):
        own = speckle_field(shape, bandwidth, rng)
        window = ref_window if k == 0 else _window_of(coord, inside, geometry)
        mapping = _mapping(coord, ref, x, y, window)
        fl = (mapping.line0 - field_window.line0) * OVERSAMPLE
        fp = (mapping.pixel0 - field_window.pixel0) * OVERSAMPLE
        rho = np.clip(_on_ground(coherence, mapping.x, mapping.y), 0.0, 1.0)
        speckle = np.sqrt(rho) * interpolate(common, fl, fp, taps=_FIELD_TAPS)
        speckle += np.sqrt(1.0 - rho) * interpolate(own, fl, fp, taps=_FIELD_TAPS)
        _, pixels = window.grid()
        range_k = geometry.slant_range_time(pixels) * SPEED_OF_LIGHT / 2
        range_0 = geometries[0].slant_range_time(mapping.pixel0) * SPEED_OF_LIGHT / 2
        phase = ramp0.phase(mapping.line0, mapping.pixel0) - 4 * np.pi / wavelength * (range_k - range_0)
        if k > 0:
            phase -= _on_ground(screens[k], mapping.x, mapping.y)
        power = _on_ground(gamma0, mapping.x, mapping.y) * (1.0 if scales is None else np.asarray(scales[k]))
        data = np.sqrt(power) * speckle * np.exp(1j * phase)
        data = np.where(np.isfinite(data), data, 0.0).astype("complex64")
        out.append(_as_burst(data, window, geometry))
    return out


def _inside(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], area: GeoBox) -> npt.NDArray[np.bool_]:
    box = area.extent.boundingbox
    return np.asarray((x >= box.left) & (x <= box.right) & (y >= box.bottom) & (y <= box.top))


def _as_burst(data: npt.NDArray[np.complex64], window: RadarWindow, geometry: BurstGeometry) -> xr.DataArray:
    line = np.arange(window.line0, window.line0 + window.lines)
    pixel = np.arange(window.pixel0, window.pixel0 + window.pixels)
    out = xr.DataArray(
        data,
        dims=("line", "pixel"),
        coords={
            "line": line,
            "pixel": pixel,
            "azimuth_time": ("line", geometry.azimuth_time(line)),
            "slant_range_time": ("pixel", geometry.slant_range_time(pixel)),
        },
        name="slc",
    )
    out.attrs.update(swath=geometry.swath, polarisation=geometry.polarisation, burst_index=geometry.burst_index)
    return out
