"""Time series against a real workflow (SQLite and PostgreSQL): chains, appending, backfill, failed tiles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from geocube_ingest.catalogue import list_tiles, scenes_of, tiles_from_geojson, tiles_to_geojson, to_workflow
from geocube_ingest.catalogue.graph import link_tiles
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.search import finish_scene
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import TileKey, Workflow
from tests.catalogue.helpers import S1_NAME, repeat_pass, s1_payload, s2_payload, s2_scene

PAYLOAD = s2_payload()


def day(month: int, d: int, year: int = 2024) -> CatalogueScene:
    return finish_scene(s2_scene(datetime(year, month, d, 17, 49, 9, tzinfo=UTC)), PAYLOAD)


def post(wf: Workflow, scenes: list[CatalogueScene], *, through_geojson: bool = False) -> list:
    """What /catalog/aoi does: tiles (optionally via the GeoJSON file), then ingest."""
    tiles = list_tiles(PAYLOAD, scenes, workflow=wf, settings=Settings(), link=True)
    if through_geojson:
        tiles = tiles_from_geojson(tiles_to_geojson(tiles, PAYLOAD))
        scenes = scenes_of(tiles)
    new_scenes, relinks = to_workflow(PAYLOAD, scenes, tiles)
    wf.ingest(PAYLOAD.name, new_scenes, relinks)
    return tiles


def chain(wf: Workflow, location: str = "T13TDE") -> list[tuple[str, str | None, str | None]]:
    """(scene date, previous' date, reference's date) of every tile of a location, by date."""
    tiles = [t for t in wf.tiles(PAYLOAD.name) if t.source_id == location]
    by_id = {t.id: t for t in tiles}

    def name(tile_id: int | None) -> str | None:
        return by_id[tile_id].scene_source_id[11:19] if tile_id else None

    return [(t.scene_source_id[11:19], name(t.previous_id), name(t.reference_id)) for t in tiles]


def test_chain_append_backfill_and_insert(workflow: Workflow) -> None:
    post(workflow, [day(1, 13), day(1, 1)])
    assert chain(workflow) == [("20240101", None, None), ("20240113", "20240101", "20240101")]

    appended = post(workflow, [day(1, 25)])
    assert [t.previous.scene[11:19] for t in appended] == ["20240113"]
    assert chain(workflow)[-1] == ("20240125", "20240113", "20240101")

    # An acquisition older than all: it becomes the root, the old root follows it, references move.
    backfilled = post(workflow, [day(12, 20, 2023)], through_geojson=True)
    relinked = [t for t in backfilled if t.ingested]
    assert [(t.scene_source_id[11:19], t.previous.scene[11:19]) for t in relinked] == [("20240101", "20231220")]
    assert chain(workflow) == [
        ("20231220", None, None),
        ("20240101", "20231220", "20231220"),
        ("20240113", "20240101", "20231220"),
        ("20240125", "20240113", "20231220"),
    ]

    # One in the middle: the tile after it is re-wired, nothing else changes.
    post(workflow, [day(1, 7)])
    assert chain(workflow) == [
        ("20231220", None, None),
        ("20240101", "20231220", "20231220"),
        ("20240107", "20240101", "20231220"),
        ("20240113", "20240107", "20231220"),
        ("20240125", "20240113", "20231220"),
    ]


def test_reposting_known_scenes_changes_nothing(workflow: Workflow) -> None:
    post(workflow, [day(1, 1), day(1, 13)])
    before = chain(workflow)
    tiles = list_tiles(PAYLOAD, [day(1, 13)], workflow=workflow, settings=Settings(), link=True)
    assert tiles == []
    assert chain(workflow) == before


def test_locations_are_never_linked(workflow: Workflow) -> None:
    other = [s2_scene(datetime(2024, 1, d, 17, 49, 9, tzinfo=UTC), tile="T13TDF") for d in (5, 17)]
    post(workflow, [day(1, 1), *other, day(1, 13)])
    assert chain(workflow, "T13TDE") == [("20240101", None, None), ("20240113", "20240101", "20240101")]
    assert chain(workflow, "T13TDF") == [("20240105", None, None), ("20240117", "20240105", "20240105")]


def test_failed_tiles_leave_the_chain(workflow: Workflow) -> None:
    post(workflow, [day(1, 1), day(1, 13), day(1, 25)])
    last = next(t for t in workflow.tiles(PAYLOAD.name) if t.scene_source_id[11:19] == "20240125")
    workflow.force("tile", last.id, "FAILED")
    post(workflow, [day(2, 6)])
    assert chain(workflow)[-1] == ("20240206", "20240113", "20240101")


def test_no_links_when_the_graph_does_not_need_them(workflow: Workflow) -> None:
    tiles = list_tiles(PAYLOAD, [day(1, 1), day(1, 13)], workflow=workflow, settings=Settings())
    assert all(t.previous is None and t.reference is None for t in tiles)
    assert link_tiles(tiles, [], link=False) == []


def test_sentinel1_backfill_through_the_workflow(workflow: Workflow, s1_safe_dir: Path, tmp_path: Path) -> None:
    """Real bursts: passes 0 and 2 are ingested, then pass 1 is inserted between them, burst by burst."""
    passes = [repeat_pass(s1_safe_dir / f"{S1_NAME}.SAFE", tmp_path, c) for c in (0, 1, 2)]
    payload = s1_payload(f"{tmp_path}/{{SCENE}}.SAFE")

    def ingest(scenes: list[CatalogueScene]) -> list:
        tiles = list_tiles(payload, scenes, workflow=workflow, settings=Settings(), link=True)
        new_scenes, relinks = to_workflow(payload, scenes, tiles)
        workflow.ingest(payload.name, new_scenes, relinks)
        return tiles

    first = ingest([passes[0], passes[2]])
    bursts = sorted({t.source_id for t in first})
    second = ingest([passes[1]])
    relinked = [t for t in second if t.ingested]
    assert sorted(t.source_id for t in relinked) == bursts
    assert all(t.scene_source_id == passes[2].source_id for t in relinked)
    tiles = workflow.tiles(payload.name)
    by_id = {t.id: t for t in tiles}
    for burst in bursts:
        series = sorted((t for t in tiles if t.source_id == burst), key=lambda t: t.date)
        assert [t.scene_source_id for t in series] == [p.source_id for p in passes]
        assert [by_id[t.previous_id].key if t.previous_id else None for t in series] == [
            None,
            TileKey(passes[0].source_id, burst),
            TileKey(passes[1].source_id, burst),
        ]
        assert all(t.reference_id in (None, series[0].id) for t in series)
        assert series[1].data["swath_id"] == burst[-3:].upper()


@pytest.mark.parametrize("through_geojson", [False, True])
def test_scene_data_in_the_workflow(workflow: Workflow, through_geojson: bool) -> None:
    post(workflow, [day(1, 1)], through_geojson=through_geojson)
    [scene] = workflow.scenes(PAYLOAD.name)
    assert scene.data["tiles"] == {"T13TDE": {"swath_id": "", "tile_nr": 0}}
    assert scene.data["graph_name"] == "CopyProductToStorage" and scene.data["is_retriable"] is True
    assert scene.data["date"] == "2024-01-01T17:49:09Z"
    assert scene.footprint and scene.footprint.startswith("POLYGON")
    [tile] = workflow.tiles(PAYLOAD.name)
    assert tile.data["graph_name"] == "Pass" and tile.data["location"] == "T13TDE"
