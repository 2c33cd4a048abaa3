"""`POST /catalog/aoi` end to end on SQLite and PostgreSQL: the demo's offline world (static STAC
catalogue, small real-looking Sentinel-2 products, the NDVI change graph) ingested by the server
after it answers; the seed's three forms; one runner per AOI; nothing created on bad input."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from geocube_ingest.api.runs import InProcessRuns
from geocube_ingest.demo.build import AOI_NAME, DemoWorld, overrides, prepare_index
from geocube_ingest.index import get_index
from geocube_ingest.index.stac import collection_href
from geocube_ingest.processing.cluster import close_clients
from tests.api.conftest import RunningServer, StartServer


@pytest.fixture
def demo_server(start_server: StartServer, demo_world: DemoWorld, tmp_path: Path) -> Iterator[RunningServer]:
    """A server whose catalogue and downloads are the demo's, with the payload's layers in the index."""
    server = start_server(
        **overrides(demo_world),
        storage_uri=str(tmp_path / "storage"),
        work_dir=str(tmp_path / "work"),
        processing={"processes": False, "n_workers": 1, "threads_per_worker": 2},
        pipeline={"poll_seconds": 0.2},
    )
    prepare_index(get_index(server.settings))
    yield server
    runs = server.app.state.runs
    assert isinstance(runs, InProcessRuns)
    for aoi in runs.running():
        runs.wait(aoi, timeout=120)  # never leave a runner writing into the next test's database
    close_clients()


def files(world: DemoWorld, payload: dict[str, Any] | None = None, **documents: Any) -> dict[str, Any]:
    """`-F "area=@payload.json" [-F "scenes=@scenes.json"] [-F "tiles=@tiles.json"]`"""
    body = json.dumps(payload or world.payload).encode()
    parts: dict[str, Any] = {"area": ("payload.json", body, "application/json")}
    for name, document in documents.items():
        parts[name] = (f"{name}.json", json.dumps(document).encode(), "application/geo+json")
    return parts


def summary(server: RunningServer, aoi: str = AOI_NAME) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/aoi/{aoi}/summary", timeout=30)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def wait_until_ingested(server: RunningServer, aoi: str = AOI_NAME, timeout: float = 180) -> dict[str, Any]:
    """Poll the AOI as an operator would, until every tile is DONE (or the runner stopped without it)."""
    runs: InProcessRuns = server.app.state.runs
    deadline = time.monotonic() + timeout
    while True:
        current = summary(server, aoi)
        if current["tiles"]["total"] and current["tiles"]["done"] == current["tiles"]["total"]:
            return current
        if aoi not in runs.running() or time.monotonic() > deadline:
            text = httpx.get(f"{server.url}/aoi/{aoi}", timeout=30).text
            problems = [t["message"] for t in httpx.get(f"{server.url}/aoi/{aoi}/tiles", timeout=30).json()]
            raise AssertionError(f"AOI {aoi} not ingested:\n{text}\n{problems}")
        time.sleep(0.3)


def runner_threads(aoi: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == f"ingest-{aoi}")


@pytest.mark.slow
def test_the_three_forms_of_the_seed_ingest_the_demo(demo_server: RunningServer, demo_world: DemoWorld) -> None:
    url = demo_server.url
    scenes = httpx.post(f"{url}/catalog/scenes", files=files(demo_world), timeout=60).json()
    tiles = httpx.post(f"{url}/catalog/tiles", files=files(demo_world), timeout=60).json()
    assert len(scenes["features"]) == len(tiles["features"]) == 9

    # 1. From a tiles file, edited down to the first four acquisitions.
    first_four = {**tiles, "features": tiles["features"][:4]}
    answer = httpx.post(f"{url}/catalog/aoi", files=files(demo_world, tiles=first_four), timeout=60)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/aoi/{AOI_NAME}/summary"
    body = answer.json()
    assert {k: body[k] for k in ("aoi", "scenes_found", "scenes_created", "scenes_existing", "tiles_created")} == {
        "aoi": AOI_NAME,
        "scenes_found": 4,
        "scenes_created": 4,
        "scenes_existing": 0,
        "tiles_created": 4,
    }
    assert (body["records_created"], body["records_reused"]) == (4, 0)
    assert body["run"]["mode"] == "in-process" and body["run"]["started"] is True
    assert body["summary_url"] == f"/aoi/{AOI_NAME}/summary"
    # The scenes are posted before the answer: records and layers are in their data.
    posted = httpx.get(f"{url}/aoi/{AOI_NAME}/scenes", timeout=30).json()
    assert len(posted) == 4 and all(s["data"]["record_id"] for s in posted)
    assert set(posted[0]["data"]["instances_id"]) == set(demo_world.payload["layers"])

    # 2. From the whole scenes file while the first run is busy: the running one takes the new scenes.
    answer = httpx.post(f"{url}/catalog/aoi", files=files(demo_world, scenes=scenes), timeout=60)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["scenes_found"], body["scenes_created"], body["scenes_existing"], body["tiles_created"]) == (
        9,
        5,
        4,
        5,
    )
    assert body["run"]["started"] is False and "already going on" in body["run"]["detail"]
    assert runner_threads(AOI_NAME) <= 1

    done = wait_until_ingested(demo_server)
    assert done["scenes"]["done"] == done["scenes"]["total"] == 9
    assert done["tiles"]["done"] == done["tiles"]["total"] == 9
    assert done["status"] == "DONE" and done["root_tiles"] == 1  # one time series of T13TDE
    tiles_now = httpx.get(f"{url}/aoi/{AOI_NAME}/tiles", timeout=30).json()
    by_date = sorted(tiles_now, key=lambda t: t["scene"]["data"]["date"])
    assert [t["PreviousID"] for t in by_date[1:]] == [t["id"] for t in by_date[:-1]]  # chained across both posts
    assert all(t["message"].endswith("indexed") for t in tiles_now)

    index = get_index(demo_server.settings)
    records = index.find_records(name="S2*")
    assert len(records) == 9 and all(r.tags["area"] == "Longmont" for r in records)
    runs: InProcessRuns = demo_server.app.state.runs
    assert runs.wait(AOI_NAME, timeout=60)
    assert Path(collection_href(AOI_NAME, None, demo_server.settings)).is_file()  # STAC published at the end

    # 3. The plain form: the catalogue is searched again, everything is there already.
    answer = httpx.post(f"{url}/catalog/aoi", files=files(demo_world), timeout=60)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["scenes_found"], body["scenes_created"], body["scenes_existing"], body["tiles_created"]) == (
        9,
        0,
        9,
        0,
    )
    assert body["run"] == {
        "mode": "in-process",
        "started": False,
        "detail": f"nothing to download or process in AOI {AOI_NAME}",
        "deployment": None,
        "flow_run_id": None,
        "flow_run_name": None,
    }
    assert len(index.find_records(name="S2*")) == 9


def test_json_body_ingests_too(demo_server: RunningServer, demo_world: DemoWorld) -> None:
    payload = {**demo_world.payload, "name": "LongmontJson", "end_time": "2024-04-06T00:00:00Z"}
    answer = httpx.post(f"{demo_server.url}/catalog/aoi", json=payload, timeout=60)
    assert answer.status_code == 202, answer.text
    assert answer.json()["scenes_created"] == 3
    done = wait_until_ingested(demo_server, "LongmontJson")
    assert done["tiles"]["done"] == 3


def assert_nothing_created(server: RunningServer, aoi: str = AOI_NAME) -> None:
    assert httpx.get(f"{server.url}/aoi/{aoi}", timeout=30).status_code == 404
    assert aoi not in httpx.get(f"{server.url}/aoi/", timeout=30).json()
    assert get_index(server.settings).find_records(name="S2*") == []
    assert runner_threads(aoi) == 0


def test_unknown_layers_create_nothing(demo_server: RunningServer, demo_world: DemoWorld) -> None:
    url = f"{demo_server.url}/catalog/aoi"
    layers = {**demo_world.payload["layers"], "cloud_mask": {"variable": "CloudMask", "instance": "demo"}}
    answer = httpx.post(url, files=files(demo_world, {**demo_world.payload, "layers": layers}), timeout=60)
    assert answer.status_code == 404
    assert answer.json()["detail"] == "unknown layer(s) in the index: cloud_mask (CloudMask:demo)"
    assert_nothing_created(demo_server)

    # A variable that exists, with an instance that does not; the tiles form is checked the same way.
    tiles = httpx.post(f"{demo_server.url}/catalog/tiles", files=files(demo_world), timeout=60).json()
    layers = {"ndvi": {"variable": "NDVI", "instance": "nope"}}
    answer = httpx.post(url, files=files(demo_world, {**demo_world.payload, "layers": layers}, tiles=tiles), timeout=60)
    assert answer.status_code == 404 and "ndvi (NDVI:nope)" in answer.json()["detail"]
    assert_nothing_created(demo_server)


def test_bad_input_creates_nothing(demo_server: RunningServer, demo_world: DemoWorld) -> None:
    url = f"{demo_server.url}/catalog/aoi"
    bad_payload = {**demo_world.payload, "retry_count": -1, "layers": {"ndvi": {"variable": "NDVI"}}}
    answer = httpx.post(url, files=files(demo_world, bad_payload), timeout=60)
    assert answer.status_code == 400
    assert {p["field"] for p in answer.json()["problems"]} == {"retry_count", "layers.ndvi"}

    tiles = httpx.post(f"{demo_server.url}/catalog/tiles", files=files(demo_world), timeout=60).json()
    broken = json.loads(json.dumps(tiles))
    broken["features"][1]["properties"]["tiles"][0]["Date"] = "yesterday"
    broken["features"][2]["properties"]["data"] = "nope"
    answer = httpx.post(url, files=files(demo_world, tiles=broken), timeout=60)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("invalid tiles: ")
    assert {p["field"] for p in answer.json()["problems"]} == {
        "features[1].properties.tiles[0].Date",
        "features[2].properties.data",  # not an object: what should be in it is not looked for
    }

    scenes = httpx.post(f"{demo_server.url}/catalog/scenes", files=files(demo_world), timeout=60).json()
    for feature in scenes["features"][:2]:
        feature["properties"]["wkt"] = ""
        feature["geometry"] = None
    answer = httpx.post(url, files=files(demo_world, scenes=scenes), timeout=60)
    assert answer.status_code == 400
    problems = answer.json()["problems"]
    assert [p["field"] for p in problems] == [f["properties"]["source_id"] for f in scenes["features"][:2]]
    assert all("no footprint" in p["reason"] for p in problems)

    not_geojson = httpx.post(url, files=files(demo_world, scenes=[1, 2]), timeout=60)
    assert not_geojson.status_code == 400 and "expected a GeoJSON FeatureCollection" in not_geojson.json()["detail"]
    form = httpx.post(url, data={"area": json.dumps(demo_world.payload)}, timeout=60)  # urlencoded, not multipart
    assert form.status_code == 415
    assert_nothing_created(demo_server)


def test_unreachable_catalogue_creates_nothing(start_server: StartServer, demo_world: DemoWorld) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_server(
        catalogue={"providers": [{"kind": "stac", "url": f"http://127.0.0.1:{port}/v1"}], "max_retries": 0}
    )
    prepare_index(get_index(server.settings))
    answer = httpx.post(f"{server.url}/catalog/aoi", files=files(demo_world), timeout=60)
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("no catalogue provider answered: stac:")
    assert_nothing_created(server)


def test_upload_limit_applies(start_server: StartServer, demo_world: DemoWorld) -> None:
    server = start_server(**overrides(demo_world), api={"max_upload_bytes": 8192})
    scenes = {"type": "FeatureCollection", "features": [], "padding": "x" * 10_000}
    answer = httpx.post(f"{server.url}/catalog/aoi", files=files(demo_world, scenes=scenes), timeout=60)
    assert answer.status_code == 413
    assert_nothing_created(server)
