"""The demo's world: a local catalogue of ten Sentinel-2 L2A acquisitions, and the payload.

Everything lives in `<home>/demo/`: the products (zipped SAFE), a static STAC catalogue
(an ItemCollection whose `product` assets point at them) and the payload. The catalogue
and download providers are the product's own (`stac-static`, `url`): the demo takes the
same code path as a real ingestion.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from pyproj import Transformer

from geocube_ingest.demo.products import EPSG, window_around, write_product
from geocube_ingest.demo.world import DemoWorld, Layer, overrides, prepare_layers, product_asset, write_world
from geocube_ingest.index import Index

__all__ = ["AOI_NAME", "LAYERS", "DemoWorld", "build", "overrides", "payload", "prepare_index"]

AOI_NAME = "LongmontDemoS2"
CENTER = (-105.06, 40.16)  # fields east of Longmont, Colorado, in MGRS tile 13TDE
AOI_HALF_SIZE_DEG = (0.022, 0.017)  # about 3.7 km x 3.8 km
WINDOW_M = 6000.0
LAYERS = {
    "ndvi": Layer("NDVI", "demo", "float32,nan,-1,1", "NDVI of clear pixels (clouds and shadows masked)"),
    "ndvi_change_previous": Layer("NDVIChange", "previous", "float32,nan,-2,2", "NDVI change since the previous one"),
    "ndvi_change_reference": Layer("NDVIChange", "reference", "float32,nan,-2,2", "NDVI change since the first one"),
}


def _items() -> list[dict[str, Any]]:
    text = resources.files("geocube_ingest.demo").joinpath("data/items_T13TDE.json").read_text()
    return list(json.loads(text)["features"])


def aoi_geometry() -> dict[str, Any]:
    """A box of AOI_HALF_SIZE_DEG around CENTER, rounded: the README shows this payload."""
    (lon, lat), (dx, dy) = CENTER, AOI_HALF_SIZE_DEG
    west, south, east, north = (round(v, 6) for v in (lon - dx, lat - dy, lon + dx, lat + dy))
    ring = [[east, south], [east, north], [west, north], [west, south], [east, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def payload(storage_uri: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": AOI_NAME,
        "type": "Feature",
        "geometry": aoi_geometry(),
        "start_time": "2024-03-30T00:00:00Z",
        "end_time": "2024-04-23T00:00:00Z",
        "scene_type": {
            "constellation": "sentinel2",
            "parameters": {"producttype": "L2A", "cloudcoverpercentage": "[0 TO 90]"},
        },
        "scene_graph_name": "CopyProductToStorage",
        "tile_graph_name": "ChangeFromPrevious",
        "graph_config": {"mask_classes": "3,8,9,10"},
        "layers": {name: {"variable": layer.variable, "instance": layer.instance} for name, layer in LAYERS.items()},
        "record_tags": {"source": "geocube-ingest demo", "area": "Longmont"},
        "is_retriable": True,
        "retry_count": 1,
    }
    if storage_uri:
        body["storage_uri"] = storage_uri
    return body


def build(folder: Path, progress: Callable[[int, int], None] | None = None) -> DemoWorld:
    """Write products, catalogue and payload under `folder` (products already there are reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    products_dir = folder / "products"
    products_dir.mkdir(exist_ok=True)
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True).transform(*CENTER)
    window = window_around(x, y, WINDOW_M)
    items = _items()
    products = []
    for n, item in enumerate(items, 1):
        zipped = write_product(item, window, products_dir)
        products.append(zipped)
        item["assets"] = {"product": product_asset(zipped)}
        if progress is not None:
            progress(n, len(items))
    return write_world(folder, items, products, payload())


def prepare_index(index: Index) -> None:
    """The variables and instances the demo payload's `layers` point to (idempotent)."""
    prepare_layers(index, LAYERS.values())
