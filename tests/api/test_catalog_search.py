"""`/catalog/scenes` and `/catalog/tiles` against the real server and a local STAC API (Earth Search's
recorded items): the seed's multipart form and JSON, paging, edited files posted back, Sentinel-1
bursts, existing tiles, provider failures and bad input. The workflow is only read here: SQLite."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from geocube_ingest.catalogue import list_tiles, scenes_from_geojson, scenes_to_geojson, to_workflow
from geocube_ingest.payload import Payload
from tests.api.conftest import RunningServer, StartServer
from tests.catalogue.helpers import S1_NAME, S2_DEMO, repeat_pass, s1_payload
from tests.catalogue.servers import StacApi
from tests.processes import refused_port

PAYLOAD: dict[str, Any] = {
    **S2_DEMO,
    "name": "FrontRangeS2",
    "tile_graph_name": "ChangeFromPrevious",
    "record_tags": {"area": "Front Range", "source": "api-tests"},
}
SCENE_PROPERTIES = {"aoi", "data", "id", "source_id", "tags", "wkt"}
SCENE_DATA = {"date", "graph_config", "graph_name", "is_retriable", "metadata", "record_id", "storage_uri", "uuid"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workflow.db'}"


@pytest.fixture
def catalog(start_server: StartServer, earth_search: StacApi) -> RunningServer:
    """The server whose only catalogue is the local Earth Search, retrying quickly."""
    return start_server(
        catalogue={
            "providers": [{"preset": "earth-search", "url": earth_search.base}],
            "max_retries": 1,
            "backoff_seconds": 0.01,
            "timeout_seconds": 10,
        }
    )


def area(document: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """The multipart `area` file, as `curl -F "area=@payload.json"` sends it."""
    body = json.dumps({**(document or PAYLOAD), **changes}).encode()
    return {"area": ("payload.json", body, "application/json")}


def searches(api: StacApi) -> int:
    assert api.server is not None
    return sum(1 for r in api.server.requests if r.path.endswith("/search"))


def test_scenes_file_as_the_seed_describes(catalog: RunningServer, earth_search: StacApi) -> None:
    answer = httpx.post(f"{catalog.url}/catalog/scenes", files=area(), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/geo+json"
    assert "link" not in answer.headers
    document = answer.json()
    assert document["type"] == "FeatureCollection"
    assert (document["next"], document["page"], document["limit"]) == (False, None, None)
    assert document["provider"] == "earth-search" and document["warnings"] == []
    features = document["features"]
    assert len(features) == 10  # every recorded acquisition of T13TDE in the interval
    dates = [f["properties"]["data"]["date"] for f in features]
    assert dates == sorted(dates) and dates[0].startswith("2024-03-31") and dates[-1].startswith("2024-04-22")
    for feature in features:
        props = feature["properties"]
        assert set(props) == SCENE_PROPERTIES
        assert set(props["data"]) == SCENE_DATA
        assert props["aoi"] == "FrontRangeS2" and props["id"] == 0
        assert props["source_id"].startswith("S2") and "_MSIL2A_" in props["source_id"]
        assert props["data"]["graph_name"] == "CopyProductToStorage" and props["data"]["is_retriable"] is True
        assert props["data"]["record_id"] == "" and props["data"]["uuid"]
        assert props["tags"]["area"] == "Front Range" and props["tags"]["sourceID"] == props["source_id"]
        assert props["tags"]["constellation"] == "SENTINEL2"
        assert props["wkt"].startswith("POLYGON") and feature["geometry"]["type"] == "Polygon"
    assert searches(earth_search) == 1


def test_json_bodies_and_get_answer_the_same(catalog: RunningServer) -> None:
    url = f"{catalog.url}/catalog/scenes"
    multipart = httpx.post(url, files=area(), timeout=30).json()
    bare = httpx.post(url, json=PAYLOAD, timeout=30)
    envelope = httpx.post(url, json={"area": PAYLOAD}, timeout=30)
    with_get = httpx.request("GET", url, files=area(), timeout=30)  # curl -X GET -F "area=@..."
    for answer in (bare, envelope, with_get):
        assert answer.status_code == 200, answer.text
        assert answer.json() == multipart


def test_paging_with_next_flag_and_link(catalog: RunningServer) -> None:
    everything = httpx.post(f"{catalog.url}/catalog/scenes", files=area(), timeout=30).json()
    seen: list[str] = []
    url: str | None = f"{catalog.url}/catalog/scenes?limit=4"
    pages = 0
    while url is not None:
        answer = httpx.post(url, files=area(), timeout=30)
        assert answer.status_code == 200, answer.text
        document = answer.json()
        assert document["page"] == pages and document["limit"] == 4
        assert len(document["features"]) == (4 if document["next"] else 2)
        seen += [f["properties"]["source_id"] for f in document["features"]]
        link = answer.headers.get("link")
        assert (link is not None) == document["next"]
        url = link.split(">")[0].lstrip("<") if link else None
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(f["properties"]["source_id"] for f in everything["features"])


def test_query_paging_overrides_the_payload(catalog: RunningServer) -> None:
    from_payload = httpx.post(f"{catalog.url}/catalog/scenes", files=area(page=2, limit=3), timeout=30).json()
    assert (from_payload["page"], from_payload["limit"], len(from_payload["features"])) == (2, 3, 3)
    overridden = httpx.post(f"{catalog.url}/catalog/scenes?page=0&limit=5", files=area(page=2, limit=3), timeout=30)
    document = overridden.json()
    assert (document["page"], document["limit"], len(document["features"]), document["next"]) == (0, 5, 5, True)
    no_limit = httpx.post(f"{catalog.url}/catalog/scenes?page=1", files=area(), timeout=30)
    assert no_limit.status_code == 400 and "page needs a limit" in no_limit.json()["detail"]


def test_tiles_from_the_catalogue_are_chained(catalog: RunningServer) -> None:
    answer = httpx.post(f"{catalog.url}/catalog/tiles", files=area(), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/geo+json"
    document = answer.json()
    assert document["provider"] == "earth-search" and document["next"] is False and "relinks" not in document
    features = document["features"]
    assert len(features) == 10
    tiles = [t for f in features for t in f["properties"]["tiles"]]
    assert [t["SourceID"] for t in tiles] == ["T13TDE"] * 10  # S2: tile = scene, named by its MGRS tile
    # ChangeFromPrevious reads the previous and the reference: one time series, oldest first.
    first = tiles[0]
    assert first["previous"] is None and first["reference"] is None
    for before, tile in itertools.pairwise(tiles):
        assert tile["previous"] == {"SourceID": "T13TDE", "SceneID": before["SceneID"], "Date": before["Date"]}
        assert tile["reference"]["SceneID"] == first["SceneID"]
    for feature in features:
        props = feature["properties"]
        assert props["data"]["tiles"] == {"T13TDE": {"swath_id": "", "tile_nr": 0}}
        assert props["tiles"][0]["data"]["graph_name"] == "ChangeFromPrevious"
        assert feature["geometry"]["type"] == "MultiPolygon"


def test_tiles_of_an_edited_scenes_file_need_no_search(catalog: RunningServer, earth_search: StacApi) -> None:
    scenes = httpx.post(f"{catalog.url}/catalog/scenes", files=area(), timeout=30).json()
    kept = [f for f in scenes["features"] if float(f["properties"]["tags"]["cloudCoverPercentage"]) < 30]
    assert 0 < len(kept) < 10
    edited = {**scenes, "features": kept}
    before = searches(earth_search)
    files = {**area(), "scenes": ("scenes.json", json.dumps(edited).encode(), "application/geo+json")}
    answer = httpx.post(f"{catalog.url}/catalog/tiles", files=files, timeout=30)
    assert answer.status_code == 200, answer.text
    assert searches(earth_search) == before  # the file replaces the catalogue
    document = answer.json()
    assert document["provider"] == "" and document["next"] is False
    assert [f["properties"]["source_id"] for f in document["features"]] == [f["properties"]["source_id"] for f in kept]
    # The same through JSON.
    as_json = httpx.post(f"{catalog.url}/catalog/tiles", json={"area": PAYLOAD, "scenes": edited}, timeout=30)
    assert as_json.json() == document


def test_existing_tiles_of_the_aoi_take_part(catalog: RunningServer) -> None:
    """Scenes already in the workflow are not listed again; the new tiles chain onto the ingested ones."""
    scenes_doc = httpx.post(f"{catalog.url}/catalog/scenes", files=area(), timeout=30).json()
    payload = Payload.parse(PAYLOAD)
    older = scenes_from_geojson(scenes_doc)[:4]
    catalog.workflow.ingest(payload.name, to_workflow(payload, older, list_tiles(payload, older))[0])
    ingested = {t.scene_source_id: t for t in catalog.workflow.tiles(payload.name)}

    document = httpx.post(f"{catalog.url}/catalog/tiles", files=area(), timeout=30).json()
    listed = [f["properties"]["source_id"] for f in document["features"]]
    assert len(listed) == 6 and not set(listed) & set(ingested)
    first_new = document["features"][0]["properties"]["tiles"][0]
    newest_ingested = max(ingested.values(), key=lambda t: t.date)
    assert first_new["previous"]["SceneID"] == newest_ingested.scene_source_id
    assert first_new["reference"]["SceneID"] == min(ingested.values(), key=lambda t: t.date).scene_source_id


def test_sentinel1_scenes_are_split_into_bursts(catalog: RunningServer, fixtures_dir: Path, tmp_path: Path) -> None:
    """Real IW SLC annotations (two passes 12 days apart), read from the `annotations_urls` of the payload."""
    source = fixtures_dir / "s1_safe" / f"{S1_NAME}.SAFE"
    passes = [repeat_pass(source, tmp_path, cycles) for cycles in (0, 1)]
    payload = s1_payload(f"{tmp_path}/{{SCENE}}.SAFE").to_json()
    files = {
        **area(payload),
        "scenes": ("scenes.json", json.dumps(scenes_to_geojson(passes)).encode(), "application/json"),
    }
    answer = httpx.post(f"{catalog.url}/catalog/tiles", files=files, timeout=60)
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["features"]
    bursts = [t["SourceID"] for t in first["properties"]["tiles"]]
    assert 3 <= len(bursts) < 27  # the bursts meeting the AOI, not the whole product
    assert all(b.startswith("t071_") and b[-3:] in ("iw1", "iw2", "iw3") for b in bursts)
    assert [t["SourceID"] for t in second["properties"]["tiles"]] == bursts
    for old, new in zip(first["properties"]["tiles"], second["properties"]["tiles"], strict=True):
        assert new["previous"] == {"SourceID": old["SourceID"], "SceneID": old["SceneID"], "Date": old["Date"]}
        assert new["data"]["swath_id"] == new["SourceID"][-3:].upper()
    assert set(first["properties"]["data"]["tiles"]) == set(bursts)


def test_missing_annotations_are_a_clear_error(catalog: RunningServer, fixtures_dir: Path, tmp_path: Path) -> None:
    source = fixtures_dir / "s1_safe" / f"{S1_NAME}.SAFE"
    scene = repeat_pass(source, tmp_path, 0)
    scenes_file = ("scenes.json", json.dumps(scenes_to_geojson([scene])).encode())
    missing = s1_payload(f"{tmp_path}/nowhere/{{SCENE}}.SAFE").to_json()
    answer = httpx.post(f"{catalog.url}/catalog/tiles", files={**area(missing), "scenes": scenes_file}, timeout=60)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("1 of 1 scenes could not be split into bursts: ")
    assert f"scene {scene.source_id}: no annotation files found" in answer.json()["detail"]

    with refused_port() as port:  # nothing answers there: try again later
        unreachable = s1_payload(f"http://127.0.0.1:{port}/{{SCENE}}.SAFE.zip").to_json()
        files = {**area(unreachable), "scenes": scenes_file}
        answer = httpx.post(f"{catalog.url}/catalog/tiles", files=files, timeout=60)
    assert answer.status_code == 503, answer.text
    assert scene.source_id in answer.json()["detail"]


def test_unreachable_catalogue_is_503(catalog: RunningServer, earth_search: StacApi) -> None:
    assert earth_search.server is not None
    earth_search.server.fail(503, times=100, path="/search")
    down = httpx.post(f"{catalog.url}/catalog/scenes", files=area(), timeout=30)
    assert down.status_code == 503
    assert down.json()["detail"].startswith("no catalogue provider answered: earth-search:")
    tiles_down = httpx.post(f"{catalog.url}/catalog/tiles", files=area(), timeout=30)
    assert tiles_down.status_code == 503


def test_catalogue_answering_errors_is_502(catalog: RunningServer, earth_search: StacApi) -> None:
    assert earth_search.server is not None
    earth_search.server.fail(400, times=100, path="/search")
    refused = httpx.post(f"{catalog.url}/catalog/scenes", files=area(), timeout=30)
    assert refused.status_code == 502
    assert "earth-search" in refused.json()["detail"]


def test_bad_payloads_name_their_fields(catalog: RunningServer) -> None:
    url = f"{catalog.url}/catalog/scenes"
    bad = {**PAYLOAD, "name": "with space", "end_time": "2020-01-01T00:00:00Z", "colour": "red"}
    del bad["scene_graph_name"]
    answer = httpx.post(url, files=area(bad), timeout=30)
    assert answer.status_code == 400
    body = answer.json()
    assert body["detail"].startswith("invalid payload: ")
    fields = {p["field"] for p in body["problems"]}
    assert {"name", "scene_graph_name", "colour"} <= fields
    assert "unknown field" in {p["reason"] for p in body["problems"] if p["field"] == "colour"}

    interval = httpx.post(url, files=area(end_time="2024-01-01T00:00:00Z"), timeout=30)
    assert interval.status_code == 400 and "start_time" in interval.json()["detail"]
    not_json = httpx.post(url, files={"area": ("payload.json", b"{name: oops", "application/json")}, timeout=30)
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["detail"]


@pytest.mark.parametrize("route", ["scenes", "tiles"])
def test_malformed_requests_are_refused(catalog: RunningServer, earth_search: StacApi, route: str) -> None:
    url = f"{catalog.url}/catalog/{route}"
    missing = httpx.post(url, timeout=30)
    assert missing.status_code == 400 and "multipart field 'area'" in missing.json()["detail"]
    no_area = httpx.post(url, files={"payload": ("p.json", json.dumps(PAYLOAD).encode())}, timeout=30)
    assert no_area.status_code == 400 and "'payload'" in no_area.json()["detail"]
    twice = httpx.post(url, files=[("area", ("a.json", b"{}")), ("area", ("b.json", b"{}"))], timeout=30)
    assert twice.status_code == 400 and "given 2 times" in twice.json()["detail"]
    text = httpx.post(url, content=json.dumps(PAYLOAD), headers={"content-type": "text/plain"}, timeout=30)
    assert text.status_code == 415 and "multipart/form-data" in text.json()["detail"]
    broken_json = httpx.post(url, content=b"{", headers={"content-type": "application/json"}, timeout=30)
    assert broken_json.status_code == 400 and "not valid JSON" in broken_json.json()["detail"]
    extra = httpx.post(url, json={"area": PAYLOAD, "tiles": {}, "other": 1}, timeout=30)
    assert extra.status_code == 400 and "'other'" in extra.json()["detail"]
    if route == "scenes":
        scenes_here = httpx.post(url, files={**area(), "scenes": ("s.json", b"{}")}, timeout=30)
        assert scenes_here.status_code == 400 and "reads area" in scenes_here.json()["detail"]
    else:
        bad_scenes = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"data": {}}}]}
        files = {**area(), "scenes": ("scenes.json", json.dumps(bad_scenes).encode())}
        refused = httpx.post(url, files=files, timeout=30)
        assert refused.status_code == 400
        problems = {p["field"] for p in refused.json()["problems"]}
        assert problems == {"features[0].properties.source_id", "features[0].properties.data.date"}
    assert searches(earth_search) == 0  # nothing reached the catalogue


def test_upload_size_limit(start_server: StartServer, earth_search: StacApi) -> None:
    server = start_server(
        api={"max_upload_bytes": 4096}, catalogue={"providers": [{"preset": "earth-search", "url": earth_search.base}]}
    )
    big = {**PAYLOAD, "record_tags": {"notes": "x" * 8000}}
    answer = httpx.post(f"{server.url}/catalog/scenes", files=area(big), timeout=30)
    assert answer.status_code == 413
    assert "larger than 4096 bytes" in answer.json()["detail"]
    assert httpx.post(f"{server.url}/catalog/scenes", files=area(), timeout=30).status_code == 200
    assert searches(earth_search) == 1


def test_token_is_required(start_server: StartServer, earth_search: StacApi) -> None:
    server = start_server(
        api={"token": "catalog-token"},
        catalogue={"providers": [{"preset": "earth-search", "url": earth_search.base}]},
    )
    for route in ("scenes", "tiles", "aoi"):
        refused = httpx.post(f"{server.url}/catalog/{route}", files=area(), timeout=30)
        assert refused.status_code == 401
    auth = {"Authorization": "Bearer catalog-token"}
    assert httpx.post(f"{server.url}/catalog/scenes", files=area(), headers=auth, timeout=30).status_code == 200
    assert searches(earth_search) == 1
    assert server.workflow.list_aois() == []
