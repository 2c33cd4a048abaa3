"""Gate "calibration on real tables": the IPF's LUTs against the annotation's own incidence angles.

ESA's calibration vectors satisfy sigma0 = beta0 sin(theta) and gamma0 = beta0 tan(theta), so
the LUTs (amplitude A, x0 = |DN|^2 / A_x^2) give (A_beta / A_sigma)^2 = sin(theta) and
(A_beta / A_gamma)^2 = tan(theta). Each geolocation grid point's incidence angle is compared
with the LUTs interpolated (azimuth time, pixel) at that point: within 0.02 dB. This proves
the LUT reading and interpolation and that the tables belong to the annotation's geometry; it
does not prove the absolute calibration (that is ESA's constant).

The IPF evaluates its LUTs at one terrain height per azimuth time (an average over range),
not at each grid point's height: over the Atlas (grid points at 2 800 m in a row averaging
1 500 m) the grid's angle is 0.25 deg off the LUT's, 0.025 dB. Fitting, per grid point, the
height at which our geometry reproduces the LUT's angle gives one height per grid row, close
to the row's mean grid height (and not the 10 s `terrainHeightList`, which misses the Atlas
rows by up to 1 300 m). So each grid angle is moved to its row's mean height along its range
circle (our geometry gives the change; the grid's own angle stays the reference) and the gate
is asserted on every point. The angles as given and moved to `terrainHeightList` are printed.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from geocube_ingest.processing.sar.burst import burst_count, burst_geometry, product_file
from geocube_ingest.processing.sar.geocoding import (
    RadarCoordinates,
    backward_geocode_points,
    incidence_angle,
    lonlat_to_ecef,
    move_to_height,
)
from geocube_ingest.processing.sar.radiometry import (
    _azimuth_blocks,
    calibrated_intensity,
    calibration_at,
    calibration_lut,
    noise_lut,
)

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
SLC = FIXTURES / "s1_slc"
F1F1 = "S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1.SAFE"
MAX_DB = 0.02


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The three s1_slc products; F1F1's annotation is in s1_safe, so it is joined with its calibration."""
    joined = tmp_path_factory.mktemp("safe") / F1F1
    shutil.copytree(FIXTURES / "s1_safe" / F1F1 / "annotation", joined / "annotation")
    shutil.copytree(SLC / F1F1 / "annotation" / "calibration", joined / "annotation" / "calibration")
    return [joined, *sorted(p for p in SLC.glob("*.SAFE") if p.name != F1F1)]


def _grid(safe: Path) -> dict[str, np.ndarray]:
    annotation = next((safe / "annotation").glob("s1*-iw1-slc-vv-*.xml"))
    root = ET.parse(annotation).getroot()
    points = root.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    names = ("azimuthTime", "line", "pixel", "incidenceAngle", "latitude", "longitude", "height")
    grid = {name: np.array([p.findtext(name) for p in points]) for name in names}
    heights = root.findall("generalAnnotation/terrainHeightList/terrainHeight")
    reference_times = np.array([h.findtext("azimuthTime") for h in heights], dtype="datetime64[ns]")
    reference = np.array([h.findtext("value") for h in heights], dtype="float64")
    times = grid["azimuthTime"].astype("datetime64[ns]")
    grid["terrain_height_list"] = np.interp(
        (times - reference_times[0]) / np.timedelta64(1, "s"),
        (reference_times - reference_times[0]) / np.timedelta64(1, "s"),
        reference,
    )
    lines = grid["line"].astype(int)
    heights_m = grid["height"].astype(float)
    row_mean = {line: heights_m[lines == line].mean() for line in np.unique(lines)}
    grid["row_mean_height"] = np.array([row_mean[line] for line in lines])
    return grid


def _reference_incidence(safe: Path, grid: dict[str, np.ndarray], reference: np.ndarray) -> np.ndarray:
    """The grid's incidence angles (rad) moved from each point's height to `reference` heights (m)."""
    geometry = burst_geometry(safe, "IW1", "VV", 0)
    ecef = lonlat_to_ecef(grid["longitude"].astype(float), grid["latitude"].astype(float), grid["height"].astype(float))
    radar = backward_geocode_points(geometry, ecef)
    moved = move_to_height(ecef, radar, reference)
    change = incidence_angle(moved, _look(moved, radar)) - incidence_angle(ecef, radar.look)
    return np.deg2rad(grid["incidenceAngle"].astype(float) + change)


def _at(lut: xr.DataArray, lines: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    points = {"line": xr.DataArray(lines, dims="p"), "pixel": xr.DataArray(pixels, dims="p")}
    return np.asarray(lut.isel(points).values, dtype="float64")


def _look(points: np.ndarray, radar: RadarCoordinates) -> np.ndarray:
    vector = radar.satellite_position - points
    return np.asarray(vector / np.linalg.norm(vector, axis=-1, keepdims=True))


def _ratio_errors(safe: Path, grid: dict[str, np.ndarray], theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(beta/sigma)^2 against sin(theta) and (beta/gamma)^2 against tan(theta), in dB, at every grid point of
    every burst (a point on a burst overlap counts in both bursts)."""
    times = grid["azimuthTime"].astype("datetime64[ns]")
    pixels = grid["pixel"].astype(int)
    sin_errors: list[np.ndarray] = []
    tan_errors: list[np.ndarray] = []
    for index in range(burst_count(safe, "IW1", "VV")):
        geometry = burst_geometry(safe, "IW1", "VV", index)
        lines = geometry.line_of(times)
        inside = (lines > -0.5) & (lines < geometry.lines - 0.5)
        if not inside.any():
            continue
        rows, where = np.unique(np.round(lines[inside]).astype(int), return_inverse=True)
        columns = pixels[inside]
        sample = {
            kind: calibration_at(geometry, kind, rows, columns)[where, np.arange(columns.size)].astype("float64")
            for kind in ("beta0", "sigma0", "gamma0")
        }
        beta, sigma, gamma = sample["beta0"], sample["sigma0"], sample["gamma0"]
        sin_errors.append(20 * np.log10(beta / sigma) - 10 * np.log10(np.sin(theta[inside])))
        tan_errors.append(20 * np.log10(beta / gamma) - 10 * np.log10(np.tan(theta[inside])))
    return np.concatenate(sin_errors), np.concatenate(tan_errors)


def test_lut_ratios_match_the_grid_incidence_angles(products: list[Path]) -> None:
    for safe in products:
        grid = _grid(safe)
        as_given = np.deg2rad(grid["incidenceAngle"].astype(float))
        raw_sin, raw_tan = _ratio_errors(safe, grid, as_given)
        listed_sin, listed_tan = _ratio_errors(
            safe, grid, _reference_incidence(safe, grid, grid["terrain_height_list"])
        )
        sin_error, tan_error = _ratio_errors(safe, grid, _reference_incidence(safe, grid, grid["row_mean_height"]))
        print(
            f"\nCALIBRATION {safe.name[17:25]} {safe.name[-9:-5]}: {sin_error.size} grid points; max |d| of "
            f"(beta/sigma)^2 vs sin(theta) / (beta/gamma)^2 vs tan(theta): grid angles as given "
            f"{np.abs(raw_sin).max():.4f} / {np.abs(raw_tan).max():.4f} dB; at terrainHeightList "
            f"{np.abs(listed_sin).max():.4f} / {np.abs(listed_tan).max():.4f} dB; at the row's mean height "
            f"{np.abs(sin_error).max():.4f} / {np.abs(tan_error).max():.4f} dB "
            f"(mean {sin_error.mean():+.4f} / {tan_error.mean():+.4f})"
        )
        assert sin_error.size > 100
        assert np.abs(sin_error).max() < MAX_DB
        assert np.abs(tan_error).max() < MAX_DB


def test_noise_is_range_vector_times_azimuth_vector() -> None:
    """DAA1 burst 0: its range vector (at the burst's first time) starts 578.6577, the azimuth vector 1.172691."""
    safe = next(SLC.glob("*DAA1.SAFE"))
    noise = noise_lut(safe, "IW1", "VV", 0, chunks={"line": 256, "pixel": 2048})
    value = float(noise[0, 0])
    print(f"\nNOISE DAA1 burst 0 line 0 pixel 0: {value:.3f} (578.6577 x 1.172691 = {578.6577 * 1.172691:.3f})")
    assert value == pytest.approx(578.6577 * 1.172691, rel=1e-5)
    second = noise_lut(safe, "IW1", "VV", 1)
    ((*_, lines, values),) = _azimuth_blocks(product_file(safe, "IW1", "VV", "noise"))
    assert float(second[0, 0]) == pytest.approx(574.9068 * np.interp(1507, lines, values), rel=1e-5)
    assert noise.chunks is not None and len(noise.chunks[0]) == 6 and noise.dtype == np.float32
    # Another date, same track: the noise differs while the calibration stays the same.
    other = next(SLC.glob("*6814.SAFE"))
    assert float(noise_lut(other, "IW1", "VV", 0)[0, 0]) != pytest.approx(value, rel=1e-3)
    a = calibration_lut(safe, "IW1", "VV", 0, "sigma0")[0, :1000].values
    b = calibration_lut(other, "IW1", "VV", 0, "sigma0")[0, :1000].values
    assert np.abs(a / b - 1).max() < 1e-3


def test_calibrated_intensity_removes_noise_then_divides_by_the_lut_squared() -> None:
    safe = next(SLC.glob("*DAA1.SAFE"))
    chunks = {"line": 64, "pixel": 64}
    lut = calibration_lut(safe, "IW1", "VV", 4, "sigma0", chunks=chunks)[:64, :64]
    noise = noise_lut(safe, "IW1", "VV", 4, chunks=chunks)[:64, :64]
    sigma0 = 0.1
    amplitude = np.sqrt(sigma0 * lut.values.astype("float64") ** 2 + noise.values)
    slc = lut.copy(data=amplitude.astype("complex64"))
    out = calibrated_intensity(slc, lut, noise).values
    assert np.abs(out / sigma0 - 1).max() < 1e-4
