"""The demo's Sentinel-1 world: four GRD passes over fields in Auvergne, and their payload.

One real product (the manifest in `data/`) seen again every repeat cycle, as Earth Search
publishes GRD items; its measurements are small synthetic images of fields whose
backscatter changes with the season, with speckle. The products are zipped SAFE folders
read by the graph `S1Backscatter`: the same code path as real GRD products.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import box, mapping

from geocube_ingest.demo.s1_manifest import ManifestFacts, parse_manifest, product_name, repeat_pass
from geocube_ingest.demo.s1_products import S1_GRD, GrdGeometry, write_grd_safe, zip_safe
from geocube_ingest.demo.world import DemoWorld, Layer, prepare_layers, product_asset, write_world
from geocube_ingest.index import Index

AOI_NAME = "AuvergneDemoS1"
PASSES = 4  # 2021-08-09, -21, 09-02, 09-14
GEOMETRY = GrdGeometry()  # about 5.6 km x 4.4 km south of Clermont-Ferrand, inside the real footprint
SIGMA = 500.0  # sigmaNought calibration constant written in the annotations: sigma0 = DN² / SIGMA²
FIELD_PIXELS = 12
LAYERS = {
    "sigma0_VV": Layer("Sigma0dB", "VV", "float32,nan,-50,10", "Backscatter sigma0 (VV), dB"),
    "sigma0_VH": Layer("Sigma0dB", "VH", "float32,nan,-50,10", "Backscatter sigma0 (VH), dB"),
}


def _manifest() -> bytes:
    return resources.files("geocube_ingest.demo").joinpath(f"data/{S1_GRD}/manifest.safe").read_bytes()


def aoi_geometry() -> dict[str, Any]:
    """A box well inside the measurements' extent (the GCP grid of `GEOMETRY`)."""
    g = GEOMETRY
    west, east = g.lon0, g.lon0 + g.cols * g.dlon
    north, south = g.lat0, g.lat0 + g.rows * g.dlat
    dx, dy = (east - west) * 0.2, (north - south) * 0.2
    return dict(mapping(box(west + dx, south + dy, east - dx, north - dy)))


def payload() -> dict[str, Any]:
    return {
        "name": AOI_NAME,
        "type": "Feature",
        "geometry": aoi_geometry(),
        "start_time": "2021-08-01T00:00:00Z",
        "end_time": "2021-09-30T00:00:00Z",
        "scene_type": {
            "constellation": "sentinel1",
            "parameters": {"producttype": "GRD", "polarisationmode": "VV VH", "sensoroperationalmode": "IW"},
        },
        "scene_graph_name": "CopyProductToStorage",
        "tile_graph_name": "S1Backscatter",
        "layers": {name: {"variable": layer.variable, "instance": layer.instance} for name, layer in LAYERS.items()},
        "record_tags": {"source": "geocube-ingest demo", "area": "Auvergne"},
        "is_retriable": True,
        "retry_count": 1,
    }


def backscatter_db(when: datetime, polarisation: str) -> np.ndarray:
    """Sigma0 in dB of each pixel: fields grow wetter and rougher at their own pace, plus speckle."""
    rows, cols = GEOMETRY.rows, GEOMETRY.cols
    fields = np.random.default_rng(63)  # the same fields on every pass
    n_rows, n_cols = rows // FIELD_PIXELS + 1, cols // FIELD_PIXELS + 1
    base = fields.uniform(-15.0, -8.0, (n_rows, n_cols))
    trend = fields.uniform(-0.15, 0.15, (n_rows, n_cols))  # dB per day
    grid = np.ix_(np.arange(rows) // FIELD_PIXELS, np.arange(cols) // FIELD_PIXELS)
    days = (when - datetime(2021, 8, 1, tzinfo=when.tzinfo)).days
    level = base[grid] + trend[grid] * days - (6.5 if polarisation.upper() == "VH" else 0.0)
    speckle = np.random.default_rng(int(when.strftime("%Y%m%d")) + len(polarisation))
    looks = 4.4  # equivalent number of looks of IW GRDH
    return np.asarray(level + 10 * np.log10(speckle.gamma(looks, 1 / looks, (rows, cols))))


def _digital_numbers(when: datetime, polarisation: str) -> np.ndarray:
    linear = 10 ** (backscatter_db(when, polarisation) / 10)
    return np.clip(np.round(np.sqrt(linear) * SIGMA), 1, 65535).astype("uint16")


def item(facts: ManifestFacts, name: str, zipped: Path) -> dict[str, Any]:
    """The Earth Search `sentinel-1-grd` item of a product (its id drops ESA's unique id)."""
    footprint = facts.footprint
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": name.rsplit("_", 1)[0],
        "collection": "sentinel-1-grd",
        "geometry": mapping(footprint),
        "bbox": list(footprint.bounds),
        "properties": {
            "datetime": facts.start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "start_datetime": facts.start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "end_datetime": facts.stop.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "platform": f"sentinel-{facts.mission[1:].lower()}",
            "constellation": "sentinel-1",
            "sar:instrument_mode": facts.mode,
            "sar:product_type": facts.product_type,
            "sar:polarizations": list(facts.polarisations),
            "sar:frequency_band": "C",
            "sat:orbit_state": facts.orbit_pass.lower(),
            "sat:absolute_orbit": facts.absolute_orbit,
            "sat:relative_orbit": facts.relative_orbit,
            "sat:platform_international_designator": facts.nssdc_id,
            "s1:datatake_id": str(facts.datatake),
            "s1:product_timeliness": facts.timeliness,
            "s1:product_identifier": name,
            "s1:processing_datetime": facts.processing_stop.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        "assets": {"product": product_asset(zipped)},
        "links": [],
    }


def write_product(manifest: bytes, folder: Path) -> Path:
    """The zipped SAFE of one pass in `folder` (reused if present)."""
    name = product_name(manifest)
    target = folder / f"{name}.zip"
    if target.exists():
        return target
    when = parse_manifest(manifest).start
    staging = folder / f".{name}.tmp"
    dn = {pol: _digital_numbers(when, pol) for pol in ("vv", "vh")}
    safe = write_grd_safe(staging, name, manifest, dn, sigma=SIGMA, geometry=GEOMETRY)
    zip_safe(safe, target)
    shutil.rmtree(staging)
    return target


def build(folder: Path, progress: Callable[[int, int], None] | None = None) -> DemoWorld:
    """Write products, catalogue and payload under `folder` (products already there are reused)."""
    products_dir = folder / "products"
    products_dir.mkdir(parents=True, exist_ok=True)
    original = _manifest()
    items, products = [], []
    for cycle in range(PASSES):
        manifest = repeat_pass(original, cycle)
        zipped = write_product(manifest, products_dir)
        products.append(zipped)
        items.append(item(parse_manifest(manifest), product_name(manifest), zipped))
        if progress is not None:
            progress(cycle + 1, PASSES)
    return write_world(folder, items, products, payload())


def prepare_index(index: Index) -> None:
    """The variable and instances the payload's `layers` point to (idempotent)."""
    prepare_layers(index, LAYERS.values())
