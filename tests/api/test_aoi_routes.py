"""AOI endpoints against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest
import shapely

from tests.api.conftest import RunningServer, StartServer
from tests.api.demo import DemoAOI, build_s2


def scene_body(source_id: str, tiles: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Upstream's SceneToIngest."""
    return {
        "source_id": source_id,
        "data": {"uuid": f"uuid-{source_id}", "date": extra.pop("date", "2022-01-04T10:34:31Z"), "graph_name": "Pass"},
        "tiles": tiles,
        **extra,
    }


def test_health_is_open_and_checks_the_database(client: httpx.Client) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_create_list_and_delete_aois(client: httpx.Client) -> None:
    assert client.post("/aoi/Denmark-1").status_code == 204
    assert client.post("/aoi/Denmark_2").status_code == 204
    assert client.post("/aoi/Other:3").status_code == 204

    again = client.post("/aoi/Denmark-1")
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]

    # Upstream's shape: its web page reads `ID` and `status` (an empty AOI is NEW there).
    assert client.get("/aoi/").json() == [
        {"ID": "Denmark-1", "status": "NEW"},
        {"ID": "Denmark_2", "status": "NEW"},
        {"ID": "Other:3", "status": "NEW"},
    ]
    assert [a["ID"] for a in client.get("/aoi/", params={"pattern": "Den*"}).json()] == ["Denmark-1", "Denmark_2"]
    # A name with * or ? lists the matching AOIs; `_` is literal, `?` (sent as %3F) is one character.
    assert client.get("/aoi/Denmark%3F2").json() == [{"ID": "Denmark_2", "status": "NEW"}]
    assert client.get("/aoi/*3").json() == [{"ID": "Other:3", "status": "NEW"}]

    details = client.get("/aoi/", params={"details": "true"}).json()
    assert [d["ID"] for d in details] == ["Denmark-1", "Denmark_2", "Other:3"]
    assert details[0]["status"] == "NEW"
    assert details[0]["tiles"] == {"new": 0, "pending": 0, "done": 0, "retry": 0, "failed": 0, "total": 0}

    assert client.delete("/aoi/Denmark_2").status_code == 204
    assert [a["ID"] for a in client.get("/aoi/").json()] == ["Denmark-1", "Other:3"]
    gone = client.delete("/aoi/Denmark_2")
    assert gone.status_code == 404
    assert gone.json() == {"detail": "AOI 'Denmark_2' not found"}


def test_bad_aoi_names_are_refused(client: httpx.Client) -> None:
    for bad in ("with space", "semi;colon", "x" * 256):
        answer = client.post(f"/aoi/{bad}")
        assert answer.status_code == 422, bad
        assert answer.json()["detail"][0]["loc"] == ["path", "aoi"]
    assert client.get("/aoi/").json() == []
    assert client.get("/aoi/nothing-here").status_code == 404


def test_summary_text_is_the_seed_format(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    answer = client.get(f"/aoi/{s1_demo.name}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    summary = server.workflow.summary(s1_demo.name)
    assert text == server.workflow.summary_text(s1_demo.name)
    pattern = (
        r"Scenes:\n  new:     \d+\n  pending: \d+\n  done:    \d+\n  retry:   \d+\n  failed:  \d+\n  Total:   \d+\n"
        r"Tiles:\n  new:     \d+\n  pending: \d+\n  done:    \d+\n  retry:   \d+\n  failed:  \d+\n  Total:   \d+\n"
        r"\nRoot tiles : \d+\n  From: \d{4}-\d\d-\d\d\n  To:   \d{4}-\d\d-\d\d\n"
    )
    assert re.fullmatch(pattern, text), text
    assert f"  Total:   {len(s1_demo.scene_ids)}\n" in text
    assert f"  Total:   {len(s1_demo.tile_ids)}\n" in text
    assert "  From: 2020-05-11\n" in text

    as_json = client.get(f"/aoi/{s1_demo.name}/summary").json()
    assert as_json["scenes"]["total"] == 6
    assert as_json["tiles"]["total"] == 162
    assert as_json["tiles"]["done"] == summary.tiles.done
    assert as_json["root_tiles"] == summary.root_tiles
    assert as_json["first_date"] == "2020-05-11"
    assert as_json["status"] == "RETRY"


def test_post_scene_creates_scene_and_tiles_with_links(client: httpx.Client, server: RunningServer) -> None:
    assert client.post("/aoi/A").status_code == 204
    first = client.post("/aoi/A/scene", json=scene_body("S1", {"b1": {"data": {"swath_id": "IW1", "tile_nr": 1}}}))
    assert first.status_code == 200, first.text
    first_id = first.json()["id"]
    second = client.post(
        "/aoi/A/scene",
        json=scene_body(
            "S2",
            {"b1": {"previous_tile_id": "b1", "previous_scene_id": "S1", "data": {"swath_id": "IW1", "tile_nr": 1}}},
            date="2022-01-16T10:34:31Z",
            aoi="A",
            wkt="POLYGON ((9 55, 10 55, 10 56, 9 56, 9 55))",
        ),
    )
    assert second.status_code == 200, second.text
    second_id = second.json()["id"]

    scene = client.get(f"/scene/{second_id}").json()
    assert scene["status"] == "PENDING"
    assert scene["aoi"] == "A"
    assert scene["RetryCountDown"] == 0
    # data.tiles is filled in from the tiles when the client leaves it out.
    assert scene["data"]["tiles"] == {"b1": {"swath_id": "IW1", "tile_nr": 1}}

    [tile] = client.get(f"/scene/{second_id}/tiles").json()
    [previous] = client.get(f"/scene/{first_id}/tiles").json()
    assert tile["status"] == "NEW"
    assert tile["PreviousID"] == previous["id"]
    assert tile["ReferenceID"] == previous["id"]
    assert tile["scene"]["id"] == second_id
    assert set(tile) == {
        "id", "source_id", "scene", "data", "status", "message", "PreviousID", "ReferenceID", "RetryCountDown",
    }  # fmt: skip

    events = client.get(f"/scene/{second_id}/events").json()
    assert events[0]["to_status"] == "PENDING"
    assert events[0]["actor"] == "api"

    # Posting it again leaves it as it is (upstream skips it): 200 and its id.
    again = client.post("/aoi/A/scene", json=scene_body("S1", {"b1": {"data": {"other": 1}}}))
    assert again.status_code == 200
    assert again.json() == {"id": first_id}
    assert client.get(f"/scene/{first_id}/tiles").json()[0]["data"] == {"swath_id": "IW1", "tile_nr": 1}


def test_post_scene_bad_input_changes_nothing(client: httpx.Client) -> None:
    assert client.post("/aoi/A/scene", json=scene_body("S1", {"b1": {}})).status_code == 404  # no such AOI yet
    assert client.get("/aoi/").json() == []
    assert client.post("/aoi/A").status_code == 204

    cases: list[tuple[dict[str, Any], int, str]] = [
        (scene_body("S1", {"b1": {"previous_tile_id": "b0", "previous_scene_id": "S0"}}), 400, "does not exist"),
        (scene_body("S1", {"b1": {"previous_tile_id": "b0"}}), 400, "go together"),
        (scene_body("S1", {"b1": {}}, aoi="B"), 400, "differs"),
        (scene_body("S1", {"b1": {}}, id=7), 400, "id is given by the workflow"),
        ({**scene_body("S1", {"b1": {}}), "data": {"tiles": {"b2": {}}}}, 400, "data.tiles"),
        ({**scene_body("S1", {"b1": {}}), "unknown": 1}, 422, "Extra inputs"),
        (scene_body("S1", {}), 422, "at least 1"),
        (scene_body("S1", {"b1": {"data": {"x": "nul\x00"}}}), 422, "NUL"),
        (scene_body("S1", {"b1": {}}, wkt="POLYGON ((broken"), 422, "WKT"),
    ]
    for body, status, words in cases:
        answer = client.post("/aoi/A/scene", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert words in answer.text, answer.text
    nan = client.post(
        "/aoi/A/scene",
        content=b'{"source_id": "S1", "data": {"x": NaN}, "tiles": {"b1": {}}}',
        headers={"content-type": "application/json"},
    )
    assert nan.status_code == 422
    assert "finite" in nan.text
    assert (
        client.post("/aoi/A/scene", content=b"{not json", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert client.get("/aoi/A/scenes").json() == []


def test_listings_paging_and_status_filters(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    aoi = s1_demo.name
    scenes = client.get(f"/aoi/{aoi}/scenes").json()
    assert [s["id"] for s in scenes] == s1_demo.scene_ids
    assert [s["status"] for s in client.get(f"/aoi/{aoi}/scenes/retry").json()] == ["RETRY"]
    assert client.get(f"/aoi/{aoi}/scenes/RETRY").json() == client.get(f"/aoi/{aoi}/scenes/retry").json()
    bad = client.get(f"/aoi/{aoi}/scenes/broken")
    assert bad.status_code == 400
    assert "expected one of NEW, PENDING, DONE, RETRY, FAILED" in bad.json()["detail"]

    tiles = client.get(f"/aoi/{aoi}/tiles").json()
    assert len(tiles) == 162
    page = client.get(f"/aoi/{aoi}/tiles", params={"page": 2, "limit": 50}).json()
    assert [t["id"] for t in page] == [t["id"] for t in tiles[100:150]]
    assert client.get(f"/aoi/{aoi}/tiles", params={"page": 1}).status_code == 400
    assert client.get(f"/aoi/{aoi}/tiles", params={"limit": 0}).status_code == 422

    for status in ("NEW", "PENDING", "DONE", "RETRY", "FAILED"):
        listed = client.get(f"/aoi/{aoi}/tiles/{status}").json()
        assert {t["status"] for t in listed} <= {status}
        assert len(listed) == sum(t["status"] == status for t in tiles)

    roots = client.get(f"/aoi/{aoi}/roottiles").json()
    leaves = client.get(f"/aoi/{aoi}/leaftiles").json()
    expected_roots = [t.id for t in server.workflow.root_tiles(aoi)]
    assert [t["id"] for t in roots] == expected_roots
    assert all(t["PreviousID"] is None for t in roots)
    assert [t["id"] for t in leaves] == [t.id for t in server.workflow.leaf_tiles(aoi)]
    assert [t["id"] for t in client.get(f"/aoi/{aoi}/roottiles", params={"page": 1, "limit": 5}).json()] == (
        expected_roots[5:10]
    )
    assert client.get("/aoi/nothing/tiles").status_code == 404
    assert client.get("/aoi/nothing/roottiles").status_code == 404


def test_geojson_on_request(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    aoi = s1_demo.name
    answer = client.get(f"/aoi/{aoi}/tiles/DONE", params={"format": "geojson"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/geo+json"
    collection = answer.json()
    assert collection["type"] == "FeatureCollection"
    assert collection["features"], "the demo has DONE tiles"
    for feature in collection["features"]:
        assert feature["properties"]["status"] == "DONE"
        assert feature["id"] == feature["properties"]["id"]
        assert shapely.geometry.shape(feature["geometry"]).is_valid
    scenes = client.get(f"/aoi/{aoi}/scenes", params={"format": "geojson"}).json()
    assert len(scenes["features"]) == 6
    assert scenes["features"][0]["geometry"]["type"] == "Polygon"
    assert client.get(f"/aoi/{aoi}/scenes", params={"format": "kml"}).status_code == 422

    footprints = client.get(f"/aoi/{aoi}/footprints").json()
    kinds = [f["properties"]["kind"] for f in footprints["features"]]
    assert kinds.count("scene") == 6 and kinds.count("tile") == 162
    west, south, east, north = footprints["bbox"]
    assert -119 < west < east < -115 and 37 < south < north < 40
    assert footprints["aoi"] is None  # posted without a payload area

    area = "POLYGON ((-117.5 38.1, -117 38.1, -117 38.4, -117.5 38.4, -117.5 38.1))"
    server.workflow.ensure_aoi(aoi, area)
    outline = client.get(f"/aoi/{aoi}/footprints").json()["aoi"]
    assert shapely.geometry.shape(outline).equals(shapely.from_wkt(area))


def test_retry_aoi(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    aoi = s1_demo.name
    retry_scenes = [s.id for s in server.workflow.scenes(aoi, "RETRY")]
    retry_tiles = [t.id for t in server.workflow.tiles(aoi, "RETRY")]
    assert retry_scenes, "the demo has a scene to retry"
    answer = client.put(f"/aoi/{aoi}/retry")
    assert answer.status_code == 200
    assert answer.json() == {"Scenes": len(retry_scenes), "Tiles": len(retry_tiles)}
    assert client.get(f"/aoi/{aoi}/scenes/RETRY").json() == []
    for scene_id in retry_scenes:
        events = client.get(f"/scene/{scene_id}/events").json()
        assert events[-1]["to_status"] == "PENDING" and events[-1]["actor"] == "api"
    # Nothing left to retry: 204 and no body, as upstream.
    nothing = client.put(f"/aoi/{aoi}/retry")
    assert nothing.status_code == 204 and nothing.content == b""
    forced = client.put(f"/aoi/{aoi}/retry/force")
    assert forced.status_code == 200
    assert forced.json()["Scenes"] >= len(retry_scenes)
    assert client.put("/aoi/nothing/retry").status_code == 404


@pytest.mark.parametrize("demo", ["s1_demo", "s2_demo"])
def test_dot_and_svg(client: httpx.Client, demo: str, server: RunningServer, request: pytest.FixtureRequest) -> None:
    aoi = request.getfixturevalue(demo).name
    dot = client.get(f"/aoi/{aoi}/dot")
    assert dot.status_code == 200
    assert dot.text == server.workflow.dot(aoi)
    assert dot.text.startswith(f"digraph {aoi} {{")  # the graphviz package quotes only what needs it
    svg = client.get(f"/aoi/{aoi}/dot.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    body = html.unescape(svg.text)
    assert "<svg" in body
    # The graph of the dot text: every scene (a box holding its tiles) and tile, and every previous → tile edge.
    dot_nodes = re.findall(r"^\t([st]\d+) \[", dot.text, flags=re.M)
    assert sorted(re.findall(r'<g id="gv-((?:scene|tile)-\d+)" class="(?:node|cluster)', body)) == sorted(
        ("scene-" if n[0] == "s" else "tile-") + n[1:] for n in dot_nodes
    )
    assert len(re.findall(r'class="edge"', body)) == len(re.findall(r"^\tt\d+ -> t\d+", dot.text, flags=re.M))
    assert client.get("/aoi/nothing/dot").status_code == 404
    assert client.get("/aoi/nothing/dot.svg").status_code == 404


def test_svg_of_a_big_graph_is_refused_with_a_reason(start_server: StartServer) -> None:
    server = start_server(api={"max_graph_nodes": 5})
    build_s2(server.workflow)
    answer = httpx.get(f"{server.url}/aoi/DenmarkDemoS2/dot.svg")
    assert answer.status_code == 400
    assert "too many to draw" in answer.json()["detail"]
    assert httpx.get(f"{server.url}/aoi/DenmarkDemoS2/dot").status_code == 200
