"""Small synthetic products in real formats, built from the recorded metadata fixtures.

Sentinel-2: a SAFE folder with the real MTD_MSIL1C/2A.xml and MTD_TL.xml of a fixture
product, and band files (JPEG2000 or GeoTIFF) georeferenced like that granule.
Sentinel-1: a GRD SAFE with the real manifest, measurement GeoTIFFs georeferenced by GCPs,
and calibration annotations in the real layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from geocube_ingest.demo.s1_products import S1_GRD, GrdGeometry, calibration_xml, write_grd_safe

__all__ = ["S1_GRD", "GrdGeometry", "calibration_xml", "make_grd_safe", "make_s2_safe", "write_band"]

S2_L2A = "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126.SAFE"  # baseline 04.00, offset -1000
S2_L2A_GRANULE = "L2A_T33XWJ_A026649_20220413T150756"
S2_L2A_PREFIX = "T33XWJ_20220413T150759"
S2_L2A_ORIGIN = (499980.0, 8900040.0, 32633)
S2_L1C = "S2A_MSIL1C_20180101T105441_N0206_R051_T31TDH_20180101T124911.SAFE"  # baseline 02.06, no offset
S2_L1C_GRANULE = "L1C_T31TDH_A013204_20180101T105435"
S2_L1C_PREFIX = "T31TDH_20180101T105441"
S2_L1C_ORIGIN = (399960.0, 4800000.0, 32631)
NATIVE = {"B02": 10, "B03": 10, "B04": 10, "B08": 10, "SCL": 20, "B05": 20, "B11": 20, "B01": 60}


def write_band(path: Path, data: np.ndarray, *, crs: int, origin: tuple[float, float], resolution: float) -> Path:
    """A band file: JPEG2000 (lossless, through GDAL's JP2OpenJPEG) or GeoTIFF, by extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "crs": CRS.from_epsg(crs),
        "transform": from_origin(origin[0], origin[1], resolution, resolution),
        "nodata": 0,
    }
    if path.suffix == ".jp2":
        with MemoryFile() as memory:
            with memory.open(**profile) as tmp:
                tmp.write(data, 1)
            with memory.open() as tmp:
                rasterio.shutil.copy(tmp, str(path), driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES")
    else:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
    return path


def make_s2_safe(
    root: Path,
    fixtures: Path,
    bands: dict[str, np.ndarray],
    *,
    level: str = "L2A",
    ext: str = "jp2",
    name: str | None = None,
) -> Path:
    """A SAFE folder holding `bands` (arrays at each band's native resolution)."""
    source = S2_L2A if level == "L2A" else S2_L1C
    granule = S2_L2A_GRANULE if level == "L2A" else S2_L1C_GRANULE
    prefix = S2_L2A_PREFIX if level == "L2A" else S2_L1C_PREFIX
    x0, y0, epsg = S2_L2A_ORIGIN if level == "L2A" else S2_L1C_ORIGIN
    safe = root / (name or source)
    shutil.rmtree(safe, ignore_errors=True)
    safe.mkdir(parents=True)
    mtd = "MTD_MSIL2A.xml" if level == "L2A" else "MTD_MSIL1C.xml"
    shutil.copy(fixtures / "s2_safe" / source / mtd, safe / mtd)
    tl = fixtures / "s2_safe" / source / "GRANULE" / granule / "MTD_TL.xml"
    (safe / "GRANULE" / granule).mkdir(parents=True)
    shutil.copy(tl, safe / "GRANULE" / granule / "MTD_TL.xml")
    for band, data in bands.items():
        res = NATIVE[band]
        if level == "L2A":
            path = safe / "GRANULE" / granule / "IMG_DATA" / f"R{res}m" / f"{prefix}_{band}_{res}m.{ext}"
        else:
            path = safe / "GRANULE" / granule / "IMG_DATA" / f"{prefix}_{band}.{ext}"
        write_band(path, data, crs=epsg, origin=(x0, y0), resolution=res)
    return safe


def make_grd_safe(
    root: Path,
    fixtures: Path,
    dn: dict[str, np.ndarray],
    sigma: float = 500.0,
    geometry: GrdGeometry | None = None,
) -> Path:
    """The recorded GRD product's SAFE (its real manifest) with one synthetic measurement per polarisation."""
    manifest = (fixtures / "s1_safe" / S1_GRD / "manifest.safe").read_bytes()
    return write_grd_safe(root, S1_GRD, manifest, dn, sigma=sigma, geometry=geometry)
