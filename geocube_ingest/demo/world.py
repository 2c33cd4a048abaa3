"""What every demo world is: products, a static catalogue, a payload and the layers it indexes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from geocube_ingest.index import Index

SETTINGS_FILE = "settings.toml"


@dataclass(frozen=True, slots=True)
class DemoWorld:
    folder: Path
    catalogue: Path
    payload_path: Path
    payload: dict[str, Any]
    products: list[Path]

    @property
    def settings_path(self) -> Path:
        """The settings of `overrides` as a file: `GEOCUBE_INGEST_CONFIG` pointing at it makes the
        CLI, the API and Python search this world's catalogue instead of the internet's."""
        return self.folder / SETTINGS_FILE


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
    """The static catalogue (an ItemCollection), the payload and the settings files next to the products."""
    catalogue = folder / "catalogue.json"
    catalogue.write_text(json.dumps({"type": "FeatureCollection", "features": items}, indent=1))
    payload_path = folder / f"{payload['name']}.json"
    payload_path.write_text(json.dumps(payload, indent=2))
    world = DemoWorld(folder, catalogue, payload_path, payload, products)
    usage = f"GEOCUBE_INGEST_CONFIG={world.settings_path} geocube-ingest ingest {payload_path}"
    world.settings_path.write_text(f"# The demo's settings: {usage}\n" + tomli_w.dumps(overrides(world)))
    return world


def prepare_layers(index: Index, layers: Iterable[Layer]) -> None:
    """The variables and instances a payload's `layers` point to (idempotent)."""
    for layer in layers:
        layer.prepare(index)
