"""Forward model: speckle statistics and band, self-consistency, and calibration agreed with
`radiometry` (|DN|^2 / A_gamma^2 returns the simulated gamma0).

The coherence and phase truth of a simulated pair is tested through the chain in
`test_coherence` (the burst-pair gate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray_sentinel.sentinel1 as xs1

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.burst import burst_geometry, product_file
from geocube_ingest.processing.sar.dem import flat_dem, utm_geobox
from geocube_ingest.processing.sar.radiometry import calibrated_intensity, calibration_lut
from geocube_ingest.processing.sar.simulate import processing_bandwidth, simulate_stack, speckle_field

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
DAA1 = FIXTURES / "s1_slc" / "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE"


@pytest.fixture(scope="module")
def scene():  # type: ignore[no-untyped-def]
    geometry = burst_geometry(DAA1, "IW1", "VV", 4)
    gcp = xs1.open_gcp_dataset(str(product_file(DAA1, "IW1", "VV", "annotation")))
    at = {"azimuth_time": geometry.azimuth_time_mid, "slant_range_time": geometry.slant_range_time(15000)}
    lon, lat = float(gcp.longitude.interp(at)), float(gcp.latitude.interp(at))
    area = utm_geobox((lon - 0.008, lat - 0.008, lon + 0.008, lat + 0.008), 20.0)
    dem = flat_dem(utm_geobox((lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02), 30.0), 650.0)
    return geometry, area, dem


def test_speckle_is_unit_power_and_band_limited() -> None:
    geometry = burst_geometry(DAA1, "IW1", "VV", 4)
    band = processing_bandwidth(geometry)
    print(f"bandwidths: azimuth {band.azimuth:.3f}, range {band.range:.3f} of the sampling rates")
    assert band.azimuth == pytest.approx(327.0 * geometry.azimuth_time_interval)
    assert band.range == pytest.approx(56.5e6 / geometry.range_sampling_rate)
    fine = speckle_field((256, 512), band, np.random.default_rng(0))
    native = fine[::2, ::2]
    assert np.mean(np.abs(native) ** 2) == pytest.approx(1.0, abs=0.03)
    assert np.mean(np.abs(fine) ** 2) == pytest.approx(1.0, abs=0.03)
    spectrum = np.abs(np.fft.fft2(native)) ** 2
    fa = np.abs(np.fft.fftfreq(256))[:, None]
    fr = np.abs(np.fft.fftfreq(512))[None, :]
    outside = (fa > band.azimuth / 2 + 1 / 256) | (fr > band.range / 2 + 1 / 512)
    assert spectrum[outside].sum() < 1e-12 * spectrum.sum()
    # the odd samples are the band-limited interpolation of the even ones (no energy above the band)
    fine_spectrum = np.abs(np.fft.fft2(fine)) ** 2
    fa2 = np.abs(np.fft.fftfreq(512))[:, None]
    assert fine_spectrum[(fa2 > 0.25)[:, 0]].sum() < 1e-12 * fine_spectrum.sum()


@pytest.mark.slow
def test_same_geometry_full_coherence_gives_the_same_burst(scene) -> None:  # type: ignore[no-untyped-def]
    geometry, area, dem = scene
    a, b = simulate_stack([geometry, geometry], dem, area, coherence=1.0, seed=4)
    assert a.shape == b.shape and a.shape[0] > 50 and a.shape[1] > 200
    np.testing.assert_allclose(b.values, a.values, atol=2e-5)
    again = simulate_stack([geometry], dem, area, seed=4)[0]
    np.testing.assert_array_equal(again.values, a.values)
    other = simulate_stack([geometry], dem, area, seed=5)[0]
    assert np.mean(np.abs(other.values - a.values) ** 2) > 1.0


@pytest.mark.slow
def test_calibrated_intensity_returns_the_simulated_gamma0(scene) -> None:  # type: ignore[no-untyped-def]
    geometry, area, dem = scene
    plain = simulate_stack([geometry], dem, area, gamma0=0.05, seed=7)[0]
    where = {"line": plain.line.values, "pixel": plain.pixel.values}
    lut = calibration_lut(DAA1, "IW1", "VV", 4, "gamma0", geometry=geometry).sel(where)
    scaled = simulate_stack([geometry], dem, area, gamma0=0.05, scales=[lut.values.astype("float64") ** 2], seed=7)[0]
    gamma0 = calibrated_intensity(scaled.drop_vars(["azimuth_time", "slant_range_time"]), lut.reset_coords(drop=True))
    mean = float(gamma0.mean())
    print(f"calibrated mean gamma0 {mean:.5f} (simulated 0.05) over {gamma0.size} samples")
    assert mean == pytest.approx(0.05, rel=0.03)
    assert float(np.mean(np.abs(plain.values) ** 2)) == pytest.approx(0.05, rel=0.03)


def test_bad_inputs_are_invalid_input(scene) -> None:  # type: ignore[no-untyped-def]
    geometry, area, dem = scene
    with pytest.raises(InvalidInput, match="at least one"):
        simulate_stack([], dem, area)
    with pytest.raises(InvalidInput, match="phase screen"):
        simulate_stack([geometry, geometry], dem, area, phase_screens=[0.0])
