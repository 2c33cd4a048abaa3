"""List answers written by the database are upstream's JSON, the same as the Python shapes, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import shapely

from geocube_ingest.workflow import NewScene, NewTile, Outcome, TileKey
from geocube_ingest.workflow.serialize import scene_json, tile_json
from tests.api.conftest import RunningServer
from tests.api.demo import DemoAOI

AWKWARD = 'quote " backslash \\ newline \n tab \t unicode é ✓ 🛰 nul-free <b>&amp;</b>'


def test_every_list_is_the_python_shape(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    wf, aoi = server.workflow, s1_demo.name
    tiles = [tile_json(t) for t in wf.tiles(aoi)]
    assert client.get(f"/aoi/{aoi}/tiles").json() == tiles
    for status in ("NEW", "PENDING", "DONE", "RETRY", "FAILED"):
        assert client.get(f"/aoi/{aoi}/tiles/{status}").json() == [t for t in tiles if t["status"] == status]
        expected = [scene_json(s) for s in wf.scenes(aoi, status)]
        assert client.get(f"/aoi/{aoi}/scenes/{status}").json() == expected
    assert client.get(f"/aoi/{aoi}/scenes").json() == [scene_json(s) for s in wf.scenes(aoi)]
    assert client.get(f"/aoi/{aoi}/roottiles").json() == [tile_json(t) for t in wf.root_tiles(aoi)]
    assert client.get(f"/aoi/{aoi}/leaftiles").json() == [tile_json(t) for t in wf.leaf_tiles(aoi)]
    scene_id = s1_demo.scene_ids[2]
    assert client.get(f"/scene/{scene_id}/tiles").json() == [tile_json(t) for t in wf.tiles(scene_id=scene_id)]
    # Pages are the same slices.
    page = client.get(f"/aoi/{aoi}/tiles", params={"page": 3, "limit": 7})
    assert page.headers["content-type"] == "application/json"
    assert page.json() == tiles[21:28]
    roots = [tile_json(t) for t in wf.root_tiles(aoi)]
    assert client.get(f"/aoi/{aoi}/roottiles", params={"page": 1, "limit": 4}).json() == roots[4:8]


def test_geojson_lists_carry_the_same_properties(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    wf, aoi = server.workflow, s1_demo.name
    answer = client.get(f"/aoi/{aoi}/tiles/RETRY", params={"format": "geojson"})
    assert answer.headers["content-type"] == "application/geo+json"
    features = answer.json()["features"]
    retry = wf.tiles(aoi, "RETRY")
    assert [f["properties"] for f in features] == [tile_json(t) for t in retry]
    assert [f["id"] for f in features] == [t.id for t in retry]
    for feature, tile in zip(features, retry, strict=True):
        assert tile.footprint is not None
        assert shapely.geometry.shape(feature["geometry"]).equals(shapely.from_wkt(tile.footprint))


def test_awkward_text_survives_the_database_json(client: httpx.Client, server: RunningServer) -> None:
    wf = server.workflow
    data = {"note": AWKWARD, "nested": {"list": [1, 2.5, None, True, "x"]}, "empty": {}}
    scenes = [
        NewScene(
            f"S{i}-{AWKWARD[:5]}",
            {"date": f"2022-01-0{i + 1}T00:00:00Z", **data},
            [NewTile(f"t-é-{i}", data, previous=TileKey(f"S{i - 1}-{AWKWARD[:5]}", f"t-é-{i - 1}") if i else None)],
        )
        for i in range(2)
    ]
    wf.ingest("Awkward", scenes)
    [lease] = wf.claim("scene", "w", limit=1)
    wf.report(lease, Outcome.retry(AWKWARD))
    listed = client.get("/aoi/Awkward/scenes").json()
    assert listed == [scene_json(s) for s in wf.scenes("Awkward")]
    assert listed[0]["message"] == AWKWARD and listed[0]["data"]["note"] == AWKWARD
    assert client.get("/aoi/Awkward/tiles").json() == [tile_json(t) for t in wf.tiles("Awkward")]
    features = client.get("/aoi/Awkward/tiles", params={"format": "geojson"}).json()["features"]
    assert [f["geometry"] for f in features] == [None, None]  # no footprint: null, as before


def test_empty_lists(client: httpx.Client) -> None:
    assert client.post("/aoi/Empty").status_code == 204
    assert client.get("/aoi/Empty/tiles").json() == []
    assert client.get("/aoi/Empty/scenes/DONE").json() == []
    assert client.get("/aoi/Empty/roottiles", params={"format": "geojson"}).json() == {
        "type": "FeatureCollection",
        "features": [],
    }
