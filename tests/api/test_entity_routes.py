"""Scene and tile endpoints against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.api.conftest import RunningServer
from tests.api.demo import DemoAOI, retryable_tile


def test_get_scene_and_tile_in_the_seed_shapes(client: httpx.Client, s1_demo: DemoAOI) -> None:
    scene = client.get(f"/scene/{s1_demo.scene_ids[0]}").json()
    assert set(scene) == {"id", "source_id", "aoi", "data", "status", "message", "RetryCountDown"}
    assert scene["data"]["graph_name"] == "CopyProductToStorage"
    assert scene["source_id"].startswith("S1A_IW_SLC__1SDV_20200511")

    tile = client.get(f"/tile/{s1_demo.tile_ids[30]}").json()
    assert tile["scene"]["source_id"] and tile["scene"]["aoi"] == s1_demo.name
    assert isinstance(tile["PreviousID"], int) and isinstance(tile["ReferenceID"], int)
    assert tile["data"]["swath_id"] in ("IW1", "IW2", "IW3")

    tiles = client.get(f"/scene/{s1_demo.scene_ids[0]}/tiles").json()
    assert len(tiles) == 27 and all(t["scene"]["id"] == s1_demo.scene_ids[0] for t in tiles)
    assert len(client.get(f"/scene/{s1_demo.scene_ids[0]}/tiles", params={"limit": 10}).json()) == 10
    features = client.get(f"/scene/{s1_demo.scene_ids[0]}/tiles", params={"format": "geojson"}).json()["features"]
    assert len(features) == 27 and all(f["geometry"]["type"] == "Polygon" for f in features)

    for path in ("/scene/999999", "/tile/999999", "/scene/999999/tiles", "/scene/999999/events", "/tile/999999/events"):
        missing = client.get(path)
        assert missing.status_code == 404, path
        assert "not found" in missing.json()["detail"]
    assert client.get("/scene/abc").status_code == 422
    assert client.get("/tile/0").status_code == 422


def test_retry_a_retry_tile_then_refused_transitions(
    client: httpx.Client, s1_demo: DemoAOI, server: RunningServer
) -> None:
    tile_id = retryable_tile(server.workflow, s1_demo.name)
    before = client.get(f"/tile/{tile_id}").json()
    assert before["status"] == "RETRY" and before["message"]

    answer = client.put(f"/tile/{tile_id}/retry")
    assert answer.status_code == 200
    assert answer.json()["status"] == "PENDING"
    assert answer.json()["message"] == ""
    history = client.get(f"/tile/{tile_id}/events").json()
    assert [e["to_status"] for e in history][-2:] == ["RETRY", "PENDING"]
    assert history[-1]["actor"] == "api"
    assert history[-2]["message"] == before["message"]  # the failure stays in the history

    refused = client.put(f"/tile/{tile_id}/retry")
    assert refused.status_code == 403
    assert "PENDING→PENDING is not allowed" in refused.json()["detail"]
    new_tile = server.workflow.tiles(s1_demo.name, "NEW")[0].id
    refused = client.put(f"/tile/{new_tile}/fail")
    assert refused.status_code == 403
    assert client.get(f"/tile/{new_tile}").json()["status"] == "NEW"  # nothing half-applied
    assert client.put("/tile/999999/retry").status_code == 404


def test_fail_relinks_dependants(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    tile_id = retryable_tile(server.workflow, s1_demo.name)
    tile = client.get(f"/tile/{tile_id}").json()
    dependants = [t for t in client.get(f"/aoi/{s1_demo.name}/tiles").json() if t["PreviousID"] == tile_id]
    assert dependants

    answer = client.put(f"/tile/{tile_id}/fail", params={"message": "bad burst, skipped by operator"})
    assert answer.status_code == 200
    failed = answer.json()
    # It keeps the error that put it in RETRY (upstream); the operator's reason goes to the history.
    assert failed["status"] == "FAILED" and failed["message"] == tile["message"] and tile["message"]
    for dependant in dependants:
        assert client.get(f"/tile/{dependant['id']}").json()["PreviousID"] == tile["PreviousID"]
    assert client.get(f"/tile/{tile_id}/events").json()[-1]["message"] == "bad burst, skipped by operator"


def test_scene_retry_fail_and_force(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    [retry_scene] = [s.id for s in server.workflow.scenes(s1_demo.name, "RETRY")]
    assert client.put(f"/scene/{retry_scene}/fail").json()["status"] == "FAILED"
    tiles = client.get(f"/scene/{retry_scene}/tiles").json()
    assert {t["status"] for t in tiles} == {"FAILED"}
    refused = client.put(f"/scene/{retry_scene}/retry")
    assert refused.status_code == 403
    assert "is FAILED" in refused.json()["detail"]

    forced = client.put(f"/scene/{retry_scene}/force/pending", params={"message": "re-download"})
    assert forced.status_code == 200
    assert forced.json()["status"] == "PENDING"
    events = client.get(f"/scene/{retry_scene}/events").json()
    assert events[-1]["from_status"] == "FAILED" and events[-1]["to_status"] == "PENDING"
    assert events[-1]["actor"] == "api"

    bad = client.put(f"/scene/{retry_scene}/force/ALMOST")
    assert bad.status_code == 400
    assert "unknown status 'ALMOST'" in bad.json()["detail"]
    assert client.put("/scene/999999/force/DONE").status_code == 404
    assert client.put(f"/scene/{retry_scene}/fail", params={"message": "nul\x00"}).status_code == 422


def test_force_tile_done_dispatches_dependants(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    tile_id = retryable_tile(server.workflow, s1_demo.name)
    dependants = [t["id"] for t in client.get(f"/aoi/{s1_demo.name}/tiles").json() if t["PreviousID"] == tile_id]
    done = client.put(f"/tile/{tile_id}/force/DONE")
    assert done.status_code == 200 and done.json()["status"] == "DONE"
    for dependant in dependants:
        tile = client.get(f"/tile/{dependant}").json()
        scene_done = client.get(f"/scene/{tile['scene']['id']}").json()["status"] == "DONE"
        assert tile["status"] == ("PENDING" if scene_done else "NEW")


def test_replace_data(client: httpx.Client, s2_demo: DemoAOI) -> None:
    scene_id, tile_id = s2_demo.scene_ids[0], s2_demo.tile_ids[0]
    new = {"swath_id": "", "tile_nr": 0, "graph_name": "S2Indices", "is_retriable": False, "extra": [1, 2.5, None]}
    answer = client.put(f"/tile/{tile_id}/data", json=new)
    assert answer.status_code == 200
    assert answer.json()["data"] == new
    assert client.get(f"/tile/{tile_id}").json()["data"] == new
    assert client.get(f"/tile/{tile_id}/events").json()[-1]["message"] == "data replaced"

    scene = client.get(f"/scene/{scene_id}").json()
    data = {**scene["data"], "graph_name": "Pass"}
    assert client.put(f"/scene/{scene_id}/data", json=data).json()["data"]["graph_name"] == "Pass"

    for bad in ([1, 2], "text"):
        assert client.put(f"/scene/{scene_id}/data", json=bad).status_code == 422
    refused = client.put(f"/scene/{scene_id}/data", json={"x": "nul\x00"})
    assert refused.status_code == 400
    assert "NUL" in refused.json()["detail"]
    assert client.get(f"/scene/{scene_id}").json()["data"]["graph_name"] == "Pass"
    assert client.put("/tile/999999/data", json={}).status_code == 404


def test_events_limit(client: httpx.Client, s1_demo: DemoAOI) -> None:
    tile_id = s1_demo.tile_ids[0]
    events = client.get(f"/tile/{tile_id}/events").json()
    assert len(events) >= 3  # ingested, ready, done
    assert client.get(f"/tile/{tile_id}/events", params={"limit": 2}).json() == events[:2]
    assert [e["entity"] for e in events] == ["tile"] * len(events)


def test_manual_retry_spends_a_retry(client: httpx.Client, s1_demo: DemoAOI, server: RunningServer) -> None:
    """As in the seed's examples: a manual retry with none left shows -1."""
    tile_id = retryable_tile(server.workflow, s1_demo.name)
    assert client.get(f"/tile/{tile_id}").json()["RetryCountDown"] == 0
    assert client.put(f"/tile/{tile_id}/retry").json()["RetryCountDown"] == -1


def test_inconsistent_force_is_409_and_changes_nothing(
    client: httpx.Client, s1_demo: DemoAOI, server: RunningServer
) -> None:
    aoi = s1_demo.name
    waiting = next(
        t
        for t in server.workflow.tiles(aoi, "NEW")
        if t.previous_id is not None and server.workflow.tile(t.previous_id).status.value != "DONE"
    )
    before = client.get(f"/tile/{waiting.id}").json()
    events = client.get(f"/tile/{waiting.id}/events").json()
    answer = client.put(f"/tile/{waiting.id}/force/PENDING")
    assert answer.status_code == 409
    assert f"its previous tile {waiting.previous_id} is" in answer.json()["detail"]
    assert client.get(f"/tile/{waiting.id}").json() == before
    assert client.get(f"/tile/{waiting.id}/events").json() == events

    scene = next(
        s for s in server.workflow.scenes(aoi, "DONE") if server.workflow.tiles(scene_id=s.id, status="PENDING")
    )
    refused = client.put(f"/scene/{scene.id}/force/FAILED", params={"message": "wrong orbit"})
    assert refused.status_code == 409
    assert "PENDING" in refused.json()["detail"]
    assert client.get(f"/scene/{scene.id}").json()["status"] == "DONE"
