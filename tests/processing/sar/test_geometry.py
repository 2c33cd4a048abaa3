"""Gate "geometry on real metadata": the annotation's own geolocation grid, backward-geocoded.

Each annotation GCP (lat, lon, ellipsoidal height) goes to ECEF and through our backward
geocoding on the orbit fitted to the annotation's state vectors; its zero-Doppler time and
slant range time must match the annotated ones to < 0.2 line and < 0.05 sample. This proves
the orbit fit, the zero-Doppler solver, the time/sample conventions and the burst timing
against ESA's IPF; it does not prove anything about pixels (there are none offline). The
fixtures hold SLC annotations only (no GRD annotation was found), so GRD is not covered.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from geocube_ingest.processing.sar.burst import burst_count, burst_geometry, open_burst, valid_mask
from geocube_ingest.processing.sar.geocoding import backward_geocode_points, incidence_angle, lonlat_to_ecef

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
ANNOTATIONS = sorted(FIXTURES.glob("s1_s*/*.SAFE/annotation/s1*.xml"))
MAX_LINE_ERROR = 0.2
MAX_SAMPLE_ERROR = 0.05


def _swath_pol(annotation: Path) -> tuple[str, str]:
    parts = annotation.name.split("-")
    return parts[1], parts[3]


def _grid(annotation: Path) -> dict[str, np.ndarray]:
    points = ET.parse(annotation).getroot().findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    names = ("azimuthTime", "slantRangeTime", "latitude", "longitude", "height", "incidenceAngle", "line")
    return {name: np.array([p.findtext(name) for p in points]) for name in names}


def test_fixture_annotations_found() -> None:
    assert len(ANNOTATIONS) >= 8, ANNOTATIONS


@pytest.mark.parametrize("annotation", ANNOTATIONS, ids=lambda p: p.name[:30])
def test_gcps_backward_geocode_to_their_annotated_times(annotation: Path) -> None:
    safe = annotation.parents[1]
    swath, pol = _swath_pol(annotation)
    grid = _grid(annotation)
    geometry = burst_geometry(safe, swath, pol, 0)
    ecef = lonlat_to_ecef(grid["longitude"].astype(float), grid["latitude"].astype(float), grid["height"].astype(float))
    radar = backward_geocode_points(geometry, ecef)
    seconds = (radar.azimuth_time - grid["azimuthTime"].astype("datetime64[ns]")) / np.timedelta64(1, "s")
    line_error = np.abs(seconds / geometry.azimuth_time_interval)
    sample_error = np.abs(
        (radar.slant_range_time - grid["slantRangeTime"].astype(float)) * geometry.range_sampling_rate
    )
    theta_error = np.abs(incidence_angle(ecef, radar.look) - grid["incidenceAngle"].astype(float))
    print(
        f"\nGEOMETRY {annotation.name[:40]}: {line_error.size} GCPs, |d line| max {line_error.max():.4f} "
        f"(mean {line_error.mean():.4f}), |d sample| max {sample_error.max():.5f}, "
        f"|d incidence| max {theta_error.max():.4f} deg"
    )
    assert line_error.max() < MAX_LINE_ERROR
    assert sample_error.max() < MAX_SAMPLE_ERROR
    assert theta_error.max() < 0.05  # the IPF angle differs by ~0.03 deg (its own surface model)


def test_burst_lines_follow_the_annotated_grid() -> None:
    """A GCP on a burst's first line, geocoded, falls on line 0 of that burst (burst timing, not only the orbit)."""
    annotation = next(a for a in ANNOTATIONS if "20230904" in a.name)
    safe = annotation.parents[1]
    grid = _grid(annotation)
    count = burst_count(safe, "IW1", "VV")
    assert count == 9
    lines = grid["line"].astype(int)
    for index in (0, 4, 8):
        geometry = burst_geometry(safe, "IW1", "VV", index)
        on_first = lines == geometry.first_line
        if not on_first.any():
            continue
        ecef = lonlat_to_ecef(
            grid["longitude"][on_first].astype(float),
            grid["latitude"][on_first].astype(float),
            grid["height"][on_first].astype(float),
        )
        radar = backward_geocode_points(geometry, ecef)
        print(f"\nGEOMETRY burst {index}: grid line {geometry.first_line} -> burst line {radar.line.mean():.4f}")
        assert np.abs(radar.line).max() < MAX_LINE_ERROR
        assert geometry.footprint.contains(geometry.footprint.centroid)


def test_open_burst_reads_the_burst_window_of_the_measurement() -> None:
    safe = FIXTURES / "s1_safe" / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
    burst = open_burst(safe, "IW1", "VV", 2)
    geometry = burst_geometry(safe, "IW1", "VV", 2)
    assert burst.dims == ("line", "pixel")
    assert burst.shape == (geometry.lines, geometry.samples) == (1501, 21632)
    assert burst.dtype == np.complex64
    assert burst.chunks is not None
    assert complex(burst[10, 100].compute()) == 2 + 0j  # the fixture's constant (README 1c)
    valid = valid_mask(geometry)
    assert not valid[0].any() and valid[geometry.lines // 2].any()


def test_the_gate_fails_with_the_other_dates_orbit() -> None:
    """Negative control: DAA1's grid geocoded with 6814's orbit (same track, 12 days later) is far off."""
    annotation = next(a for a in ANNOTATIONS if "20230904" in a.name)
    other = next(a for a in ANNOTATIONS if "20230916" in a.name)
    grid = _grid(annotation)
    geometry = burst_geometry(annotation.parents[1], "IW1", "VV", 0)
    wrong = burst_geometry(other.parents[1], "IW1", "VV", 0)
    ecef = lonlat_to_ecef(grid["longitude"].astype(float), grid["latitude"].astype(float), grid["height"].astype(float))
    right = backward_geocode_points(geometry, ecef)
    shifted = backward_geocode_points(wrong, ecef)
    sample_error = np.abs((shifted.slant_range_time - right.slant_range_time) * geometry.range_sampling_rate)
    print(
        f"\nGEOMETRY negative control (6814's orbit for DAA1's grid): |d sample| median {np.median(sample_error):.1f}"
    )
    assert np.median(sample_error) > 10 * MAX_SAMPLE_ERROR
