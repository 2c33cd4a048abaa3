"""Tiles per constellation: S2 MGRS tiles, Landsat path-rows, Sentinel-1 bursts meeting the AOI."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import shapely

from geocube_ingest.catalogue import list_tiles, tiles_from_geojson, tiles_to_geojson
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.tiles import BURST_AOI_BUFFER
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import Settings
from tests.catalogue.helpers import S1_NAME, repeat_pass, s1_payload, s2_payload, s2_scene


@pytest.fixture
def passes(s1_safe_dir: Path, tmp_path: Path) -> list[CatalogueScene]:
    """Three passes over the same bursts: the recorded 1a product and the same 12 and 24 days later."""
    source = s1_safe_dir / f"{S1_NAME}.SAFE"
    return [repeat_pass(source, tmp_path, cycles) for cycles in (0, 1, 2)]


def test_sentinel2_one_tile_per_scene_named_by_mgrs_tile() -> None:
    scenes = [s2_scene(datetime(2024, 1, d, 17, 49, tzinfo=UTC)) for d in (1, 11)]
    tiles = list_tiles(s2_payload(), scenes, settings=Settings())
    assert [t.source_id for t in tiles] == ["T13TDE", "T13TDE"]
    assert tiles[0].data == {
        "swath_id": "",
        "tile_nr": 0,
        "graph_name": "Pass",
        "is_retriable": True,
        "location": "T13TDE",
    }
    assert scenes[0].tiles == {"T13TDE": {"swath_id": "", "tile_nr": 0}}
    assert tiles[0].footprint == scenes[0].footprint
    assert all(t.previous is None for t in tiles)  # Pass reads neither previous nor reference


def test_landsat_tiles_are_path_rows() -> None:
    when = datetime(2023, 10, 8, 17, 37, tzinfo=UTC)
    scene = CatalogueScene("LC08_L2SP_033032_20231008_20231017_02_T1", when, shapely.box(-106, 39, -104, 41))
    [tile] = list_tiles(s2_payload(scene_type={"constellation": "landsat89"}), [scene], settings=Settings())
    assert tile.source_id == "033032" and tile.data["location"] == "033032"


def test_sentinel1_bursts_meeting_the_buffered_aoi(passes: list[CatalogueScene], tmp_path: Path) -> None:
    payload = s1_payload(f"{tmp_path}/{{SCENE}}.SAFE")
    tiles = list_tiles(payload, passes[:1], settings=Settings(), link=False)
    area = payload.shape.buffer(BURST_AOI_BUFFER)
    assert 3 <= len(tiles) < 27
    assert all(t.footprint.intersects(area) for t in tiles)
    assert {t.data["swath_id"] for t in tiles} <= {"IW1", "IW2", "IW3"}
    for tile in tiles:
        assert tile.source_id == tile.data["burst_id"] == tile.data["location"]
        track, _number, swath = tile.source_id.split("_")
        assert track == "t071" and swath == tile.data["swath_id"].lower()
        assert 1 <= tile.data["tile_nr"] <= 9 and tile.data["relative_orbit"] == 71
        assert tile.data["graph_name"] == "S1BackscatterCoherence"
    assert passes[0].tiles == {
        t.source_id: {"swath_id": t.data["swath_id"], "tile_nr": t.data["tile_nr"]} for t in tiles
    }


def test_repeat_passes_form_time_series_per_burst(passes: list[CatalogueScene], tmp_path: Path) -> None:
    payload = s1_payload(f"{tmp_path}/{{SCENE}}.SAFE")
    tiles = list_tiles(payload, list(reversed(passes)), settings=Settings(), link=True)
    by_burst: dict[str, list] = {}
    for tile in tiles:
        by_burst.setdefault(tile.source_id, []).append(tile)
    assert len(tiles) == 3 * len(by_burst)
    for burst, series in by_burst.items():
        assert [t.scene_source_id for t in series] == [p.source_id for p in passes]
        first, second, third = series
        assert first.previous is None and first.reference is None
        assert second.previous == first.ref and second.reference == first.ref
        assert third.previous == second.ref and third.reference == first.ref
        # Same ground, different acquisitions: ESA's absolute burst ids are a cycle (175 orbits) apart.
        ids = [t.data["absolute_burst_id"] for t in series]
        assert ids[1] - ids[0] in (375887, 375888) and ids[2] - ids[1] in (375887, 375888), burst


def test_overlapping_slices_give_each_burst_once(passes: list[CatalogueScene], tmp_path: Path) -> None:
    """A second product holding the same bursts of the same pass (a re-slice) adds no tile."""
    twin_dir = tmp_path / "twin"
    twin_dir.mkdir()
    original = passes[0]
    twin = CatalogueScene(original.source_id[:-4] + "FFFF", original.date, original.footprint, tags=dict(original.tags))
    shutil.copytree(tmp_path / f"{original.source_id}.SAFE", twin_dir / f"{twin.source_id}.SAFE")
    patterns = [f"{tmp_path}/{{SCENE}}.SAFE", f"{twin_dir}/{{SCENE}}.SAFE"]
    payload = s1_payload(patterns[0], annotations_urls=patterns)
    tiles = list_tiles(payload, [original, twin], settings=Settings(), link=True)
    assert {t.scene_source_id for t in tiles} == {original.source_id}
    assert twin.tiles == {}


def test_copy_product_to_storage_keeps_sentinel1_scenes_whole(passes: list[CatalogueScene]) -> None:
    payload = s1_payload("/nowhere/{SCENE}.SAFE", scene_graph_name="CopyProductToStorage")
    tiles = list_tiles(payload, passes, settings=Settings(), link=True)
    assert [t.source_id for t in tiles] == [p.source_id for p in passes]
    assert all(t.previous is None for t in tiles)  # every scene is its own location


def test_scenes_without_annotations_fail_clearly(passes: list[CatalogueScene]) -> None:
    with pytest.raises(InvalidInput, match=r"3 of 3 scenes could not be split into bursts: scene S1A_IW_SLC__1SDV_"):
        list_tiles(s1_payload("/nowhere/{SCENE}.SAFE"), passes, settings=Settings())


def test_tiles_geojson_round_trip(passes: list[CatalogueScene], tmp_path: Path) -> None:
    payload = s1_payload(f"{tmp_path}/{{SCENE}}.SAFE")
    tiles = list_tiles(payload, passes, settings=Settings(), link=True)
    document = json.loads(json.dumps(tiles_to_geojson(tiles, payload)))
    assert len(document["features"]) == 3
    feature = document["features"][1]
    props = feature["properties"]
    assert set(props) == {"aoi", "data", "id", "source_id", "tags", "wkt", "tiles"}
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert len(feature["geometry"]["coordinates"]) == 1 + len(props["tiles"])
    tile = props["tiles"][0]
    assert set(tile) == {"SourceID", "SceneID", "Date", "id", "data", "wkt", "previous", "reference"}
    assert tile["previous"]["SceneID"] == passes[0].source_id and tile["previous"]["SourceID"] == tile["SourceID"]
    assert set(props["data"]["tiles"]) == {t["SourceID"] for t in props["tiles"]}
    again = tiles_from_geojson(document)
    assert [(t.key, t.previous, t.reference, t.data) for t in again] == [
        (t.key, t.previous, t.reference, t.data) for t in tiles
    ]
    assert all(a.footprint.equals(b.footprint) for a, b in zip(again, tiles, strict=True))


def test_sentinel1_grd_scenes_are_not_split() -> None:
    when = datetime(2021, 8, 9, 17, 39, 53, tzinfo=UTC)
    grd = CatalogueScene(
        "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8", when, shapely.box(0, 0, 1, 1)
    )
    payload = s1_payload(
        "/nowhere/{SCENE}.SAFE", scene_type={"constellation": "sentinel1", "parameters": {"producttype": "GRD"}}
    )
    [tile] = list_tiles(payload, [grd], settings=Settings())
    assert tile.source_id == grd.source_id and tile.data["swath_id"] == "" and tile.data["tile_nr"] == 0
