"""The demo's Sentinel-1 SLC world: three passes over the High Atlas, split into bursts and
processed in Python into gamma0 and coherence.

Two real IW SLC products one repeat cycle apart (4 and 16 Sep 2023, relative orbit 52; their
metadata is in `data/`), and the second one a cycle later again (28 Sep). Their pixels are
simulated (`s1_slc_simulated`) over a few km² of one IW1 burst: fields of known gamma0 that
get wetter or drier from date to date, a coherence of 0.6 to 0.9 between dates with a
landslide scar at 0.25, over a synthetic DEM with some relief (heights above EGM96, a COG
the payloads' `graph_config` points at). Products are zipped SAFEs in a static STAC
catalogue, as in the GRD world; the catalogue splits them into burst tiles from their own
annotations; the scene graph `S1SlcBursts` stores each burst; two payloads over the same
area run the tile graphs `S1SlcBackscatter` and `S1SlcCoherence`, cropped to the area
(`bbox`) so the demo processes a few km², not 1,700.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import xarray as xr
from odc.geo.xr import xr_coords
from rasterio.transform import from_origin
from shapely.geometry import box, mapping

from geocube_ingest.demo.s1_manifest import parse_manifest, product_name
from geocube_ingest.demo.s1_slc_products import zip_safe
from geocube_ingest.demo.s1_slc_simulated import Acquisition, repeat_pass, simulate_products
from geocube_ingest.demo.s1_world import item
from geocube_ingest.demo.world import DemoWorld, Layer, prepare_layers, write_world
from geocube_ingest.index import Index

PRODUCTS = (
    "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1.SAFE",
    "S1A_IW_SLC__1SDV_20230916T063730_20230916T063757_050349_060FCD_6814.SAFE",
)
SWATH, POLARISATION, BURST_INDEX = "IW1", "VV", 4  # the 5th burst of IW1 (0-based index)
CENTER = (-8.55, 31.07)  # lon, lat: south of Amizmiz, in that burst
HALF_SIZE_DEG = (0.016, 0.013)  # about 3 km x 2.9 km
DEM_MARGIN_DEG = 0.06
DEM_FILE = "dem_egm96.tif"
AOI_FAMILY = "HighAtlasDemoSlc"  # the DEM's name in storage, shared by both SLC demos
GAINS_DB = (0.0, 1.5, -1.0)  # fields wetter on 16 Sep, drier on 28 Sep
LANDSLIDE_COHERENCE = 0.25
RESOLUTION = "20"
FIELD_M = 300.0


@dataclass(frozen=True)
class SlcDemo:
    """One payload of the SLC world: its AOI name, tile graph and layers (what `geocube-ingest demo` runs)."""

    AOI_NAME: str
    tile_graph: str
    LAYERS: dict[str, Layer]

    def build(self, folder: Path, progress: Callable[[int, int], None] | None = None) -> DemoWorld:
        return build(folder, self, progress)

    def prepare_index(self, index: Index) -> None:
        prepare_layers(index, self.LAYERS.values())


BACKSCATTER = SlcDemo(
    "HighAtlasDemoS1SlcGamma0",
    "S1SlcBackscatter",
    {
        "gamma0_VV": Layer("Gamma0dB", "VV", "float32,nan,-50,10", "Terrain-flattened gamma0 (VV), dB"),
        "gamma0_VH": Layer("Gamma0dB", "VH", "float32,nan,-50,10", "Terrain-flattened gamma0 (VH), dB"),
        "layover_shadow": Layer("LayoverShadow", "demo", "uint8,255,0,3", "1 layover, 2 shadow, 3 both"),
    },
)
COHERENCE = SlcDemo(
    "HighAtlasDemoS1SlcCoherence",
    "S1SlcCoherence",
    {
        "coh_VV": Layer("Coherence", "VV", "float32,nan,0,1", "Coherence with the previous pass (VV)"),
        "coh_VH": Layer("Coherence", "VH", "float32,nan,0,1", "Coherence with the previous pass (VH)"),
        "phase_VV": Layer("InterferometricPhase", "VV", "float32,nan,-3.1416,3.1416", "Phase, previous minus this"),
        "phase_VH": Layer("InterferometricPhase", "VH", "float32,nan,-3.1416,3.1416", "Phase, previous minus this"),
    },
)
DEMOS = (BACKSCATTER, COHERENCE)


def aoi_bounds() -> tuple[float, float, float, float]:
    (lon, lat), (dx, dy) = CENTER, HALF_SIZE_DEG
    return (round(lon - dx, 6), round(lat - dy, 6), round(lon + dx, 6), round(lat + dy, 6))


def payload(demo: SlcDemo, dem_url: str) -> dict[str, Any]:
    west, south, east, north = aoi_bounds()
    return {
        "name": demo.AOI_NAME,
        "type": "Feature",
        "geometry": mapping(box(west, south, east, north)),
        "start_time": "2023-09-01T00:00:00Z",
        "end_time": "2023-09-30T00:00:00Z",
        "scene_type": {
            "constellation": "sentinel1",
            "parameters": {"producttype": "SLC", "polarisationmode": "VV VH", "sensoroperationalmode": "IW"},
        },
        "scene_graph_name": "S1SlcBursts",
        "tile_graph_name": demo.tile_graph,
        # The graphs process the AOI's part of the burst only, on the demo's DEM.
        "graph_config": {
            "dem_url": dem_url,
            "bbox": f"{west},{south},{east},{north}",
            "resolution": RESOLUTION,
        },
        "layers": {
            name: {"variable": layer.variable, "instance": layer.instance} for name, layer in demo.LAYERS.items()
        },
        "record_tags": {"source": "geocube-ingest demo", "area": "High Atlas"},
        "is_retriable": True,
        "retry_count": 1,
    }


def _metadata(name: str) -> Path:
    return Path(str(resources.files("geocube_ingest.demo").joinpath(f"data/{name}")))


def acquisitions() -> list[Acquisition]:
    first, second = (_metadata(name) for name in PRODUCTS)
    return [Acquisition(first), Acquisition(second), repeat_pass(second, 1)]


def heights(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Heights above EGM96 (m): a valley floor at 1,100 m rising to hills, slopes of a few degrees."""
    x = (lon - CENTER[0]) * 95_000.0  # metres east, about
    y = (lat - CENTER[1]) * 111_000.0
    hills = 120 * np.sin(2 * np.pi * x / 4000) * np.cos(2 * np.pi * y / 5000) + 0.02 * y
    return np.asarray(1100 + hills, dtype="float32")


def write_dem(path: Path) -> Path:
    """The area's DEM as a COG on a 1 arc-second grid (as Copernicus GLO-30), heights above EGM96."""
    west, south, east, north = aoi_bounds()
    step = 1 / 3600
    west, north = west - DEM_MARGIN_DEG, north + DEM_MARGIN_DEG
    cols = round((east + DEM_MARGIN_DEG - west) / step)
    rows = round((north - (south - DEM_MARGIN_DEG)) / step)
    lon = west + (np.arange(cols) + 0.5) * step
    lat = north - (np.arange(rows) + 0.5) * step
    values = heights(*np.meshgrid(lon, lat))
    profile = {"driver": "COG", "width": cols, "height": rows, "count": 1, "dtype": "float32", "crs": "EPSG:4326"}
    partial = path.with_name(path.name + ".part")
    with rasterio.open(partial, "w", **profile, transform=from_origin(west, north, step, step), nodata=-9999) as dst:
        dst.write(values, 1)
    partial.replace(path)
    return path


def _fields(dem: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """gamma0 (linear) and coherence maps on the DEM's grid: fields, and a landslide scar."""
    rng = np.random.default_rng(31)
    coords = xr_coords(dem.odc.geobox)
    x, y = np.meshgrid(coords["x"].values, coords["y"].values)
    fx, fy = np.floor(x / FIELD_M).astype(int), np.floor(y / FIELD_M).astype(int)
    fx, fy = fx - fx.min(), fy - fy.min()
    gamma_db = rng.uniform(-14.0, -6.0, (fy.max() + 1, fx.max() + 1))[fy, fx]
    coherence = rng.uniform(0.6, 0.9, (fy.max() + 1, fx.max() + 1))[fy, fx]
    cx, cy = np.median(x), np.median(y)
    scar = ((x - cx - 600) / 500) ** 2 + ((y - cy + 400) / 350) ** 2 < 1
    coherence = np.where(scar, LANDSLIDE_COHERENCE, coherence)
    gamma0 = xr.DataArray(10 ** (gamma_db / 10), coords=coords, dims=("y", "x"))
    return gamma0, xr.DataArray(coherence, coords=coords, dims=("y", "x"))


def write_products(folder: Path, dem_path: Path) -> list[Path]:
    """The zipped SAFE of each pass in `folder` (reused when all are present)."""
    from geocube_ingest.processing.sar.dem import load_dem, utm_geobox
    from geocube_ingest.settings import get_settings

    passes = acquisitions()
    names = [product_name(a.manifest or (a.metadata / "manifest.safe").read_bytes()) for a in passes]
    zipped = [folder / f"{name}.zip" for name in names]
    if all(z.exists() for z in zipped):
        return zipped
    west, south, east, north = aoi_bounds()
    margin = 0.004  # the burst sees a little more than the AOI: the grid's edges get their neighbours
    area = utm_geobox((west - margin, south - margin, east + margin, north + margin), 20.0)
    # The DEM as the graphs will read it (heights above the ellipsoid), from the world's folder.
    settings = get_settings().with_overrides({"security": {"file_roots": [str(dem_path.parent.resolve())]}})
    bounds = (west - 0.03, south - 0.03, east + 0.03, north + 0.03)
    dem = load_dem(str(dem_path.resolve()), bounds, resolution_m=30.0, settings=settings)
    gamma0, coherence = _fields(dem)
    staging = folder / ".slc-staging"
    shutil.rmtree(staging, ignore_errors=True)
    safes = simulate_products(
        staging, passes, SWATH, POLARISATION, BURST_INDEX, dem, area,
        gamma0=gamma0, coherence=coherence, gains_db=GAINS_DB, seed=7,
    )  # fmt: skip
    for safe, target in zip(safes, zipped, strict=True):
        zip_safe(safe, target)
    shutil.rmtree(staging)
    return zipped


def build(folder: Path, demo: SlcDemo = BACKSCATTER, progress: Callable[[int, int], None] | None = None) -> DemoWorld:
    """Write the DEM, the products, the catalogue and `demo`'s payload under `folder` (what is there is reused)."""
    products_dir = folder / "products"
    products_dir.mkdir(parents=True, exist_ok=True)
    dem = folder / DEM_FILE
    if not dem.exists():
        write_dem(dem)
    products = write_products(products_dir, dem)
    items = []
    for n, zipped in enumerate(products, 1):
        with zipfile.ZipFile(zipped) as archive:
            manifest = next(archive.read(m) for m in archive.namelist() if m.endswith("/manifest.safe"))
        items.append(item(parse_manifest(manifest), product_name(manifest), zipped))
        if progress is not None:
            progress(n, len(products))
    return write_world(folder, items, products, payload(demo, store_dem(dem)))


def store_dem(dem: Path) -> str:
    """The DEM put in the storage root, which every Dask worker reads (a local path may exist on this machine only)."""
    from geocube_ingest import storage
    from geocube_ingest.settings import get_settings

    settings = get_settings()
    url = storage.join(settings.resolved_storage_uri, "dem", f"{AOI_FAMILY}_{DEM_FILE}")
    if not storage.exists(url, settings=settings):
        storage.put_file(dem, url, settings=settings)
    return url
