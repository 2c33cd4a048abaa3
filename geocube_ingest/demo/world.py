"""What every demo world is: products, a static catalogue, a payload and the layers it indexes."""

from __future__ import annotations

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
    """Settings for a demo world: its catalogue, and the scenes' own links as download provider."""
    return {
        "catalogue": {"providers": [{"name": "demo", "kind": "stac-static", "url": str(world.catalogue)}]},
        "download": {"providers": [{"name": "scene-links", "kind": "url"}]},
    }
