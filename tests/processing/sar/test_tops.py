"""TOPS ramp: the ESA deramping formulas recomputed by hand from the real annotation, and the
deramped spectrum at 0 Hz.

The first test re-derives k_s, k_a, k_t, f_dc and eta_ref from the annotation XML with the
standard library and numpy (not through BurstGeometry or sarsen's orbit fit) and compares them
with `tops`. The spectrum tests ramp band-limited speckle with the burst's ramp: they prove that
deramping inverts the ramp and centres every part of the burst at 0 Hz, while the ramped
samples' own centroid sweeps the kHz-wide TOPS Doppler history (aliased by the line rate).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from geocube_ingest.processing.sar.burst import burst_geometry, product_file
from geocube_ingest.processing.sar.simulate import processing_bandwidth, speckle_field
from geocube_ingest.processing.sar.tops import deramp, tops_ramp

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
DAA1 = FIXTURES / "s1_slc" / "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE"
C = 299_792_458.0


@pytest.fixture(scope="module")
def geometry():  # type: ignore[no-untyped-def]
    return burst_geometry(DAA1, "IW1", "VV", 4)


def _seconds(text: str, epoch: np.datetime64) -> float:
    return float((np.datetime64(text, "ns") - epoch) / np.timedelta64(1, "ns")) * 1e-9


def _by_hand(burst_index: int, pixel: float) -> dict[str, float]:
    """The ESA note's quantities at one pixel, from the XML alone."""
    root = ET.parse(product_file(DAA1, "IW1", "VV", "annotation")).getroot()
    info = root.find("generalAnnotation/productInformation")
    assert info is not None
    fc = float(info.findtext("radarFrequency") or "nan")
    k_psi = np.deg2rad(float(info.findtext("azimuthSteeringRate") or "nan"))
    fs = float(info.findtext("rangeSamplingRate") or "nan")
    tau0 = float(root.findtext("imageAnnotation/imageInformation/slantRangeTime") or "nan")
    dt = float(root.findtext("imageAnnotation/imageInformation/azimuthTimeInterval") or "nan")
    lines = int(root.findtext("swathTiming/linesPerBurst") or "0")
    samples = int(root.findtext("swathTiming/samplesPerBurst") or "0")
    burst = root.findall("swathTiming/burstList/burst")[burst_index]
    epoch = np.datetime64(burst.findtext("azimuthTime"), "ns")
    t_mid = (lines - 1) / 2 * dt
    # |v| at mid burst: linear interpolation between the two bracketing state vectors
    vectors = root.findall("generalAnnotation/orbitList/orbit")
    times = np.array([_seconds(v.findtext("time") or "", epoch) for v in vectors])
    speeds = np.array([np.linalg.norm([float(v.findtext(f"velocity/{a}") or "nan") for a in "xyz"]) for v in vectors])
    speed = float(np.interp(t_mid, times, speeds))

    def nearest(tag: str, poly: str) -> tuple[float, np.ndarray]:
        items = root.findall(tag)
        i = int(np.argmin([abs(_seconds(e.findtext("azimuthTime") or "", epoch) - t_mid) for e in items]))
        return float(items[i].findtext("t0") or "nan"), np.array((items[i].findtext(poly) or "").split(), float)

    fm_t0, fm = nearest("generalAnnotation/azimuthFmRateList/azimuthFmRate", "azimuthFmRatePolynomial")
    dc_t0, dc = nearest("dopplerCentroid/dcEstimateList/dcEstimate", "dataDcPolynomial")

    def k_a(tau: float) -> float:
        return float(np.polyval(fm[::-1], tau - fm_t0))

    def f_dc(tau: float) -> float:
        return float(np.polyval(dc[::-1], tau - dc_t0))

    tau = tau0 + pixel / fs
    tau_mid = tau0 + (samples - 1) / 2 / fs
    k_s = 2 * speed / C * fc * k_psi
    k_t = k_a(tau) * k_s / (k_a(tau) - k_s)
    eta_ref = -f_dc(tau) / k_a(tau) + f_dc(tau_mid) / k_a(tau_mid)
    return {"k_s": k_s, "k_a": k_a(tau), "k_t": k_t, "f_dc": f_dc(tau), "eta_ref": eta_ref, "dt": dt, "lines": lines}


@pytest.mark.parametrize("pixel", [0.0, 11527.0, 23054.0])
def test_ramp_parameters_follow_the_esa_note(geometry, pixel: float) -> None:  # type: ignore[no-untyped-def]
    ramp = tops_ramp(geometry)
    hand = _by_hand(4, pixel)
    print(
        f"pixel {pixel:.0f}: k_s {ramp.steering_doppler_rate:.2f} Hz/s (hand {hand['k_s']:.2f}), "
        f"k_t {float(ramp.doppler_rate(pixel)):.3f} (hand {hand['k_t']:.3f}), "
        f"eta_ref {float(ramp.reference_time(pixel)) * 1e3:.4f} ms (hand {hand['eta_ref'] * 1e3:.4f})"
    )
    assert ramp.steering_doppler_rate == pytest.approx(hand["k_s"], rel=2e-5)
    assert float(ramp.doppler_rate(pixel)) == pytest.approx(hand["k_t"], rel=2e-5)
    assert float(ramp.reference_time(pixel)) == pytest.approx(hand["eta_ref"], abs=1e-7)
    # The instantaneous frequency is f_dc at eta_ref and rises at k_t: the TOPS Doppler history.
    line_ref = hand["eta_ref"] / hand["dt"] + (hand["lines"] - 1) / 2
    assert float(ramp.frequency(line_ref, pixel)) == pytest.approx(hand["f_dc"], abs=1e-6)
    span = float(ramp.frequency(hand["lines"] - 1, pixel) - ramp.frequency(0, pixel))
    assert span == pytest.approx(hand["k_t"] * (hand["lines"] - 1) * hand["dt"], rel=2e-5)
    print(f"  Doppler centroid sweep over the burst: {span:.0f} Hz (line rate {1 / hand['dt']:.1f} Hz)")
    assert span > 5 / hand["dt"]  # several times the line rate: the raw burst is aliased


def test_frequency_is_the_phase_derivative(geometry) -> None:  # type: ignore[no-untyped-def]
    ramp = tops_ramp(geometry)
    lines = np.linspace(0, geometry.lines - 1, 41)
    pixel = 9000.0
    h = 1e-3
    numeric = (ramp.phase(lines + h, pixel) - ramp.phase(lines - h, pixel)) / (2 * h * geometry.azimuth_time_interval)
    np.testing.assert_allclose(numeric / (2 * np.pi), ramp.frequency(lines, pixel), atol=1e-3)


def _centroid(data: np.ndarray, dt: float) -> np.ndarray:
    """Azimuth spectral centroid (Hz) per block of 64 lines, from the lag-one correlation."""
    blocks = data[: data.shape[0] // 64 * 64].reshape(-1, 64, data.shape[1])
    lag = np.sum(blocks[:, 1:] * np.conj(blocks[:, :-1]), axis=(1, 2))
    return np.asarray(np.angle(lag) / (2 * np.pi * dt))


def test_deramping_centres_the_azimuth_spectrum_at_zero(geometry) -> None:  # type: ignore[no-untyped-def]
    ramp = tops_ramp(geometry)
    rng = np.random.default_rng(3)
    pixel0, width = 9000, 96
    baseband = speckle_field((geometry.lines, width), processing_bandwidth(geometry), rng)[::2, ::2]
    lines = np.arange(geometry.lines)[:, None]
    pixels = np.arange(pixel0, pixel0 + width)[None, :]
    burst = baseband * np.exp(1j * ramp.phase(lines, pixels))
    dt = geometry.azimuth_time_interval
    after = _centroid(deramp(burst, ramp, 0, pixel0), dt)
    before = _centroid(burst, dt)
    centre_lines = np.arange(after.size) * 64 + 31.5
    expected = ramp.frequency(centre_lines, pixel0 + width / 2)
    aliased = (expected + 0.5 / dt) % (1 / dt) - 0.5 / dt
    print(f"deramped centroid: max |f| {np.max(np.abs(after)):.2f} Hz over {after.size} blocks")
    print(f"ramped centroid: {before.min():.0f} ... {before.max():.0f} Hz (aliased TOPS sweep)")
    assert np.max(np.abs(after)) < 8.0  # estimation noise of 64 x 96 speckle samples: a few Hz
    wrapped = np.angle(np.exp(2j * np.pi * (before - aliased) * dt)) / (2 * np.pi * dt)
    assert np.max(np.abs(wrapped)) < 10.0
    assert np.ptp(before) > 300.0
