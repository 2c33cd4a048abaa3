"""Coherence chain: the boxcar estimator against theory, and the burst-pair simulation gate.

Gate "burst pair simulation": a real 12-day pair's annotations and orbits (DAA1 reference,
6814 secondary, burst 110435 of IW1 VV; their real perpendicular baseline is ~30 m), the
secondary's orbit moved 170 m along the orbit normal, which makes B_perp ~120 m, and 6 m along
track, so that the bursts are 0.32 line apart rather than the real pair's 0.07 (the ramp's
effect on interpolation grows towards half a line), a DEM with a 350 m hill,
coherence zones 0.6 and 0.9, a known phase screen, the TOPS ramps applied by the forward model
(`simulate`). The chain must give |mean coherence - truth| <= 0.03 over >= 10^4 map cells per
zone and a phase bias <= 0.05 rad; without deramping it must fail (negative control).

What this does not prove: the simulator shares the chain's geometry (orbit fit, backward
geocoding, DEM) and its TOPS ramp model, so a mistake common to both (e.g. a wrong sign of
k_t against ESA's processor, an orbit-time bias) would cancel. `test_tops` checks the ramp
against the ESA note's formulas and `test_geometry` the geocoding against the annotation's own
grid; real pixels are not available offline.
"""

from __future__ import annotations

from pathlib import Path

import mpmath
import numpy as np
import pytest
import xarray as xr
import xarray_sentinel.sentinel1 as xs1
from odc.geo.xr import xr_coords
from scipy.special import gammaln

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.burst import burst_geometry, product_file
from geocube_ingest.processing.sar.coherence import boxcar_coherence, coherence_of_bursts, coregister
from geocube_ingest.processing.sar.dem import flat_dem, utm_geobox
from geocube_ingest.processing.sar.geocoding import backward_geocode_points, map_to_ecef
from geocube_ingest.processing.sar.simulate import processing_bandwidth, shift_orbit, simulate_stack, speckle_field
from geocube_ingest.processing.sar.tops import tops_ramp

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
DAA1 = FIXTURES / "s1_slc" / "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE"
S6814 = FIXTURES / "s1_slc" / "S1A_IW_SLC__1SDV_20230916T063730_20230916T063757_050349_060FCD_6814.SAFE"
MAX_COHERENCE_ERROR = 0.03
MAX_PHASE_BIAS = 0.05
MIN_CELLS = 10_000


def expected_magnitude(gamma: float, looks: int) -> float:
    """E|gamma_hat| of L independent looks (Touzi et al. 1999, eq. 14)."""
    lead = np.exp(gammaln(looks) + gammaln(1.5) - gammaln(looks + 0.5))
    series = mpmath.hyp3f2(1.5, looks, looks, looks + 0.5, 1, gamma**2)
    return float(lead * series * (1 - gamma**2) ** looks)


def _correlated(
    shape: tuple[int, int], gamma: float, rng: np.random.Generator, white: bool
) -> tuple[np.ndarray, np.ndarray]:
    def field() -> np.ndarray:
        if white:
            return np.asarray((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2))
        geometry = burst_geometry(DAA1, "IW1", "VV", 4)
        return speckle_field(shape, processing_bandwidth(geometry), rng)[::2, ::2]

    common, own = field(), field()
    return common, gamma * common + np.sqrt(1 - gamma**2) * own


def test_identical_bursts_have_coherence_one() -> None:
    rng = np.random.default_rng(0)
    s = rng.standard_normal((64, 128)) + 1j * rng.standard_normal((64, 128))
    s[5, 7] = np.nan
    coherence, ifg = boxcar_coherence(s, s * np.exp(0.3j), (4, 16))
    finite = np.isfinite(coherence)
    assert finite.mean() > 0.95
    np.testing.assert_allclose(coherence[finite], 1.0, atol=1e-5)
    np.testing.assert_allclose(np.angle(ifg[finite]), -0.3, atol=1e-5)


@pytest.mark.parametrize("gamma", [0.0, 0.6, 0.9])
def test_boxcar_bias_of_independent_looks_is_the_theory(gamma: float) -> None:
    first, second = _correlated((512, 1024), gamma, np.random.default_rng(1), white=True)
    coherence, _ = boxcar_coherence(first, second, (4, 16))
    measured = float(np.nanmean(coherence[4:-4, 16:-16]))
    theory = expected_magnitude(gamma, 64)
    print(
        f"gamma {gamma}: mean estimate {measured:.4f}, "
        f"Touzi E|g| for 64 looks {theory:.4f} (bias {theory - gamma:+.4f})"
    )
    assert measured == pytest.approx(theory, abs=0.003)


def test_boxcar_bias_on_s1_like_speckle_is_within_the_gate() -> None:
    """S-1 samples are oversampled (0.67 x 0.88 of the rates, Hamming): 4 x 16 boxes hold fewer looks."""
    for gamma in (0.0, 0.6, 0.9):
        first, second = _correlated((512, 1024), gamma, np.random.default_rng(2), white=False)
        coherence, _ = boxcar_coherence(first, second, (4, 16))
        bias = float(np.nanmean(coherence[4:-4, 16:-16])) - gamma
        looks = next(n for n in range(1, 65) if expected_magnitude(0.0, n) <= bias + gamma) if gamma == 0 else None
        extra = f", as {looks} independent looks" if looks else ""
        print(f"S-1-like speckle, gamma {gamma}: boxcar bias {bias:+.4f}{extra}")
        if gamma > 0:
            assert abs(bias) < MAX_COHERENCE_ERROR / 2


def test_bad_window_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="window"):
        boxcar_coherence(np.ones((8, 8), complex), np.ones((8, 8), complex), (0, 16))


@pytest.fixture(scope="module")
def pair():  # type: ignore[no-untyped-def]
    reference = burst_geometry(DAA1, "IW1", "VV", 4)
    secondary = shift_orbit(burst_geometry(S6814, "IW1", "VV", 4), cross_track_m=170.0, along_track_m=6.0)
    gcp = xs1.open_gcp_dataset(str(product_file(DAA1, "IW1", "VV", "annotation")))
    at = {"azimuth_time": reference.azimuth_time_mid, "slant_range_time": reference.slant_range_time(10600)}
    lon, lat = float(gcp.longitude.interp(at)), float(gcp.latitude.interp(at))
    grid = utm_geobox((lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02), 20.0)
    dem_grid = utm_geobox((lon - 0.035, lat - 0.035, lon + 0.035, lat + 0.035), 30.0)
    c = xr_coords(dem_grid)
    x, y = np.meshgrid(c["x"].values, c["y"].values)
    cx, cy = float(x.mean()), float(y.mean())
    dem = flat_dem(dem_grid, 400 + 350 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1200**2)) + 0.02 * (x - cx))
    split = float(xr_coords(grid)["x"].values.mean())

    def screen(xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
        return 1.2 * np.sin(2 * np.pi * (xx - cx) / 2500) + 0.8 * np.cos(2 * np.pi * (yy - cy) / 3000)

    zones = xr.DataArray(np.where(x < split, 0.6, 0.9), coords=c, dims=("y", "x"))
    screen_map = xr.DataArray(screen(x, y), coords=c, dims=("y", "x"))
    bursts = simulate_stack(
        [reference, secondary], dem, grid, coherence=zones, phase_screens=[0.0, screen_map], seed=11
    )
    return {
        "ref": reference,
        "sec": secondary,
        "grid": grid,
        "dem": dem,
        "bursts": bursts,
        "split": split,
        "screen": screen,
    }


def _gate(pair, deramp: bool) -> dict[str, tuple[int, float, float]]:  # type: ignore[no-untyped-def]
    out = coherence_of_bursts(
        pair["bursts"][0],
        pair["bursts"][1],
        pair["ref"],
        pair["sec"],
        pair["dem"],
        pair["grid"],
        phase=True,
        deramp=deramp,
    )
    c = xr_coords(pair["grid"])
    gx, gy = np.meshgrid(c["x"].values, c["y"].values)
    truth = pair["screen"](gx, gy)
    coherence, phase = out.coherence.values, out.phase.values
    results = {}
    for gamma, zone in ((0.6, gx < pair["split"] - 200), (0.9, gx > pair["split"] + 200)):
        cells = zone & np.isfinite(coherence)
        error = float(np.mean(coherence[cells])) - gamma
        bias = float(np.angle(np.mean(np.exp(1j * (phase[cells] - truth[cells])))))
        results[f"{gamma}"] = (int(cells.sum()), error, bias)
        print(
            f"  deramp={deramp} zone {gamma}: {cells.sum()} cells, mean coherence - truth {error:+.4f}, "
            f"phase bias {bias:+.4f} rad"
        )
    return results


def _passes(results: dict[str, tuple[int, float, float]]) -> bool:
    return all(
        n >= MIN_CELLS and abs(e) <= MAX_COHERENCE_ERROR and abs(b) <= MAX_PHASE_BIAS for n, e, b in results.values()
    )


@pytest.mark.slow
def test_burst_pair_gate_and_its_negative_control(pair) -> None:  # type: ignore[no-untyped-def]
    ref, sec, grid = pair["ref"], pair["sec"], pair["grid"]
    # The pair's geometry: perpendicular baseline, offsets, and the two ramps at the same ground point.
    centre = np.array(grid.extent.centroid.coords[0])
    point = map_to_ecef(centre[0], centre[1], float(pair["dem"].interp(x=centre[0], y=centre[1])), str(grid.crs))
    a, b = backward_geocode_points(ref, point), backward_geocode_points(sec, point)
    baseline = b.satellite_position - a.satellite_position
    b_perp = float(np.linalg.norm(baseline - np.sum(baseline * a.look) * a.look))
    coreg = coregister(ref, sec, pair["dem"], grid)
    rows, cols = coreg.window.grid()
    mismatch = tops_ramp(ref).frequency(rows, cols) - tops_ramp(sec).frequency(*coreg.positions())
    print(
        f"\nB_perp {b_perp:.1f} m; offsets {float(b.line - a.line):+.3f} lines, {float(b.pixel - a.pixel):+.3f} "
        f"samples; ramp frequency mismatch at the same point "
        f"{np.nanmin(mismatch):+.1f} ... {np.nanmax(mismatch):+.1f} Hz"
    )
    assert 100 < b_perp < 140
    with_deramp = _gate(pair, deramp=True)
    assert _passes(with_deramp), with_deramp
    without = _gate(pair, deramp=False)
    worst_coherence = max(abs(e) for _, e, _ in without.values())
    worst_phase = max(abs(b) for _, _, b in without.values())
    print(
        f"  negative control (no deramping) misses the gates by: "
        f"coherence {worst_coherence - MAX_COHERENCE_ERROR:+.4f}, "
        f"phase {worst_phase - MAX_PHASE_BIAS:+.4f} rad"
    )
    assert not _passes(without)
    assert worst_coherence > MAX_COHERENCE_ERROR and worst_phase > MAX_PHASE_BIAS


@pytest.mark.slow
def test_blocks_of_lines_give_the_single_pass_result(pair, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import geocube_ingest.processing.sar.coherence as chain

    coreg = coregister(pair["ref"], pair["sec"], pair["dem"], pair["grid"])
    args = (pair["bursts"][0], pair["bursts"][1], pair["ref"], pair["sec"], coreg)
    monkeypatch.setattr(chain, "_BLOCK_LINES", 10_000)
    whole, whole_ifg = chain.radar_coherence(*args)
    monkeypatch.setattr(chain, "_BLOCK_LINES", 37)
    blocks, blocks_ifg = chain.radar_coherence(*args)
    assert coreg.window.lines > 3 * 37
    np.testing.assert_allclose(blocks, whole, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(blocks_ifg, whole_ifg, atol=1e-6, equal_nan=True)
    layers: dict[str, np.ndarray] = {"coherence": whole, "ifg": whole_ifg}
    geocode = (pair["ref"], coreg.window, pair["dem"], pair["grid"], layers)
    monkeypatch.setattr(chain, "_GEOCODE_ROWS", 10_000)
    one = chain.geocode_radar(*geocode)
    monkeypatch.setattr(chain, "_GEOCODE_ROWS", 37)
    rows = chain.geocode_radar(*geocode)
    for name in layers:
        np.testing.assert_allclose(
            np.asarray(rows[name], complex), np.asarray(one[name], complex), atol=1e-6, equal_nan=True
        )
    assert np.isfinite(np.asarray(one["coherence"], float)).mean() > 0.95
