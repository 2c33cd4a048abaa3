"""Small Sentinel-1 GRD products in ESA's SAFE layout: a real manifest, synthetic measurements.

What `S1Backscatter` reads, laid out as ESA does: `manifest.safe`, one uint16 measurement
GeoTIFF per polarisation georeferenced by GCPs only (no CRS transform, like ESA's), and its
calibration annotation with the `sigmaNought`/`betaNought`/`gamma`/`dn` look-up tables.
The product annotation, noise and preview files the manifest lists are left out: nothing
here reads them. The demo's time series and the processing tests both build their products
with these functions.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from geocube_ingest.catalogue.naming import S1_NAME, S1_POLARISATIONS, strip_extension
from geocube_ingest.errors import InvalidInput

# The recorded product the demo's manifest comes from (fixtures s1_safe/, stactools-packages/sentinel1).
S1_GRD = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8.SAFE"
BETA_NOUGHT = 237.0  # betaNought LUT value of IW GRD products: constant over the image
LINE_INTERVAL = 1.5e-3  # seconds between GRDH lines: about 10 m at the ground speed


class Georeferencing(Protocol):
    """Where a measurement lies: its GCPs (row/col of the image, lon/lat)."""

    def gcps(self) -> list[GroundControlPoint]: ...


@dataclass(frozen=True)
class GrdGeometry:
    """GCPs of a small GRD: a lat/lon box sampled on a 3x3 grid of tie points."""

    rows: int = 100
    cols: int = 120
    lon0: float = 3.00
    lat0: float = 45.60
    dlon: float = 0.0006  # ~47 m at 45.6°N
    dlat: float = -0.0004  # ~44 m

    def gcps(self) -> list[GroundControlPoint]:
        points = []
        for r in (0, self.rows // 2, self.rows):
            for c in (0, self.cols // 2, self.cols):
                points.append(
                    GroundControlPoint(row=r, col=c, x=self.lon0 + c * self.dlon, y=self.lat0 + r * self.dlat, z=0)
                )
        return points


def measurement_stem(product: str, polarisation: str) -> str:
    """ESA's file stem of one polarisation: `s1a-iw-grd-vv-<start>-<stop>-<orbit>-<datatake>-001`.

    The last number is the image's place in the product's polarisations (VV 001, VH 002).
    """
    match = S1_NAME.match(strip_extension(product))
    pol = polarisation.strip().upper()
    pols = S1_POLARISATIONS.get(match["pol"], "").split() if match else []
    if match is None or pol not in pols:
        raise InvalidInput(f"{product}: not a Sentinel-1 product name with polarisation {polarisation}")
    swath = match["mode"].lower()
    kind = match["type"].rstrip("_").lower()
    parts = [match["mission"].lower(), swath, kind, pol.lower(), match["start"].lower(), match["stop"].lower()]
    return "-".join([*parts, match["orbit"], match["datatake"].lower(), f"{pols.index(pol) + 1:03d}"])


def calibration_xml(
    rows: int,
    cols: int,
    sigma: float | np.ndarray,
    *,
    step: int = 20,
    polarisation: str = "VV",
    mission: str = "S1A",
    first_line_time: datetime = datetime(2021, 8, 9, 17, 39, 53),
) -> str:
    """A calibration annotation in the S1 layout: vectors every `step` lines, values every `step` pixels.

    `sigma` is the sigmaNought look-up value, one for the image or one per pixel (rows x cols).
    """
    lines = [*range(0, rows, step), rows - 1]
    pixels = [*range(0, cols, step), cols - 1]
    grid = np.broadcast_to(np.asarray(sigma, dtype="float64"), (rows, cols))
    beta = " ".join(f"{BETA_NOUGHT:.6e}" for _ in pixels)
    vectors = []
    for line in lines:
        text = " ".join(f"{float(grid[line, p]):.6e}" for p in pixels)
        when = first_line_time + timedelta(seconds=line * LINE_INTERVAL)
        vectors.append(
            f"""    <calibrationVector>
      <azimuthTime>{when:%Y-%m-%dT%H:%M:%S.%f}</azimuthTime>
      <line>{line}</line>
      <pixel count="{len(pixels)}">{" ".join(str(p) for p in pixels)}</pixel>
      <sigmaNought count="{len(pixels)}">{text}</sigmaNought>
      <betaNought count="{len(pixels)}">{beta}</betaNought>
      <gamma count="{len(pixels)}">{text}</gamma>
      <dn count="{len(pixels)}">{beta}</dn>
    </calibrationVector>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<calibration>
  <adsHeader>
    <missionId>{mission}</missionId>
    <productType>GRD</productType>
    <polarisation>{polarisation.upper()}</polarisation>
    <mode>IW</mode>
    <swath>IW</swath>
  </adsHeader>
  <calibrationInformation>
    <absoluteCalibrationConstant>1.000000e+00</absoluteCalibrationConstant>
  </calibrationInformation>
  <calibrationVectorList count="{len(lines)}">
{chr(10).join(vectors)}
  </calibrationVectorList>
</calibration>
"""


def write_grd_safe(
    root: Path,
    product: str,
    manifest: bytes,
    dn: dict[str, np.ndarray],
    *,
    sigma: float | np.ndarray = 500.0,
    geometry: Georeferencing | None = None,
    step: int = 20,
    first_line_time: datetime | None = None,
) -> Path:
    """`root/<product>.SAFE` with one uint16 measurement per polarisation (`dn["vv"]`, `dn["vh"]`...).

    `sigma` is the sigmaNought calibration value (per pixel or one for all); sigma0 = DN² / sigma².
    A folder already there is replaced.
    """
    geometry = geometry or GrdGeometry()
    name = strip_extension(product)
    match = S1_NAME.match(name)
    if match is None:
        raise InvalidInput(f"{product} is not a Sentinel-1 product name")
    start = first_line_time or datetime.strptime(match["start"], "%Y%m%dT%H%M%S")
    safe = root / f"{name}.SAFE"
    shutil.rmtree(safe, ignore_errors=True)
    (safe / "measurement").mkdir(parents=True)
    (safe / "annotation" / "calibration").mkdir(parents=True)
    (safe / "manifest.safe").write_bytes(manifest)
    for pol, data in dn.items():
        stem = measurement_stem(name, pol)
        rows, cols = data.shape
        profile = {"driver": "GTiff", "width": cols, "height": rows, "count": 1, "dtype": "uint16"}
        georef = {"gcps": geometry.gcps(), "crs": CRS.from_epsg(4326)}  # like ESA's: GCPs, no transform
        with rasterio.open(safe / "measurement" / f"{stem}.tiff", "w", **profile, **georef) as dst:
            dst.write(data.astype("uint16"), 1)
        xml = calibration_xml(
            rows, cols, sigma, step=step, polarisation=pol, mission=match["mission"], first_line_time=start
        )
        (safe / "annotation" / "calibration" / f"calibration-{stem}.xml").write_text(xml)
    return safe


def zip_safe(safe: Path, target: Path) -> Path:
    """Zip a `.SAFE` folder as ESA's archives are: deflated, the `.SAFE` folder at the top (written atomically)."""
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(safe.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(safe.parent).as_posix())
    partial.rename(target)
    return target
