"""Windowed-sinc resampler: band-limited signals reproduced at sub-sample shifts.

The reference values come from the FFT (exact shift of a periodic band-limited signal), not
from the resampler. Signals: S-1 IW-like speckle (327/486 Hz azimuth band, 56.5/64.3 MHz range
band, Hamming 0.70/0.75, the annotation's values) and pure tones.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.resample import interpolate, resample_offsets, sinc_weights
from geocube_ingest.processing.sar.simulate import Bandwidth, speckle_field

S1_IW = Bandwidth(azimuth=327.0 / 486.486, azimuth_hamming=0.70, range=56.5e6 / 64.345e6, range_hamming=0.75)
MAX_SPECKLE_ERROR = 0.015  # relative rms, default taps (8 azimuth x 16 range)


def _periodic(shape: tuple[int, int], seed: int) -> np.ndarray:
    return speckle_field(shape, S1_IW, np.random.default_rng(seed))[::2, ::2]


def _shifted(signal: np.ndarray, dl: float, dp: float) -> np.ndarray:
    fa = np.fft.fftfreq(signal.shape[0])[:, None]
    fr = np.fft.fftfreq(signal.shape[1])[None, :]
    return np.fft.ifft2(np.fft.fft2(signal) * np.exp(2j * np.pi * (fa * dl + fr * dp)))


def _relative_rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.abs(a - b) ** 2) / np.mean(np.abs(b) ** 2)))


@pytest.mark.parametrize("shift", [(0.5, 0.5), (0.3, 0.7), (0.1, 0.25), (-0.45, 0.05)])
def test_band_limited_speckle_at_sub_sample_shifts(shift: tuple[float, float]) -> None:
    signal = _periodic((192, 384), seed=1)
    dl, dp = shift
    lines, pixels = np.meshgrid(np.arange(192) + dl, np.arange(384) + dp, indexing="ij")
    got = interpolate(signal, lines, pixels)
    inner = np.s_[12:-12, 12:-12]
    error = _relative_rms(got[inner], _shifted(signal, dl, dp)[inner])
    print(f"shift {shift}: relative rms error {error:.4f} (bound {MAX_SPECKLE_ERROR})")
    assert error < MAX_SPECKLE_ERROR
    assert np.isnan(got[0, 0]) and np.isnan(got[-1, -1])  # kernel beyond the array: no extrapolation


@pytest.mark.parametrize(
    ("frequency", "bound"),
    [((0.0, 0.0), 1e-6), ((0.1, -0.1), 0.015), ((0.25, 0.3), 0.015), ((-0.33, 0.43), 0.05)],
)
def test_tones_within_the_band(frequency: tuple[float, float], bound: float) -> None:
    fa, fr = frequency
    lines, pixels = np.meshgrid(np.arange(64.0), np.arange(96.0), indexing="ij")
    tone = np.exp(2j * np.pi * (fa * lines + fr * pixels))
    at_l, at_p = lines[10:-10, 10:-10] + 0.37, pixels[10:-10, 10:-10] - 0.61
    got = interpolate(tone, at_l, at_p)
    expected = np.exp(2j * np.pi * (fa * at_l + fr * at_p))
    error = float(np.max(np.abs(got - expected)))
    print(f"tone {frequency} cycles/sample: max error {error:.2e} (bound {bound})")
    assert error < bound


def test_integer_positions_return_the_samples() -> None:
    signal = _periodic((64, 64), seed=2)
    lines, pixels = np.meshgrid(np.arange(10, 50), np.arange(10, 50), indexing="ij")
    np.testing.assert_allclose(interpolate(signal, lines, pixels), signal[10:50, 10:50], rtol=0, atol=1e-6)
    np.testing.assert_allclose(sinc_weights(np.zeros(1), 8)[0], [0, 0, 0, 1, 0, 0, 0, 0], atol=1e-12)


def test_chunked_offsets_match_the_direct_interpolation() -> None:
    signal = _periodic((300, 260), seed=4)
    rng = np.random.default_rng(5)
    rows, cols = np.meshgrid(np.arange(300.0), np.arange(260.0), indexing="ij")
    line_offset = 2.3 + 0.4 * np.sin(rows / 40) + 0.01 * rng.standard_normal(rows.shape)
    pixel_offset = -3.6 + 0.002 * cols
    lazy = resample_offsets(
        da.from_array(signal, chunks=(64, 64)), line_offset, pixel_offset, max_offset=(3.0, 4.5), chunks=(64, 64)
    )
    assert lazy.numblocks == (5, 5)
    got = lazy.compute()
    direct = interpolate(signal, rows + line_offset, cols + pixel_offset)
    both = np.isfinite(direct)
    assert both.sum() > 0.8 * both.size
    np.testing.assert_allclose(got[both], direct[both], atol=1e-5)
    assert np.all(np.isnan(got[~both]))


def test_bad_kernel_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="taps"):
        interpolate(np.zeros((8, 8), complex), [[1.0]], [[1.0]], taps=(7, 8))
    with pytest.raises(InvalidInput, match="2-D"):
        interpolate(np.zeros(8, complex), [1.0], [1.0])
