"""What every demo world is: products, a static catalogue, a payload and the layers it indexes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geocube_ingest.index import Index


@dataclass(frozen=True, slots=True)
class DemoWorld:
    folder: Path
    catalogue: Path
    payload_path: Path
    payload: dict[str, Any]
    products: list[Path]


@dataclass(frozen=True, slots=True)
class Layer:
    """A payload layer's variable and instance, created in the index before the ingestion."""

    variable: str
    instance: str
    dformat: str
    description: str

    def prepare(self, index: Index) -> None:
        index.create_variable(self.variable, self.dformat, description=self.description, exist_ok=True)
        index.instantiate(self.variable, self.instance, exist_ok=True)


def overrides(world: DemoWorld) -> dict[str, Any]:
    """Settings for a demo world: its catalogue, the scenes' own links as download provider, and
    its folder as one where links may point (they are `file://` links to its products)."""
    return {
        "catalogue": {"providers": [{"name": "demo", "kind": "stac-static", "url": str(world.catalogue)}]},
        "download": {"providers": [{"name": "scene-links", "kind": "url"}]},
        "security": {"file_roots": [str(world.folder.resolve())]},
    }


def product_asset(zipped: Path) -> dict[str, Any]:
    """The STAC asset the `url` download provider fetches: the zipped SAFE on local disk."""
    return {
        "href": zipped.resolve().as_uri(),
        "type": "application/zip",
        "roles": ["data"],
        "title": "Zipped SAFE product",
    }


def write_world(folder: Path, items: list[dict[str, Any]], products: list[Path], payload: dict[str, Any]) -> DemoWorld:
    """The static catalogue (an ItemCollection) and the payload file next to the products."""
    catalogue = folder / "catalogue.json"
    catalogue.write_text(json.dumps({"type": "FeatureCollection", "features": items}, indent=1))
    payload_path = folder / f"{payload['name']}.json"
    payload_path.write_text(json.dumps(payload, indent=2))
    return DemoWorld(folder, catalogue, payload_path, payload, products)


def prepare_layers(index: Index, layers: Iterable[Layer]) -> None:
    """The variables and instances a payload's `layers` point to (idempotent)."""
    for layer in layers:
        layer.prepare(index)
