"""Small Sentinel-2 L2A products for the demo: real metadata, made-up pixels on the real grid.

Each product is a zipped SAFE folder (`MTD_MSIL2A.xml` + B02/B03/B04/B08 at 10 m and the
scene classification at 20 m, JPEG 2000 like ESA's) covering a window of MGRS tile 13TDE
around the demo area. The landscape is a grid of fields that green up on their own dates,
so NDVI changes from one acquisition to the next; clouds cover about the item's
`eo:cloud_cover` of the window, with their shadows.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin

EPSG = 32613
TILE_ORIGIN = (399960.0, 4500000.0)  # upper-left corner of MGRS tile 13TDE
FIELD_PIXELS = 30  # 300 m fields at 10 m
OFFSET = 1000  # BOA_ADD_OFFSET -1000 of processing baselines >= 04.00


@dataclass(frozen=True, slots=True)
class Window:
    """A block of the tile's 10 m grid: column/row of its corner and its size in pixels."""

    col: int
    row: int
    size: int

    def transform(self, resolution: int) -> Any:
        return from_origin(TILE_ORIGIN[0] + self.col * 10, TILE_ORIGIN[1] - self.row * 10, resolution, resolution)


def window_around(x: float, y: float, size_m: float) -> Window:
    size = int(size_m // 20) * 2  # even, so the 20 m band covers the same ground
    col = int((x - TILE_ORIGIN[0]) / 10 - size / 2) // 2 * 2
    row = int((TILE_ORIGIN[1] - y) / 10 - size / 2) // 2 * 2
    return Window(col, row, size)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Values in [0, 1] varying smoothly over `cells` cells across the window."""
    coarse = rng.random((cells + 1, cells + 1))
    axis = np.linspace(0, cells, size)
    rows = np.array([np.interp(axis, np.arange(cells + 1), line) for line in coarse])
    grid = np.array([np.interp(axis, np.arange(cells + 1), column) for column in rows.T]).T
    low, high = grid.min(), grid.max()
    scaled: np.ndarray = (grid - low) / (high - low + 1e-12)
    return scaled


def _fields(window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: bare-soil NDVI, peak NDVI and green-up day (day of year) of its field."""
    rng = np.random.default_rng(13)  # the same landscape on every date
    n = window.size // FIELD_PIXELS + 1
    low = rng.uniform(0.08, 0.22, (n, n))
    peak = rng.uniform(0.45, 0.88, (n, n))
    greenup = rng.uniform(85, 125, (n, n))
    index = np.arange(window.size) // FIELD_PIXELS

    def expand(values: np.ndarray) -> np.ndarray:
        return np.asarray(values[np.ix_(index, index)])

    return expand(low), expand(peak), expand(greenup)


def _ndvi(window: Window, when: datetime) -> np.ndarray:
    low, peak, greenup = _fields(window)
    day = when.timetuple().tm_yday + when.hour / 24
    return np.asarray(low + (peak - low) / (1 + np.exp(-(day - greenup) / 4)))


def _clouds(window: Window, when: datetime, cover: float) -> tuple[np.ndarray, np.ndarray]:
    """Cloud and shadow masks covering about `cover` percent of the window."""
    rng = np.random.default_rng(int(when.strftime("%Y%m%d")))
    noise = _smooth_noise(rng, window.size, 6)
    threshold = np.quantile(noise, 1 - min(cover, 100.0) / 100) if cover > 0.5 else np.inf
    cloud = noise > threshold
    shadow = np.roll(np.roll(cloud, 18, axis=0), 12, axis=1) & ~cloud
    return cloud, shadow


def bands(window: Window, when: datetime, cover: float) -> dict[str, np.ndarray]:
    """Digital numbers (uint16, offset included) of B02, B03, B04, B08 and the 20 m SCL."""
    ndvi = _ndvi(window, when)
    red = 0.03 + 0.14 * (1 - ndvi)
    nir = red * (1 + ndvi) / (1 - ndvi)
    green = red * 1.15
    blue = red * 0.8
    cloud, shadow = _clouds(window, when, cover)
    reflectance = {"B02": blue, "B03": green, "B04": red, "B08": nir}
    for name, value in reflectance.items():
        value = np.where(cloud, 0.42 + 0.02 * (name == "B08"), value)
        reflectance[name] = np.where(shadow, value * 0.35, value)
    dn = {name: np.clip(np.round(v * 10000) + OFFSET, 1, 65535).astype("uint16") for name, v in reflectance.items()}
    scl = np.where(ndvi > 0.35, 4, 5).astype("uint8")
    scl = np.where(shadow, 3, scl)
    scl = np.where(cloud, 9, scl)
    dn["SCL"] = scl[::2, ::2]
    return dn


def _metadata(item: dict[str, Any]) -> str:
    """The template MTD_MSIL2A.xml with this product's identity (name, baseline, times, cover)."""
    text = resources.files("geocube_ingest.demo").joinpath("data/MTD_MSIL2A_template.xml").read_text()
    props = item["properties"]
    uri = props["s2:product_uri"]
    sensing = props["datetime"].replace("000Z", "Z")
    values = {
        "PRODUCT_URI": uri,
        "PROCESSING_BASELINE": props["s2:processing_baseline"],
        "PRODUCT_START_TIME": sensing,
        "PRODUCT_STOP_TIME": sensing,
        "DATATAKE_SENSING_START": sensing,
        "GENERATION_TIME": props.get("s2:generation_time", sensing),
        "SPACECRAFT_NAME": "Sentinel-" + props["platform"].split("-", 1)[1].upper(),
        "SENSING_ORBIT_NUMBER": str(int(re.search(r"_R(\d{3})_", uri).group(1))),  # type: ignore[union-attr]
        "Cloud_Coverage_Assessment": f"{props['eo:cloud_cover']:.6f}",
    }
    for tag, value in values.items():
        text = re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", text)
    return text


def _write_jp2(path: Path, data: np.ndarray, window: Window, resolution: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "JP2OpenJPEG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": f"EPSG:{EPSG}",
        "transform": window.transform(resolution),
        "nodata": 0,
        "QUALITY": "100",
        "REVERSIBLE": "YES",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def write_product(item: dict[str, Any], window: Window, folder: Path) -> Path:
    """Write the zipped SAFE of one STAC item in `folder`; returns the zip (reused if present)."""
    uri = item["properties"]["s2:product_uri"]
    target = folder / f"{uri}.zip"
    if target.exists():
        return target
    when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
    tile = f"T{item['properties']['mgrs:utm_zone']}{item['properties']['mgrs:latitude_band']}"
    tile += item["properties"]["mgrs:grid_square"]
    stamp = uri.split("_")[2]
    granule = f"GRANULE/L2A_{tile}_A000000_{stamp}/IMG_DATA"
    staging = folder / f".{uri}.tmp"
    safe = staging / uri
    safe.mkdir(parents=True, exist_ok=True)
    (safe / "MTD_MSIL2A.xml").write_text(_metadata(item))
    for name, data in bands(window, when, float(item["properties"]["eo:cloud_cover"])).items():
        resolution = 20 if name == "SCL" else 10
        path = safe / granule / f"R{resolution}m" / f"{tile}_{stamp}_{name}_{resolution}m.jp2"
        _write_jp2(path, data, window, resolution)
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(staging).as_posix())
    partial.rename(target)
    for path in sorted(staging.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    staging.rmdir()
    return target
