"""Sentinel-1 IW SLC products with simulated pixels of known gamma0, coherence and phase.

Each product is a real product's metadata (manifest, swath annotation, calibration, noise,
unchanged or shifted by whole repeat cycles) and a sparse measurement where only one burst's
view of a small area is written. The pixels come from `processing.sar.simulate` (speckle,
coherence between dates, TOPS ramp, each date's own orbit), then are put in ESA's digital
numbers the way the chain takes them out:

    |DN|^2 = gamma0 * A_gamma^2 + thermal noise N,

A_gamma the product's own `gamma` calibration LUT and N its noise LUT (range LUT times azimuth
LUT), both as `processing.sar.radiometry` reads them; the noise is circular Gaussian of power N. So a chain
that removes the noise and calibrates finds gamma0 again on flat ground (ESA's gamma LUT is
gamma0 on the ellipsoid; terrain flattening equals it where the ground is level).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox

from geocube_ingest.demo.s1_slc_products import swath_files, write_measurement, write_slc_safe


@dataclass(frozen=True)
class Acquisition:
    """One date: the SAFE folder whose metadata files it uses, optionally with another manifest
    and other files (relative path -> (relative path, contents): a repeat pass of the same product)."""

    metadata: Path
    manifest: bytes | None = None
    replace: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)


# ESA's absolute burst ids advance by this much in one repeat cycle (fixtures s1_slc/: 4 and 16 Sep 2023).
BURST_IDS_PER_CYCLE = 375_887


def repeat_pass(metadata: Path, cycles: int) -> Acquisition:
    """The product of `metadata` acquired `cycles` repeat cycles later: manifest and file names
    as `s1_manifest.repeat_pass` moves them, the XMLs' times shifted by whole cycles (orbit
    state vectors too: the orbit repeats its ground track), orbit, datatake and burst ids moved on."""
    from geocube_ingest.demo.s1_manifest import (
        DATATAKES_PER_CYCLE,
        ORBITS_PER_CYCLE,
        REPEAT_DAYS,
        _shift_compact,
        _shift_iso,
        parse_manifest,
    )
    from geocube_ingest.demo.s1_manifest import repeat_pass as repeat_manifest

    original = (metadata / "manifest.safe").read_bytes()
    facts = parse_manifest(original)
    start = facts.start.replace(tzinfo=None)
    delta = timedelta(days=REPEAT_DAYS * cycles)
    orbit, datatake = facts.absolute_orbit, facts.datatake
    new_orbit, new_datatake = orbit + ORBITS_PER_CYCLE * cycles, datatake + DATATAKES_PER_CYCLE * cycles

    def rename(relative: str) -> str:
        moved = _shift_compact(relative, delta, start).replace(f"-{orbit:06d}-", f"-{new_orbit:06d}-")
        return moved.replace(f"-{datatake:06x}-", f"-{new_datatake:06x}-")

    def shift(text: str) -> str:
        text = _shift_iso(text, delta, start)
        text = text.replace(f"<absoluteOrbitNumber>{orbit}<", f"<absoluteOrbitNumber>{new_orbit}<")
        text = text.replace(f"<missionDataTakeId>{datatake}<", f"<missionDataTakeId>{new_datatake}<")
        return re.sub(
            r'(<burstId absolute=")(\d+)(")',
            lambda m: f"{m.group(1)}{int(m.group(2)) + BURST_IDS_PER_CYCLE * cycles}{m.group(3)}",
            text,
        )

    replace = {}
    for files in swath_files(metadata).values():
        for relative in (files.annotation, files.calibration, files.noise):
            if relative is not None:
                replace[relative] = (rename(relative), shift((metadata / relative).read_text()).encode())
    return Acquisition(metadata, repeat_manifest(original, cycles), replace)


def _digital_numbers(
    burst: xr.DataArray, safe: Path, swath: str, polarisation: str, burst_index: int, rng: np.random.Generator
) -> np.ndarray:
    """Simulated samples of unit calibration (|s|² = gamma0) in digital numbers, with thermal noise."""
    from geocube_ingest.processing.sar.radiometry import calibration_lut, noise_lut

    where = {"line": burst.line.values, "pixel": burst.pixel.values}
    gamma = calibration_lut(safe, swath, polarisation, burst_index, "gamma0").sel(where).values.astype("float64")
    noise = noise_lut(safe, swath, polarisation, burst_index).sel(where).values.astype("float64")
    signal = burst.values.astype("complex128") * gamma
    thermal = np.sqrt(np.clip(noise, 0, None) / 2) * (
        rng.standard_normal(signal.shape) + 1j * rng.standard_normal(signal.shape)
    )
    valid = burst.values != 0
    return np.where(valid, signal + thermal, 0)


def simulate_products(
    target: Path,
    acquisitions: Sequence[Acquisition],
    swath: str,
    polarisation: str,
    burst_index: int,
    dem: xr.DataArray,
    area: GeoBox,
    *,
    gamma0: float | xr.DataArray = 0.1,
    coherence: float | xr.DataArray = 1.0,
    phase_screens: Sequence[float | xr.DataArray] | None = None,
    gains_db: Sequence[float] | None = None,
    seed: int = 0,
) -> list[Path]:
    """One SAFE folder per acquisition under `target`, burst `burst_index` (0-based) of
    `swath`/`polarisation` seeing `area` (a map grid inside the burst) over `dem` (ellipsoidal
    heights). The first acquisition is the simulation's reference geometry. `gains_db` (one per
    acquisition) scales each date's gamma0: a change over time that leaves the coherence as is."""
    from geocube_ingest.processing.sar.burst import burst_geometry
    from geocube_ingest.processing.sar.simulate import simulate_stack

    key = (swath.upper(), polarisation.upper())
    safes = [
        write_slc_safe(target, a.metadata, {key: []}, manifest=a.manifest, replace=a.replace) for a in acquisitions
    ]
    geometries = [burst_geometry(safe, key[0], key[1], burst_index) for safe in safes]
    bursts = simulate_stack(
        geometries, dem, area, coherence=coherence, phase_screens=phase_screens, gamma0=gamma0, seed=seed
    )
    rng = np.random.default_rng(seed + 1)
    gains = list(gains_db) if gains_db is not None else [0.0] * len(safes)
    for safe, geometry, burst, gain in zip(safes, geometries, bursts, gains, strict=True):
        dn = _digital_numbers(burst * 10 ** (gain / 20), safe, key[0], key[1], burst_index, rng)
        files = swath_files(safe)[key]
        block = (geometry.first_line + int(burst.line.values[0]), int(burst.pixel.values[0]), dn)
        write_measurement(safe / files.measurement, (safe / files.annotation).read_bytes(), [block])
    return safes
