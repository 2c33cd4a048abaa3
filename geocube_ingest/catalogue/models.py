"""Scenes and tiles as the catalogue builds them, before they become workflow rows.

`CatalogueScene.data` is upstream's `Scene.data` (SPEC section 4 and CONTRACTS.md);
`CatalogueTile.data` is upstream's `Tile.data` plus the keys the catalogue adds
(`location`, and for Sentinel-1 bursts `burst_id`, `absolute_burst_id`, `relative_orbit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from geocube_ingest.catalogue.dates import rfc3339
from geocube_ingest.workflow.models import TileKey

# Keys of `data` that CatalogueScene holds as fields; any other key is kept in `extra`.
SCENE_DATA_KEYS = (
    "uuid",
    "date",
    "tiles",
    "graph_name",
    "graph_config",
    "record_id",
    "metadata",
    "is_retriable",
    "storage_uri",
)

# progress(done, total, message): long work reports here (the CLI draws a bar).
Progress = Callable[[int, int | None, str], None]


@dataclass(slots=True)
class CatalogueScene:
    source_id: str
    date: datetime
    footprint: BaseGeometry | None
    uuid: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    aoi: str = ""
    id: int = 0
    graph_name: str = ""
    graph_config: dict[str, str] = field(default_factory=dict)
    is_retriable: bool = False
    record_id: str = ""
    storage_uri: str = ""
    # tile source id -> {"swath_id", "tile_nr"}: filled by list_tiles.
    tiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Other keys of `data` (e.g. "instances_id" in a hand-edited file), kept as given.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def wkt(self) -> str:
        return self.footprint.wkt if self.footprint is not None else ""

    @property
    def data(self) -> dict[str, Any]:
        """Upstream's scene data; `tiles` only once tiles are known."""
        body: dict[str, Any] = {
            "date": rfc3339(self.date),
            "graph_config": dict(self.graph_config),
            "graph_name": self.graph_name,
            "is_retriable": self.is_retriable,
            "metadata": self.metadata,
            "record_id": self.record_id,
            "storage_uri": self.storage_uri,
            "uuid": self.uuid,
        }
        if self.tiles:
            body["tiles"] = {k: dict(v) for k, v in self.tiles.items()}
        body.update(self.extra)
        return body


@dataclass(frozen=True, slots=True)
class TileRef:
    """A tile named by its scene and its own source id, with its date (upstream's TileLite)."""

    scene: str
    tile: str
    date: datetime | None = None

    @property
    def key(self) -> TileKey:
        return TileKey(self.scene, self.tile)


@dataclass(slots=True)
class CatalogueTile:
    source_id: str  # the location key: ESA burst id (S1), MGRS tile (S2), path-row (Landsat)
    scene_source_id: str
    date: datetime
    footprint: BaseGeometry | None
    data: dict[str, Any] = field(default_factory=dict)
    previous: TileRef | None = None
    reference: TileRef | None = None
    # The scene it belongs to (None for a tile already in the workflow).
    scene: CatalogueScene | None = None
    # True for a tile already in the workflow, listed because backfill re-wires it.
    ingested: bool = False
    id: int = 0  # workflow id of an ingested tile

    @property
    def key(self) -> TileKey:
        return TileKey(self.scene_source_id, self.source_id)

    @property
    def ref(self) -> TileRef:
        return TileRef(self.scene_source_id, self.source_id, self.date)

    @property
    def location(self) -> str:
        """Tiles of one location form a time series; the source id is chosen to be that location."""
        return self.source_id


@dataclass(slots=True)
class SceneSearch:
    scenes: list[CatalogueScene]
    next: bool  # more scenes exist after this page
    provider: str = ""  # name of the provider that answered
    warnings: list[str] = field(default_factory=list)  # items skipped, with why
    # (scene, why) of scenes found but left out: filters, reprocessed, outside the AOI.
    dropped: list[tuple[str, str]] = field(default_factory=list)
