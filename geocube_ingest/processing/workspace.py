"""The three slots of a graph run and the local files of its scratch folder.

Files are named as upstream does in its working directory: `<YYYYMMDD>_<tile>_<layer>.<ext>`
of the slot's tile, and the product `<scene>.<ext>`. Inputs imported from storage and the
product handed over by the download job are registered under their real local path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geocube_ingest.errors import FatalError
from geocube_ingest.processing.graph import ANY_EXTENSION, PRODUCT_LAYER, is_product
from geocube_ingest.workflow.models import Scene, Tile

if TYPE_CHECKING:
    from geocube_ingest.processing.cog import DeferredCog


def _parse_date(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class SlotTile:
    """What a graph needs to know of the tile in one slot."""

    aoi: str
    scene_source_id: str
    tile_source_id: str
    date: datetime
    scene_data: Mapping[str, Any]
    tile_data: Mapping[str, Any]
    storage_uri: str
    tile_id: int | None = None

    def uri(self, layer: str, ext: str) -> str:
        """Where `layer.ext` of this tile is stored (SPEC section 6 layout)."""
        from geocube_ingest import storage

        return storage.tile_output_uri(
            self.storage_uri,
            self.aoi,
            self.scene_source_id,
            self.tile_source_id,
            self.date,
            stored_layer(layer),
            ext,
        )

    @classmethod
    def from_tile(cls, tile: Tile, storage_uri: str) -> SlotTile:
        date = tile.date or _parse_date(tile.scene_data.get("date"))
        if date is None:
            raise FatalError(f"tile {tile.id} ({tile.source_id}) has no acquisition date")
        return cls(
            aoi=tile.aoi,
            scene_source_id=tile.scene_source_id,
            tile_source_id=tile.source_id,
            date=date if date.tzinfo else date.replace(tzinfo=UTC),
            scene_data=tile.scene_data,
            tile_data=tile.data,
            storage_uri=storage_uri,
            tile_id=tile.id,
        )

    @property
    def constellation(self) -> str:
        """From the scene data when the catalogue put it there, else from the product name."""
        for source in (self.scene_data, self.scene_data.get("metadata") or {}):
            value = source.get("constellation") if isinstance(source, Mapping) else None
            if value:
                return str(value).upper()
        name = self.scene_source_id.upper()
        if name.startswith("S1"):
            return "SENTINEL1"
        if name.startswith("S2"):
            return "SENTINEL2"
        if name.startswith(("LC08", "LC09", "LO08", "LO09")):
            return "LANDSAT89"
        return ""


def scene_slot(scene: Scene, tile: Tile, storage_uri: str) -> SlotTile:
    """The slot of a tile while its scene graph runs at download time."""
    date = tile.date or scene.date or _parse_date(scene.data.get("date"))
    if date is None:
        raise FatalError(f"scene {scene.source_id} has no acquisition date")
    return SlotTile(
        aoi=scene.aoi,
        scene_source_id=scene.source_id,
        tile_source_id=tile.source_id,
        date=date if date.tzinfo else date.replace(tzinfo=UTC),
        scene_data=scene.data,
        tile_data=tile.data,
        storage_uri=storage_uri,
        tile_id=tile.id,
    )


def stored_layer(layer: str) -> str:
    return PRODUCT_LAYER if is_product(layer) else layer


def _safe(part: str) -> str:
    # Source ids never hold separators; guard anyway so no name escapes the folder.
    return part.replace("/", "_").replace("\\", "_")


@dataclass
class Workspace:
    root: Path
    slots: list[SlotTile]
    _files: dict[tuple[int, str, str], Path] = field(default_factory=dict)
    # The downloaded product, handed to scene graphs: every product layer of every slot.
    product: Path | None = None
    # Outputs written straight to their final URL, there once the job commits them: kept
    # outputs that no step reads (`processing.job.deferred_outputs`).
    deferred: dict[Path, DeferredCog] = field(default_factory=dict)

    def key(self, slot: int, layer: str, ext: str) -> tuple[int, str, str]:
        return (slot, stored_layer(layer), ext)

    def default_name(self, slot: int, layer: str, ext: str) -> str:
        tile = self.slots[slot]
        suffix = "" if ext in ("", ANY_EXTENSION) else f".{ext}"
        if is_product(layer):
            return _safe(tile.scene_source_id) + suffix
        return f"{tile.date:%Y%m%d}_{_safe(tile.tile_source_id)}_{_safe(layer)}{suffix}"

    def path(self, slot: int, layer: str, ext: str) -> Path:
        """The local file of `layer.ext` in `slot` (registered, else its default name)."""
        if self.product is not None and is_product(layer):
            return self.product
        registered = self._files.get(self.key(slot, layer, ext))
        return registered if registered is not None else self.root / self.default_name(slot, layer, ext)

    def register(self, slot: int, layer: str, ext: str, path: Path) -> None:
        self._files[self.key(slot, layer, ext)] = path

    def is_registered(self, slot: int, layer: str, ext: str) -> bool:
        return (self.product is not None and is_product(layer)) or self.key(slot, layer, ext) in self._files

    def destination(self, path: Path) -> Path | DeferredCog:
        """Where a step writes the output whose local file is `path`: the file, or its final URL."""
        return self.deferred.get(Path(path), path)

    def exists(self, path: Path) -> bool:
        """Was the output of local file `path` produced (here, or at its final URL, uncommitted)?"""
        deferred = self.deferred.get(path)
        return path.exists() or (deferred is not None and deferred.pending is not None)
