"""Sentinel-1 GRD products (SAFE folder or zip): measurements and radiometric calibration.

sigma0 = DN² / A², where A is the `sigmaNought` look-up table of
`annotation/calibration/calibration-*.xml`, given on a sparse (line, pixel) grid and
interpolated bilinearly to every pixel, chunk by chunk.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as darr
import numpy as np

from geocube_ingest.errors import InvalidInput

LUTS = ("sigmaNought", "betaNought", "gamma", "dn")


@dataclass(frozen=True)
class CalibrationLut:
    lines: np.ndarray  # (n,) increasing
    pixels: np.ndarray  # (m,) increasing
    values: np.ndarray  # (n, m)

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Bilinear interpolation on the (rows x cols) grid, separably (edges are held)."""
        c0, wc = _weights(cols, self.pixels)
        along_pixels = self.values[:, c0] * (1 - wc) + self.values[:, np.minimum(c0 + 1, len(self.pixels) - 1)] * wc
        r0, wr = _weights(rows, self.lines)
        r1 = np.minimum(r0 + 1, len(self.lines) - 1)
        result: np.ndarray = along_pixels[r0] * (1 - wr)[:, None] + along_pixels[r1] * wr[:, None]
        return result


def _weights(x: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the grid node at or before each x, and the weight of the next node."""
    if len(grid) == 1:
        return np.zeros(len(x), dtype=int), np.zeros(len(x))
    index = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, len(grid) - 2)
    weight = np.clip((x - grid[index]) / (grid[index + 1] - grid[index]), 0, 1)
    return index, weight


def parse_calibration(xml: bytes, lut: str = "sigmaNought") -> CalibrationLut:
    if lut not in LUTS:
        raise InvalidInput(f"unknown calibration {lut!r} (expected one of {', '.join(LUTS)})")
    root = ET.fromstring(xml)
    lines: list[float] = []
    rows: list[np.ndarray] = []
    pixels: np.ndarray | None = None
    for vector in root.iter("calibrationVector"):
        line = vector.findtext("line")
        pix = vector.findtext("pixel")
        values = vector.findtext(lut)
        if line is None or pix is None or values is None:
            raise InvalidInput(f"calibration vector without line/pixel/{lut}")
        vpixels = np.array(pix.split(), dtype="float64")
        vvalues = np.array(values.split(), dtype="float64")
        if len(vpixels) != len(vvalues):
            raise InvalidInput(f"calibration vector at line {line}: {len(vpixels)} pixels but {len(vvalues)} values")
        if pixels is None:
            pixels = vpixels
        elif len(vpixels) != len(pixels) or not np.allclose(vpixels, pixels):
            vvalues = np.interp(pixels, vpixels, vvalues)
        lines.append(float(line))
        rows.append(vvalues)
    if pixels is None or not rows:
        raise InvalidInput("calibration file without calibrationVector")
    order = np.argsort(lines)
    return CalibrationLut(np.asarray(lines)[order], pixels, np.stack(rows)[order])


def calibrate(dn: darr.Array, lut: CalibrationLut) -> darr.Array:
    """Lazily DN² / A² as float32, NaN where DN is 0 (no data)."""

    def block(values: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        assert block_info is not None
        (r0, r1), (c0, c1) = block_info[0]["array-location"]
        a = lut.at(np.arange(r0, r1, dtype="float64"), np.arange(c0, c1, dtype="float64"))
        v = values.astype("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(values > 0, (v * v) / (a * a), np.nan)
        return out.astype("float32")

    calibrated: darr.Array = darr.map_blocks(block, dn, dtype="float32")
    return calibrated


@dataclass(frozen=True)
class GrdBand:
    polarisation: str
    measurement: str  # GDAL path
    calibration: bytes


def open_grd(path: str | Path, polarisation: str) -> GrdBand:
    """The measurement and calibration of one polarisation of a GRD product."""
    path = Path(path)
    pol = polarisation.strip().lower()
    if path.is_dir():
        members = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
        prefix = str(path)

        def read(member: str) -> bytes:
            return (path / member).read_bytes()

    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
        prefix = f"/vsizip/{path}"

        def read(member: str) -> bytes:
            with zipfile.ZipFile(path) as archive:
                return archive.read(member)

    else:
        raise InvalidInput(f"{path} is neither a SAFE folder nor a zip archive")
    pattern = re.compile(rf"-grd-{pol}-", re.IGNORECASE)
    measurements = [
        m for m in members if "measurement/" in m and pattern.search(m) and m.lower().endswith((".tif", ".tiff"))
    ]
    calibrations = [m for m in members if "annotation/calibration/calibration-" in m and pattern.search(m)]
    if not measurements:
        pols = sorted({m.split("-")[3].upper() for m in members if "measurement/" in m and m.count("-") > 3})
        raise InvalidInput(f"{path.name}: no GRD measurement for polarisation {polarisation} (found {pols or 'none'})")
    if not calibrations:
        raise InvalidInput(f"{path.name}: no calibration annotation for polarisation {polarisation}")
    return GrdBand(polarisation.upper(), f"{prefix}/{measurements[0]}", read(calibrations[0]))
