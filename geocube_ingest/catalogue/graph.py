"""Time series of tiles: previous = the acquisition just before at the same location, reference = the first.

Tiles already in the AOI (not FAILED: those have left their chains) take part:
- a new acquisition after the existing ones chains onto the last of them (append);
- a new acquisition older than some existing ones is inserted (backfill): the existing tile
  that now follows it gets it as previous, which is returned as a re-wired tile (`ingested`),
  and the workflow recomputes the references down that chain.
Links between existing tiles are otherwise left as they are. Tiles of different locations
(burst ids, MGRS tiles, path-rows) are never linked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import shapely

from geocube_ingest.catalogue.models import CatalogueTile, TileRef
from geocube_ingest.status import Status
from geocube_ingest.workflow.models import Tile


@dataclass(slots=True)
class _Node:
    ref: TileRef
    new: CatalogueTile | None  # None for a tile already in the workflow
    existing: Tile | None
    previous: _Node | None = None
    relinked: bool = False

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.ref.date or datetime.min, self.ref.scene)


def _existing_nodes(existing: Sequence[Tile]) -> tuple[list[_Node], dict[int, _Node]]:
    nodes, by_id = [], {}
    for tile in existing:
        if tile.status == Status.FAILED or tile.date is None:
            continue
        node = _Node(TileRef(tile.scene_source_id, tile.source_id, tile.date), None, tile)
        nodes.append(node)
        by_id[tile.id] = node
    for node in nodes:
        assert node.existing is not None
        node.previous = by_id.get(node.existing.previous_id) if node.existing.previous_id else None
    return nodes, by_id


def _root(node: _Node, roots: dict[int, _Node]) -> _Node:
    """The first tile of the node's chain (memoised: chains share their roots)."""
    path = []
    seen = set()
    while node.previous is not None and id(node) not in roots and id(node) not in seen:
        seen.add(id(node))
        path.append(node)
        node = node.previous
    root = roots.get(id(node), node)
    for item in path:
        roots[id(item)] = root
    return root


def link_tiles(new: Sequence[CatalogueTile], existing: Sequence[Tile] = (), link: bool = True) -> list[CatalogueTile]:
    """Set previous/reference of the new tiles; return the existing tiles a backfill re-wires."""
    for tile in new:
        tile.previous = tile.reference = None
    if not link:
        return []
    existing_nodes, _ = _existing_nodes(existing)
    series: dict[str, list[_Node]] = defaultdict(list)
    for node in existing_nodes:
        series[node.ref.tile].append(node)
    for tile in new:
        series[tile.location].append(_Node(tile.ref, tile, None))

    for nodes in series.values():
        nodes.sort(key=lambda n: n.order)
        for before, node in zip([None, *nodes], nodes, strict=False):
            if node.new is not None:
                node.previous = before
            elif before is not None and before.new is not None:
                node.previous, node.relinked = before, True  # backfill: a new tile now comes first

    relinked: list[CatalogueTile] = []
    roots: dict[int, _Node] = {}
    for nodes in series.values():
        for node in nodes:
            reference = _root(node, roots).ref if node.previous is not None else None
            previous = node.previous.ref if node.previous is not None else None
            if node.new is not None:
                node.new.previous, node.new.reference = previous, reference
            elif node.relinked and node.existing is not None:
                old = node.existing
                relinked.append(
                    CatalogueTile(
                        source_id=old.source_id,
                        scene_source_id=old.scene_source_id,
                        date=node.ref.date or datetime.min,
                        footprint=shapely.from_wkt(old.footprint) if old.footprint else None,
                        data=dict(old.data),
                        previous=previous,
                        reference=reference,
                        ingested=True,
                        id=old.id,
                    )
                )
    return relinked
