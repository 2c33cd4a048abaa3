"""Builders for workflow tests: time series of scenes with one tile per location."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from geocube_ingest.workflow import NewScene, NewTile, Outcome, TileKey, Workflow

T0 = datetime(2022, 1, 4, 10, 30, tzinfo=UTC)


def scene_name(i: int) -> str:
    return f"S{i:03d}"


def series(
    n_scenes: int,
    locations: Sequence[str] = ("b1",),
    *,
    start: int = 0,
    linked: bool = True,
    retry_countdown: int = 0,
    step_days: int = 12,
) -> list[NewScene]:
    """Scenes start..start+n-1, each with a tile per location, chained to the scene before."""
    scenes = []
    for i in range(start, start + n_scenes):
        date = T0 + timedelta(days=step_days * i)
        tiles = [
            NewTile(
                loc,
                {"swath_id": "", "tile_nr": k, "graph_name": "Pass"},
                previous=TileKey(scene_name(i - 1), loc) if linked and i > 0 else None,
                footprint=f"POLYGON(({k} 0, {k + 1} 0, {k + 1} 1, {k} 1, {k} 0))",
            )
            for k, loc in enumerate(locations)
        ]
        scenes.append(
            NewScene(
                scene_name(i),
                {"date": date.isoformat(), "graph_name": "CopyProductToStorage"},
                tiles,
                footprint="POLYGON((0 0, 3 0, 3 1, 0 1, 0 0))",
                retry_countdown=retry_countdown,
            )
        )
    return scenes


def tile_id(wf: Workflow, aoi: str, scene: str, tile: str) -> int:
    for t in wf.tiles(aoi):
        if t.scene_source_id == scene and t.source_id == tile:
            return t.id
    raise KeyError((scene, tile))


def scene_id(wf: Workflow, aoi: str, scene: str) -> int:
    for s in wf.scenes(aoi):
        if s.source_id == scene:
            return s.id
    raise KeyError(scene)


def statuses(wf: Workflow, aoi: str) -> dict[str, str]:
    """scene/tile → status, e.g. {"S000": "DONE", "S000/b1": "PENDING"}."""
    out = {s.source_id: s.status.value for s in wf.scenes(aoi)}
    out.update({f"{t.scene_source_id}/{t.source_id}": t.status.value for t in wf.tiles(aoi)})
    return out


def download_all(wf: Workflow, aoi: str | None = None) -> int:
    """Claim every due download and report it done; returns how many."""
    done = 0
    while leases := wf.claim("scene", "test-downloader", aoi=aoi):
        assert all(wf.report_many([(lease, Outcome.done()) for lease in leases]))
        done += len(leases)
    return done


def process_all(wf: Workflow, aoi: str | None = None) -> list[str]:
    """Claim and complete every runnable tile, in waves; returns 'scene/tile' in completion order."""
    order = []
    while leases := wf.claim("tile", "test-processor", aoi=aoi):
        for lease in leases:
            tile = wf.tile(lease.id)
            order.append(f"{tile.scene_source_id}/{tile.source_id}")
        assert all(wf.report_many([(lease, Outcome.done()) for lease in leases]))
    return order
