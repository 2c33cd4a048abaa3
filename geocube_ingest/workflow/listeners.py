"""Who else must know when tiles' layers stop or start counting.

The workflow decides which tiles are DONE; what was indexed from them lives elsewhere (the
index, STAC). The workflow does not import the index: whoever knows both registers a
listener (`Workflow.add_listener`), called once a change is committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from geocube_ingest.workflow.models import Tile


@runtime_checkable
class TileListener(Protocol):
    def tiles_withdrawn(self, tiles: Sequence[Tile]) -> None:
        """These tiles left DONE or FAILED: their layers must no longer be served."""
        ...

    def tiles_done(self, tiles: Sequence[Tile]) -> None:
        """An operator made these tiles DONE (force, or RETRY→DONE): their layers count again.

        Tiles a worker reports DONE are not announced: their processing has just indexed them.
        """
        ...
