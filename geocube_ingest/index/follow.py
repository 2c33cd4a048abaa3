"""The index follows the workflow: the layers of a tile that is no longer DONE are not served.

A tile's layers are the datasets indexed from the files in its folder
(`<storage>/<aoi>/<scene>/tiles/<tile>/`, where processing writes them): when the tile fails
or is forced away from DONE they are withdrawn and the STAC items of their records published
again without them (so `open_cube` no longer returns them); forced back to DONE they count
again, and processing the tile again indexes them again. Files are never deleted here.

The workflow calls `IndexFollower` as a listener (`Workflow.add_listener`), after each commit:
whoever knows both the workflow and the index (the API, the CLI, a run) registers it.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence

from geocube_ingest import storage
from geocube_ingest.index.base import Index
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Tile, Workflow

log = logging.getLogger(__name__)


class IndexFollower:
    """A `TileListener` withdrawing and bringing back the layers of tiles in the index and in STAC."""

    def __init__(self, index: Callable[[], Index], settings: Settings):
        # The index is opened when first needed (a Geocube server is only reached then).
        self._index = index
        self.settings = settings

    def tiles_withdrawn(self, tiles: Sequence[Tile]) -> None:
        self._set(tiles, withdrawn=True)

    def tiles_done(self, tiles: Sequence[Tile]) -> None:
        self._set(tiles, withdrawn=False)

    def _set(self, tiles: Sequence[Tile], *, withdrawn: bool) -> None:
        from geocube_ingest.index.embedded import EmbeddedIndex
        from geocube_ingest.index.stac import has_items, publish_collection

        index = self._index()
        if not isinstance(index, EmbeddedIndex):
            # A Geocube server keeps its datasets: its own API has to archive them.
            log.warning("the index (%r) cannot withdraw layers: tiles %s keep theirs", index, [t.id for t in tiles])
            return
        folders: dict[tuple[str, str], list[str]] = defaultdict(list)
        for tile in tiles:
            root = storage.resolve_storage_uri(tile.scene_data, settings=self.settings)
            folders[(tile.aoi, root)].append(
                storage.tile_folder_uri(root, tile.aoi, tile.scene_source_id, tile.source_id)
            )
        for (aoi, root), wanted in sorted(folders.items()):
            records = index.withdraw_datasets(wanted, withdrawn)
            # An AOI never published gets its collection, without withdrawn layers, when its run ends.
            if records and has_items(index, aoi):
                publish_collection(index, aoi, storage_uri=root, record_ids=sorted(records), settings=self.settings)
                log.info(
                    "%s the layers of %d tile(s) of %s (%d record(s))",
                    "withdrew" if withdrawn else "brought back",
                    len(wanted),
                    aoi,
                    len(records),
                )


def follow(workflow: Workflow, settings: Settings, index: Callable[[], Index] | None = None) -> Workflow:
    """Make the index (by default the configured one, opened when first needed) follow this
    workflow's status changes; returns the workflow."""
    if index is None:
        from geocube_ingest.index.factory import get_index

        index = functools.cache(lambda: get_index(settings))
    workflow.add_listener(IndexFollower(index, settings))
    return workflow
