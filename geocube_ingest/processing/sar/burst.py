"""One burst of a Sentinel-1 TOPS SLC swath: its timing, orbit, TOPS polynomials and pixels.

The product-level values come from the swath's annotation XML (read with the standard library:
the fixtures have no measurement, which xarray-sentinel's `IW1/VV` group needs); the tables
(orbit, FM rate, Doppler centroid) come from xarray-sentinel's readers of the same file.

Conventions used everywhere in `sar`:
- `line` is burst-local (0 … lines-1), `pixel` is the swath sample (0 … samples-1);
- azimuth times are zero-Doppler UTC `datetime64[ns]`, slant range times are two-way seconds;
- the burst's line `i` is at `azimuth_time0 + i * azimuth_time_interval`, its pixel `j` at
  `slant_range_time0 + j / range_sampling_rate`.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xarray as xr
import xarray_sentinel.sentinel1 as xs1
from rasterio.errors import NotGeoreferencedWarning
from sarsen.orbit import OrbitPolyfitInterpolator
from shapely.geometry import Polygon

from geocube_ingest.errors import InvalidInput, NotFound

SPEED_OF_LIGHT = 299_792_458.0  # m/s
ONE_SECOND = np.timedelta64(1_000_000_000, "ns")
_SWATH = re.compile(r"^(IW[1-3]|EW[1-5]|S[1-6])$")
_POLARISATION = re.compile(r"^(VV|VH|HH|HV)$")
DEFAULT_CHUNKS = {"line": 512, "pixel": 4096}


@dataclass(frozen=True)
class Polynomial:
    """An annotation range polynomial `sum c_k (tau - t0)^k` valid around `azimuth_time`.

    `t0` and tau are two-way slant range times (s); the unit of the value is the table's
    (Hz for the Doppler centroid, Hz/s for the azimuth FM rate).
    """

    azimuth_time: np.datetime64
    t0: float
    coefficients: tuple[float, ...]

    def __call__(self, slant_range_time: npt.ArrayLike) -> npt.NDArray[np.float64]:
        tau = np.asarray(slant_range_time, dtype="float64") - self.t0
        return np.asarray(np.polynomial.polynomial.polyval(tau, np.asarray(self.coefficients)), dtype="float64")


@dataclass(frozen=True, eq=False)
class BurstGeometry:
    """What the geometry, calibration and TOPS deramping of one burst need (units in names or comments)."""

    safe: str  # the product folder (local path) the burst comes from
    mission: str  # S1A, S1B, S1C
    swath: str  # IW1...
    polarisation: str  # VV...
    burst_index: int  # 0-based position in the swath
    burst_id: int | None  # ESA relative burst id (IPF >= 3.40), else None
    first_line: int  # line of the burst's first line in the swath measurement TIFF
    lines: int  # lines per burst
    samples: int  # samples per burst (= swath samples)
    azimuth_time0: np.datetime64  # zero-Doppler time of the first line, datetime64[ns] UTC
    azimuth_time_interval: float  # s between lines
    slant_range_time0: float  # two-way s of sample 0
    range_sampling_rate: float  # Hz
    radar_frequency: float  # Hz
    azimuth_steering_rate: float  # rad/s (the annotation gives deg/s)
    range_pixel_spacing: float  # m, slant range (c / 2 / range_sampling_rate)
    azimuth_pixel_spacing: float  # m, on ground at scene centre (annotation, informative)
    incidence_angle_mid_swath: float  # degrees
    pass_direction: str  # ASCENDING / DESCENDING
    orbit: OrbitPolyfitInterpolator  # fitted on the annotation's state vectors (ECEF m)
    azimuth_fm_rate: Polynomial  # Hz/s, the estimate nearest the burst's mid time
    doppler_centroid: Polynomial  # Hz, data Doppler centroid nearest the burst's mid time
    geometry_doppler_centroid: Polynomial  # Hz, geometric Doppler centroid of the same estimate
    first_valid_sample: npt.NDArray[np.int64] = field(repr=False)  # per line, -1 for an invalid line
    last_valid_sample: npt.NDArray[np.int64] = field(repr=False)  # per line, -1 for an invalid line
    footprint: Polygon = field(repr=False)  # lon/lat from the geolocation grid (EPSG:4326)

    @property
    def wavelength(self) -> float:
        """Radar wavelength (m)."""
        return SPEED_OF_LIGHT / self.radar_frequency

    @property
    def slant_range_time_interval(self) -> float:
        """Two-way seconds between samples."""
        return 1.0 / self.range_sampling_rate

    @property
    def azimuth_time_mid(self) -> np.datetime64:
        return self.azimuth_time0 + _seconds(self.azimuth_time_interval * (self.lines - 1) / 2)

    @property
    def valid_lines(self) -> tuple[int, int]:
        """First and last burst line with valid samples (inclusive)."""
        good = np.flatnonzero(self.first_valid_sample >= 0)
        return int(good[0]), int(good[-1])

    def azimuth_time(self, line: npt.ArrayLike) -> npt.NDArray[np.datetime64]:
        """Zero-Doppler time of burst line(s) (fractional lines allowed)."""
        offset = np.asarray(line, dtype="float64") * self.azimuth_time_interval * 1e9
        return self.azimuth_time0 + np.round(offset).astype("timedelta64[ns]")

    def slant_range_time(self, pixel: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Two-way slant range time (s) of sample(s)."""
        return self.slant_range_time0 + np.asarray(pixel, dtype="float64") / self.range_sampling_rate

    def line_of(self, azimuth_time: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Burst-local fractional line of zero-Doppler time(s)."""
        delta = (np.asarray(azimuth_time, dtype="datetime64[ns]") - self.azimuth_time0) / ONE_SECOND
        return np.asarray(delta / self.azimuth_time_interval, dtype="float64")

    def pixel_of(self, slant_range_time: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Fractional sample of two-way slant range time(s)."""
        return (np.asarray(slant_range_time, dtype="float64") - self.slant_range_time0) * self.range_sampling_rate


def _seconds(value: float) -> np.timedelta64:
    return np.timedelta64(round(value * 1e9), "ns")


# -- files of a product --------------------------------------------------------------------------


def check_swath(swath: str, polarisation: str) -> tuple[str, str]:
    """Upper-case swath and polarisation, InvalidInput for anything else (they become file name parts)."""
    sw, pol = str(swath).upper(), str(polarisation).upper()
    if not _SWATH.match(sw):
        raise InvalidInput(f"swath {swath!r}: expected IW1-3, EW1-5 or S1-6")
    if not _POLARISATION.match(pol):
        raise InvalidInput(f"polarisation {polarisation!r}: expected VV, VH, HH or HV")
    return sw, pol


def product_file(safe: str | Path, swath: str, polarisation: str, kind: str) -> Path:
    """A swath's file: kind is "annotation", "calibration", "noise" or "measurement"."""
    sw, pol = check_swath(swath, polarisation)
    root = Path(safe)
    stem = f"s1?-{sw.lower()}-slc-{pol.lower()}-*"
    folder, pattern = {
        "annotation": ("annotation", f"{stem}.xml"),
        "calibration": ("annotation/calibration", f"calibration-{stem}.xml"),
        "noise": ("annotation/calibration", f"noise-{stem}.xml"),
        "measurement": ("measurement", f"{stem}.tiff"),
    }[kind]
    found = sorted((root / folder).glob(pattern))
    if not found:
        raise NotFound(f"{root.name}: no {kind} file for {sw} {pol} (looked for {folder}/{pattern})")
    return found[0]


@lru_cache(maxsize=16)
def _annotation_root(path: str) -> ET.Element:
    return ET.parse(path).getroot()


def _text(root: ET.Element, path: str) -> str:
    value = root.findtext(path)
    if value is None:
        raise InvalidInput(f"annotation has no {path}")
    return value


def _floats(text: str | None) -> npt.NDArray[np.float64]:
    return np.array((text or "").split(), dtype="float64")


def _bursts(root: ET.Element) -> list[ET.Element]:
    return root.findall("swathTiming/burstList/burst")


def burst_count(safe: str | Path, swath: str, polarisation: str) -> int:
    """Number of bursts of a swath (from its annotation)."""
    root = _annotation_root(str(product_file(safe, swath, polarisation, "annotation")))
    return len(_bursts(root))


# -- geometry ----------------------------------------------------------------------------------


def fit_orbit(orbit: xr.Dataset, deg: int = 5) -> OrbitPolyfitInterpolator:
    """sarsen's polynomial orbit on xarray-sentinel's state vectors (positions in ECEF m).

    Its derivative polynomials are cached properties computed on first use: they are computed
    here, once, so that threads sharing the orbit never race to fill them.
    """
    fitted = OrbitPolyfitInterpolator.from_position(orbit.position, deg=deg)
    _ = fitted.velocity_coefficients, fitted.acceleration_coefficients
    return fitted


def _nearest_polynomial(
    times: npt.NDArray[np.datetime64],
    t0: npt.NDArray[np.float64],
    coefficients: npt.NDArray[np.float64],
    at: np.datetime64,
) -> Polynomial:
    i = int(np.argmin(np.abs((times - at) / ONE_SECOND)))
    return Polynomial(times[i], float(t0[i]), tuple(float(c) for c in coefficients[i]))


def _footprint(gcp: xr.Dataset, azimuth_start: np.datetime64, azimuth_stop: np.datetime64) -> Polygon:
    """Burst polygon: the geolocation grid's columns interpolated (linearly in time) at the burst's first and
    last valid lines, extrapolated from the nearest grid rows when the burst overlaps the next one."""
    times = (gcp.azimuth_time.values - azimuth_start) / ONE_SECOND
    ends = np.array([0.0, (azimuth_stop - azimuth_start) / ONE_SECOND])
    rings = []
    for t in ends:
        i = int(np.clip(np.searchsorted(times, t) - 1, 0, times.size - 2))
        f = (t - times[i]) / (times[i + 1] - times[i])
        lon = (1 - f) * gcp.longitude.values[i] + f * gcp.longitude.values[i + 1]
        lat = (1 - f) * gcp.latitude.values[i] + f * gcp.latitude.values[i + 1]
        rings.append(list(zip(lon.tolist(), lat.tolist(), strict=True)))
    return Polygon(rings[0] + rings[1][::-1])


def _valid_times(
    burst: ET.Element, azimuth_time0: np.datetime64, interval: float, lines: int
) -> tuple[np.datetime64, np.datetime64]:
    """Zero-Doppler times of the burst's first and last lines with valid samples."""
    good = np.flatnonzero(_floats(burst.findtext("firstValidSample")) >= 0)
    first, last = (int(good[0]), int(good[-1])) if good.size else (0, lines - 1)
    return azimuth_time0 + _seconds(first * interval), azimuth_time0 + _seconds(last * interval)


@lru_cache(maxsize=8)
def _tables(annotation: str) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset, xr.Dataset]:
    """xarray-sentinel's FM rate, Doppler centroid, orbit and GCP tables (parsing is slow: ~0.5 s each)."""
    return (
        xs1.open_azimuth_fm_rate_dataset(annotation),
        xs1.open_dc_estimate_dataset(annotation),
        xs1.open_orbit_dataset(annotation),
        xs1.open_gcp_dataset(annotation),
    )


def burst_geometry(safe: str | Path, swath: str, polarisation: str, burst_index: int) -> BurstGeometry:
    """The geometry of burst `burst_index` (0-based) of a swath, from its annotation only."""
    sw, pol = check_swath(swath, polarisation)
    annotation = product_file(safe, sw, pol, "annotation")
    root = _annotation_root(str(annotation))
    bursts = _bursts(root)
    if not 0 <= burst_index < len(bursts):
        raise InvalidInput(f"burst index {burst_index}: {sw} {pol} has {len(bursts)} bursts (0-based)")
    burst = bursts[burst_index]
    lines = int(_text(root, "swathTiming/linesPerBurst"))
    azimuth_time_interval = float(_text(root, "imageAnnotation/imageInformation/azimuthTimeInterval"))
    azimuth_time0 = np.datetime64(_text(burst, "azimuthTime"), "ns")
    mid = azimuth_time0 + _seconds(azimuth_time_interval * (lines - 1) / 2)
    burst_id = burst.find("burstId")

    fm, dc, orbit, gcp = _tables(str(annotation))
    fm_rate = _nearest_polynomial(fm.azimuth_time.values, fm.t0.values, fm.azimuth_fm_rate_polynomial.values, mid)
    dc_times, dc_t0 = dc.azimuth_time.values, dc.t0.values
    data_dc = _nearest_polynomial(dc_times, dc_t0, dc.data_dc_polynomial.values, mid)
    geometry_dc = _nearest_polynomial(dc_times, dc_t0, dc.geometry_dc_polynomial.values, mid)
    range_sampling_rate = float(_text(root, "generalAnnotation/productInformation/rangeSamplingRate"))
    return BurstGeometry(
        safe=str(safe),
        mission=_text(root, "adsHeader/missionId"),
        swath=sw,
        polarisation=pol,
        burst_index=burst_index,
        burst_id=int(burst_id.text) if burst_id is not None and burst_id.text else None,
        first_line=burst_index * lines,
        lines=lines,
        samples=int(_text(root, "swathTiming/samplesPerBurst")),
        azimuth_time0=azimuth_time0,
        azimuth_time_interval=azimuth_time_interval,
        slant_range_time0=float(_text(root, "imageAnnotation/imageInformation/slantRangeTime")),
        range_sampling_rate=range_sampling_rate,
        radar_frequency=float(_text(root, "generalAnnotation/productInformation/radarFrequency")),
        azimuth_steering_rate=np.deg2rad(
            float(_text(root, "generalAnnotation/productInformation/azimuthSteeringRate"))
        ),
        range_pixel_spacing=SPEED_OF_LIGHT / 2 / range_sampling_rate,
        azimuth_pixel_spacing=float(_text(root, "imageAnnotation/imageInformation/azimuthPixelSpacing")),
        incidence_angle_mid_swath=float(_text(root, "imageAnnotation/imageInformation/incidenceAngleMidSwath")),
        pass_direction=_text(root, "generalAnnotation/productInformation/pass").upper(),
        orbit=fit_orbit(orbit),
        azimuth_fm_rate=fm_rate,
        doppler_centroid=data_dc,
        geometry_doppler_centroid=geometry_dc,
        first_valid_sample=_floats(burst.findtext("firstValidSample")).astype("int64"),
        last_valid_sample=_floats(burst.findtext("lastValidSample")).astype("int64"),
        footprint=_footprint(gcp, *_valid_times(burst, azimuth_time0, azimuth_time_interval, lines)),
    )


# -- pixels --------------------------------------------------------------------------------------


def burst_coords(geometry: BurstGeometry) -> dict[str, tuple[str, npt.NDArray[np.generic]]]:
    """Coordinates of a burst array on (line, pixel): burst-local line, swath pixel, their times."""
    line = np.arange(geometry.lines)
    pixel = np.arange(geometry.samples)
    return {
        "line": ("line", line),
        "pixel": ("pixel", pixel),
        "azimuth_time": ("line", geometry.azimuth_time(line)),
        "slant_range_time": ("pixel", geometry.slant_range_time(pixel)),
    }


def valid_window(geometry: BurstGeometry, lines: slice, pixels: slice) -> npt.NDArray[np.bool_]:
    """`valid_mask` of burst lines `lines` and pixels `pixels` only (slices with start and stop), as numpy."""
    pixel = np.arange(pixels.start, pixels.stop)
    first = geometry.first_valid_sample[lines, None]
    last = geometry.last_valid_sample[lines, None]
    return np.asarray((first >= 0) & (pixel[None, :] >= first) & (pixel[None, :] <= last))


def valid_mask(geometry: BurstGeometry) -> xr.DataArray:
    """True where the annotation says the burst has data (firstValidSample … lastValidSample per line)."""
    mask = valid_window(geometry, slice(0, geometry.lines), slice(0, geometry.samples))
    return xr.DataArray(mask, dims=("line", "pixel"), coords=burst_coords(geometry), name="valid")


def open_burst(
    safe: str | Path,
    swath: str,
    polarisation: str,
    burst_index: int,
    chunks: dict[str, int] | None = None,
    geometry: BurstGeometry | None = None,
) -> xr.DataArray:
    """The burst's complex samples (complex64, dask-backed) on dims (line, pixel).

    `line` is burst-local, with `azimuth_time` and `slant_range_time` as coordinates. Samples
    outside the annotation's valid window are as stored (zeros in ESA products); use
    `valid_mask` for the window.
    """
    geometry = geometry or burst_geometry(safe, swath, polarisation, burst_index)
    measurement = product_file(safe, geometry.swath, geometry.polarisation, "measurement")
    wanted = {**DEFAULT_CHUNKS, **(chunks or {})}
    with warnings.catch_warnings():  # an SLC TIFF has GCPs only; chunks need not follow its tiles
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        warnings.filterwarnings("ignore", message="The specified chunks separate")
        raster = xr.open_dataarray(
            measurement, engine="rasterio", chunks={"band": 1, "y": wanted["line"], "x": wanted["pixel"]}
        )
    raster = raster.squeeze("band", drop=True).drop_vars("spatial_ref", errors="ignore")
    window = raster.isel(y=slice(geometry.first_line, geometry.first_line + geometry.lines))
    if window.shape != (geometry.lines, geometry.samples):
        raise InvalidInput(
            f"{measurement.name}: {raster.shape} samples cannot hold burst {burst_index} "
            f"({geometry.lines} lines from line {geometry.first_line}, {geometry.samples} samples)"
        )
    data = window.data.astype("complex64")
    out = xr.DataArray(data, dims=("line", "pixel"), coords=burst_coords(geometry), name="slc")
    out.attrs.update(swath=geometry.swath, polarisation=geometry.polarisation, burst_index=geometry.burst_index)
    return out
