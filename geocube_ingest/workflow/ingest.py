"""Adding scenes and their tiles to an AOI's graph.

Re-posting a scene the AOI already has is a no-op. Links name tiles by source ids and
must point at tiles that exist (in this batch or already in the AOI) and are not FAILED;
any bad link rejects the whole batch, so nothing is half-created.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from geocube_ingest.errors import InvalidInput
from geocube_ingest.status import Status
from geocube_ingest.workflow.models import IngestResult, NewScene, Relink, TileKey
from geocube_ingest.workflow.tables import SceneRow, TileRow
from geocube_ingest.workflow.transitions import Changes, Ref, chunks, dispatch_ready_tiles, set_status


def parse_date(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("z", "Z"))
    except ValueError:
        raise InvalidInput(f"invalid date {value!r}: expected RFC 3339") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _validate(scenes: Sequence[NewScene]) -> list[NewScene]:
    unique: dict[str, NewScene] = {}
    for scene in scenes:
        if not scene.source_id:
            raise InvalidInput("a scene has an empty source_id")
        if not scene.tiles:
            raise InvalidInput(f"scene {scene.source_id} has no tiles")
        if scene.retry_countdown < 0:
            raise InvalidInput(f"scene {scene.source_id}: retry countdown must be >= 0")
        names = [t.source_id for t in scene.tiles]
        if "" in names:
            raise InvalidInput(f"scene {scene.source_id} has a tile with an empty source_id")
        if len(set(names)) != len(names):
            raise InvalidInput(f"scene {scene.source_id} lists the same tile twice")
        for tile in scene.tiles:
            if tile.reference is not None and tile.previous is None:
                raise InvalidInput(f"tile {scene.source_id}/{tile.source_id}: a reference needs a previous tile")
            if tile.previous == TileKey(scene.source_id, tile.source_id):
                raise InvalidInput(f"tile {scene.source_id}/{tile.source_id} cannot be its own previous")
        # The first occurrence wins; a repeated scene in one request is as idempotent as a re-post.
        unique.setdefault(scene.source_id, scene)
    return list(unique.values())


def _lookup(ch: Changes, aoi: str, keys: set[TileKey]) -> dict[TileKey, tuple[int, Status, int | None, int | None]]:
    """id, status, prev and ref of the named tiles already in the AOI."""
    found: dict[TileKey, tuple[int, Status, int | None, int | None]] = {}
    by_scene: dict[str, set[str]] = {}
    for key in keys:
        by_scene.setdefault(key.scene, set()).add(key.tile)
    scene_names = sorted(by_scene)
    for batch in chunks(scene_names):
        rows = ch.session.execute(
            select(SceneRow.source_id, TileRow.source_id, TileRow.id, TileRow.status, TileRow.prev, TileRow.ref)
            .join(SceneRow, SceneRow.id == TileRow.scene_id)
            .where(SceneRow.aoi_id == aoi, SceneRow.source_id.in_(batch))
        )
        for scene_sid, tile_sid, tid, status, prev, ref in rows:
            if tile_sid in by_scene[scene_sid]:
                found[TileKey(scene_sid, tile_sid)] = (tid, Status(status), prev, ref)
    return found


def ingest(ch: Changes, aoi: str, scenes: Sequence[NewScene], relinks: Sequence[Relink] = ()) -> IngestResult:
    scenes = _validate(scenes)
    session = ch.session

    existing: dict[str, int] = {}
    names = [s.source_id for s in scenes]
    for batch in chunks(names):
        for sid, scene_id in session.execute(
            select(SceneRow.source_id, SceneRow.id).where(SceneRow.aoi_id == aoi, SceneRow.source_id.in_(batch))
        ):
            existing[sid] = scene_id
    new_scenes = [s for s in scenes if s.source_id not in existing]

    # Resolve every link before writing anything.
    new_keys = {TileKey(s.source_id, t.source_id) for s in new_scenes for t in s.tiles}
    wanted: set[TileKey] = {r.tile for r in relinks}
    for s in new_scenes:
        for t in s.tiles:
            wanted.update(k for k in (t.previous, t.reference) if k is not None)
    for r in relinks:
        wanted.update(k for k in (r.previous, r.reference) if k is not None)
    known = _lookup(ch, aoi, wanted - new_keys)
    for key in sorted(wanted - new_keys, key=str):
        if key not in known:
            raise InvalidInput(f"tile {key} does not exist in AOI {aoi!r}")
        if known[key][1] == Status.FAILED:
            raise InvalidInput(f"tile {key} is FAILED: it cannot be linked to")

    scene_ids: dict[str, int] = {}
    if new_scenes:
        rows = [
            {
                "aoi_id": aoi,
                "source_id": s.source_id,
                "status": Status.PENDING.value,
                "message": "",
                "data": s.data,
                "date": s.date or parse_date(s.data.get("date")),
                "footprint": s.footprint,
                "retry_countdown": s.retry_countdown,
                "attempt": 0,
                "created_at": ch.now,
                "updated_at": ch.now,
            }
            for s in new_scenes
        ]
        for batch in chunks(rows, 1000):
            for sid, scene_id in session.execute(
                insert(SceneRow).returning(SceneRow.source_id, SceneRow.id), list(batch)
            ):
                scene_ids[sid] = scene_id

    tile_rows = [
        {
            "scene_id": scene_ids[s.source_id],
            "aoi_id": aoi,
            "source_id": t.source_id,
            "status": Status.NEW.value,
            "message": "",
            "data": t.data,
            "footprint": t.footprint,
            "retry_countdown": s.retry_countdown,
            "attempt": 0,
            "created_at": ch.now,
            "updated_at": ch.now,
        }
        for s in new_scenes
        for t in s.tiles
    ]
    by_scene_id = {v: k for k, v in scene_ids.items()}
    tile_ids: dict[TileKey, int] = {}
    for batch in chunks(tile_rows, 1000):
        for scene_id, tsid, tid in session.execute(
            insert(TileRow).returning(TileRow.scene_id, TileRow.source_id, TileRow.id), list(batch)
        ):
            tile_ids[TileKey(by_scene_id[scene_id], tsid)] = tid

    relinked = _apply_links(ch, aoi, new_scenes, relinks, tile_ids, known)

    for scene_id in scene_ids.values():
        ch.event("scene", Ref(scene_id, aoi, Status.NEW), Status.PENDING, "ingested: download due", created=True)
    for tid in tile_ids.values():
        ch.event("tile", Ref(tid, aoi, Status.NEW), Status.NEW, "ingested", created=True)

    return IngestResult(
        aoi=aoi,
        created=sorted(scene_ids.values()),
        existing=sorted(existing.values()),
        tiles_created=len(tile_ids),
        relinked=relinked,
    )


def _check_acyclic(graph: dict[int, int | None], starts: list[int]) -> None:
    """Links must not make a tile its own ancestor, through new or existing tiles."""
    state: dict[int, int] = {}  # 1 = on the current path, 2 = known acyclic
    for start in starts:
        path: list[int] = []
        node: int | None = start
        while node is not None and state.get(node) != 2:
            if state.get(node) == 1:
                raise InvalidInput(f"links would make tile {node} its own ancestor")
            state[node] = 1
            path.append(node)
            node = graph.get(node)
        for item in path:
            state[item] = 2


Known = dict[TileKey, tuple[int, Status, int | None, int | None]]


def _apply_links(
    ch: Changes,
    aoi: str,
    new_scenes: Sequence[NewScene],
    relinks: Sequence[Relink],
    tile_ids: dict[TileKey, int],
    known: Known,
) -> int:
    """Set previous/reference of new tiles and re-wire relinked ones; returns the relink count.

    A tile's reference is the root of its chain unless the caller names one, so inserting
    an older acquisition in front of a chain (backfill) re-points the whole chain at it.
    """

    def tile_id(key: TileKey) -> int:
        return tile_ids[key] if key in tile_ids else known[key][0]

    prev_links: dict[int, int | None] = {}
    explicit_ref: dict[int, int] = {}
    for s in new_scenes:
        for t in s.tiles:
            if t.previous is not None:
                tid = tile_ids[TileKey(s.source_id, t.source_id)]
                prev_links[tid] = tile_id(t.previous)
                if t.reference is not None:
                    explicit_ref[tid] = tile_id(t.reference)
    relinked_ids = []
    for r in relinks:
        tid = known[r.tile][0]
        prev_links[tid] = tile_id(r.previous) if r.previous else None
        if r.reference is not None:
            explicit_ref[tid] = tile_id(r.reference)
        relinked_ids.append(tid)
    if not prev_links:
        return 0

    graph: dict[int, int | None] = dict(
        ch.session.execute(select(TileRow.id, TileRow.prev).where(TileRow.aoi_id == aoi)).all()
    )
    graph.update(prev_links)
    _check_acyclic(graph, list(prev_links))

    children: dict[int, list[int]] = {}
    for child, parent in graph.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    # Everything downstream of a re-wired tile may have a new root.
    affected = set(prev_links) | _descendants(children, relinked_ids)

    roots: dict[int, int] = {}

    def root(tid: int) -> int:
        path = []
        node = tid
        while graph.get(node) is not None and node not in roots:
            path.append(node)
            node = graph[node]  # type: ignore[assignment]
        top = roots.get(node, node)
        for item in path:
            roots[item] = top
        return top

    updates = []
    for tid in sorted(affected):
        prev = graph.get(tid)
        ref = explicit_ref.get(tid, None if prev is None else root(tid))
        updates.append({"id": tid, "prev": prev, "ref": ref})
    for batch in chunks(updates, 1000):
        ch.session.execute(update(TileRow), list(batch))
    # A tile whose previous changed, and every tile after it, was (or is being) processed
    # with other inputs (previous outputs, reference): back to NEW, voiding running leases.
    statuses: dict[int, str] = {}
    for batch in chunks(sorted(affected)):
        statuses.update(ch.session.execute(select(TileRow.id, TileRow.status).where(TileRow.id.in_(batch))).all())
    changed = []
    for r in relinks:
        tid, status, old_prev, _ref = known[r.tile]
        ch.event("tile", Ref(tid, aoi, status), status, f"re-linked: previous is now {r.previous or 'none'}")
        if graph.get(tid) != old_prev:
            changed.append(tid)
    redo = sorted(
        tid
        for tid in set(changed) | _descendants(children, changed)
        if statuses.get(tid) not in (None, Status.NEW.value, Status.FAILED.value)
    )
    rewound = [Ref(tid, aoi, Status(statuses[tid])) for tid in redo]
    set_status(
        ch,
        "tile",
        rewound,
        Status.NEW,
        message="",
        event_message="to be processed again: its time series was re-linked",
    )
    # An existing tile re-linked to a tile that is already DONE may be ready now.
    dispatch_ready_tiles(ch, tile_ids=sorted(set(relinked_ids) | set(redo)), reason="ready: re-linked to a done tile")
    return len(relinked_ids)


def _descendants(children: dict[int, list[int]], starts: Sequence[int]) -> set[int]:
    found: set[int] = set()
    stack = list(starts)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found
