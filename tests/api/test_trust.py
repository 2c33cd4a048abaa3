"""The API user's reach (docs/security.md): the attacks of issue 12 through the real server.

The server runs with the default `security` settings (no file roots, no storage root but its
own), whatever the test session allows elsewhere. Every refusal is a 4xx with a JSON body
naming the problem, and leaves nothing behind: no AOI, scene, record or file.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from geocube_ingest.api.schemas_catalog import EXAMPLE_PAYLOAD
from geocube_ingest.index import get_index
from tests.api.conftest import RunningServer
from tests.api.serve import serve_process

S2_NAME = "S2A_MSIL1C_20220104T103431_N0301_R108_T32UNG_20220104T123507"
PAYLOAD: dict[str, Any] = {**EXAMPLE_PAYLOAD, "name": "TrustAOI"}


def scenes_file(**data: Any) -> dict[str, Any]:
    """A scenes file of one Sentinel-2 scene, as /catalog/scenes writes them."""
    scene_data = {
        "date": "2022-01-04T10:34:31Z",
        "graph_config": {},
        "graph_name": "CopyProductToStorage",
        "is_retriable": True,
        "metadata": {"download_link": f"https://example.invalid/{S2_NAME}.zip"},
        "record_id": "",
        "storage_uri": "",
        "uuid": "875f96fb-e591-4bcf-8202-fada69733e26",
        **data,
    }
    properties = {
        "aoi": "TrustAOI",
        "data": scene_data,
        "id": 0,
        "source_id": S2_NAME,
        "tags": {"constellation": "SENTINEL2"},
        "wkt": "POLYGON ((9.9 54.95, 10.0 54.95, 10.0 55.05, 9.9 55.05, 9.9 54.95))",
    }
    return {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None, "properties": properties}]}


def parts(payload: Any = None, **documents: Any) -> dict[str, Any]:
    """`curl -F "area=@payload.json" [-F "scenes=@scenes.json"]`; bytes and str are sent as they are."""

    def encode(document: Any) -> bytes:
        return (
            document
            if isinstance(document, bytes)
            else str(document).encode()
            if isinstance(document, str)
            else (json.dumps(document).encode())
        )

    files = {"area": ("payload.json", encode(PAYLOAD if payload is None else payload), "application/json")}
    for name, document in documents.items():
        files[name] = (f"{name}.json", encode(document), "application/json")
    return files


def nothing_stored(locked_server: RunningServer) -> None:
    assert httpx.get(f"{locked_server.url}/aoi/").json() == []
    assert get_index(locked_server.settings).find_records() == []
    storage = Path(locked_server.settings.resolved_storage_uri)
    assert not storage.exists() or not any(storage.rglob("*"))


def refused(answer: httpx.Response, *fragments: str) -> dict[str, Any]:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    body: dict[str, Any] = answer.json()
    assert isinstance(body.get("detail"), str | list) and body["detail"], body
    for fragment in fragments:
        assert fragment in answer.text, (fragment, answer.text)
    return body


# -- sources and sinks ---------------------------------------------------------------------------


def test_a_file_link_in_a_scenes_file_is_refused_before_anything_is_created(locked_server: RunningServer) -> None:
    for link in ("file:///etc/passwd", "/etc/passwd", "local:///etc/shadow"):
        scenes = scenes_file(metadata={"download_link": link})
        answer = httpx.post(f"{locked_server.url}/catalog/aoi", files=parts(scenes=scenes), timeout=60)
        body = refused(answer, "not allowed")
        assert body["problems"][0]["field"] == f"{S2_NAME}.data.metadata.download_link"
        assert "root:" not in answer.text  # nothing of the file
    assets = {"B01": {"href": "https://example.invalid/B01.jp2"}, "B02": {"href": "file:///etc/passwd"}}
    answer = httpx.post(
        f"{locked_server.url}/catalog/aoi", files=parts(scenes=scenes_file(metadata={"assets": assets}))
    )
    refused(answer, "assets.B02.href", "not allowed")
    nothing_stored(locked_server)


def test_a_storage_uri_outside_the_roots_is_refused(locked_server: RunningServer, tmp_path: Path) -> None:
    outside = str(tmp_path / "elsewhere")
    for route in ("/catalog/scenes", "/catalog/tiles", "/catalog/aoi"):
        answer = httpx.post(f"{locked_server.url}{route}", files=parts({**PAYLOAD, "storage_uri": outside}), timeout=60)
        assert refused(answer, "not allowed")["problems"][0]["field"] == "storage_uri"
    for uri in (outside, "s3://someone-elses-bucket/x", f"{locked_server.settings.resolved_storage_uri}/../elsewhere"):
        answer = httpx.post(
            f"{locked_server.url}/catalog/aoi", files=parts(scenes=scenes_file(storage_uri=uri)), timeout=60
        )
        assert refused(answer, "not allowed")["problems"][0]["field"] == f"{S2_NAME}.data.storage_uri"
    nothing_stored(locked_server)
    inside = f"{locked_server.settings.resolved_storage_uri}/team-a"
    answer = httpx.post(
        f"{locked_server.url}/catalog/scenes", files=parts({**PAYLOAD, "storage_uri": inside}), timeout=60
    )
    assert answer.status_code == 200, answer.text


def test_scene_bodies_and_data_are_checked_too(locked_server: RunningServer) -> None:
    assert httpx.post(f"{locked_server.url}/aoi/A").status_code == 204
    scene = {"source_id": S2_NAME, "data": {"date": "2022-01-04T10:34:31Z"}, "tiles": {S2_NAME: {}}}
    bad = copy.deepcopy(scene)
    bad["data"]["storage_uri"] = "/etc"
    refused(httpx.post(f"{locked_server.url}/aoi/A/scene", json=bad), "data.storage_uri", "not allowed")
    bad["data"] = {**scene["data"], "metadata": {"download_link": "file:///etc/passwd"}}
    refused(httpx.post(f"{locked_server.url}/aoi/A/scene", json=bad), "download_link", "not allowed")
    assert httpx.get(f"{locked_server.url}/aoi/A/scenes").json() == []
    created = httpx.post(f"{locked_server.url}/aoi/A/scene", json=scene)
    assert created.status_code == 200, created.text
    scene_id = created.json()["id"]
    data = httpx.get(f"{locked_server.url}/scene/{scene_id}").json()["data"]
    for change in ({"storage_uri": "gs://elsewhere"}, {"metadata": {"assets": {"a": "/etc/passwd"}}}):
        refused(httpx.put(f"{locked_server.url}/scene/{scene_id}/data", json={**data, **change}), "not allowed")
    assert httpx.get(f"{locked_server.url}/scene/{scene_id}").json()["data"] == data


def test_annotation_urls_outside_the_roots_are_refused(locked_server: RunningServer) -> None:
    payload = {**PAYLOAD, "scene_type": {"constellation": "sentinel1"}, "scene_graph_name": "S1Backscatter"}
    for pattern in ("file:///etc/{SCENE}.zip", "/etc/passwd", "data://application/json;base64,e30="):
        answer = httpx.post(
            f"{locked_server.url}/catalog/tiles", files=parts({**payload, "annotations_urls": [pattern]})
        )
        assert refused(answer, "not allowed")["problems"][0]["field"] == "annotations_urls[0]"


# -- malformed input -----------------------------------------------------------------------------


def polygon(vertices: int) -> dict[str, Any]:
    import math

    ring = [
        [10 + math.cos(2 * math.pi * k / vertices), 55 + math.sin(2 * math.pi * k / vertices) / 2]
        for k in range(vertices)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


MALFORMED: dict[str, Any] = {
    "type given as a list": {**PAYLOAD, "type": ["Feature"]},
    "properties given as a list": {**PAYLOAD, "properties": [1]},
    "deeply nested JSON": "[" * 5000 + "]" * 5000,
    "nested past the depth limit": {**PAYLOAD, "graph_config": json.loads('{"a":' * 70 + "1" + "}" * 70)},
    "an integer of thousands of digits": json.dumps(PAYLOAD)[:-1] + ', "retry_count": ' + "9" * 5000 + "}",
    "retry_count beyond a 32-bit integer": {**PAYLOAD, "retry_count": 2**40},
    "negative retry_count": {**PAYLOAD, "retry_count": -1},
    "page beyond its bound": {**PAYLOAD, "page": 10**12, "limit": 10},
    "a graph name over 255 bytes": {**PAYLOAD, "tile_graph_name": "é" * 130},
    "an AOI name of 300 characters": {**PAYLOAD, "name": "A" * 300},
    "an AOI name with a slash": {**PAYLOAD, "name": "a/../b"},
    "a NUL character in a tag": {**PAYLOAD, "record_tags": {"area": "Den\u0000mark"}},
    "too many tags": {**PAYLOAD, "record_tags": {f"t{i}": "x" for i in range(101)}},
    "a tag of 5000 characters": {**PAYLOAD, "record_tags": {"t": "x" * 5000}},
    "too many vertices": {**PAYLOAD, "geometry": polygon(100_001)},
    "coordinates given as a string": {**PAYLOAD, "geometry": {"type": "Polygon", "coordinates": ""}},
    "NaN in the coordinates": json.dumps(PAYLOAD).replace("54.9]", "NaN]", 1),
    "Infinity in the coordinates": json.dumps(PAYLOAD).replace("54.9]", "1e999]", 1),
    "a date out of range": {**PAYLOAD, "end_time": "9999-12-31T23:59:59-05:00"},
    "a date before its range": {**PAYLOAD, "start_time": "0001-01-01T00:00:00+05:00"},
    "start after end": {**PAYLOAD, "start_time": "2023-01-01T00:00:00Z"},
    "an unknown field": {**PAYLOAD, "colour": "blue"},
    "a filter given as a list": {
        **PAYLOAD,
        "scene_type": {"constellation": "sentinel2", "parameters": {"producttype": ["L1C"]}},
    },
    "too many layers": {**PAYLOAD, "layers": {f"l{i}": {"instance_id": "x"} for i in range(101)}},
    "21 annotation URLs": {**PAYLOAD, "annotations_urls": ["s3://b/{SCENE}.zip"] * 21},
    "not JSON": "{name: TrustAOI",
    "not UTF-8": b"\xff\xfe\x00\x01",
    "a JSON array": [PAYLOAD],
    "an empty document": "",
}


def test_each_kind_of_malformed_payload_gets_a_4xx(locked_server: RunningServer) -> None:
    with httpx.Client(base_url=locked_server.url, timeout=60) as http:
        for kind, document in MALFORMED.items():
            raw = document if isinstance(document, str | bytes) else json.dumps(document)
            answers = [http.post("/catalog/aoi", files=parts(raw)), http.post("/catalog/scenes", files=parts(raw))]
            if raw:
                answers.append(http.post("/catalog/scenes", content=raw, headers={"content-type": "application/json"}))
            for answer in answers:
                assert 400 <= answer.status_code < 500 and answer.json()["detail"], (kind, answer.text)
    nothing_stored(locked_server)


SCENE_FILES: dict[str, Any] = {
    "a scene id that is not a number": {"id": "abc"},
    "a scene id of 30 digits": {"id": 10**30},
    "a source id with a slash": {"source_id": "../../etc/passwd"},
    "a source id of 600 characters": {"source_id": "S" * 600},
    "a date that is not one": {"data": {"date": "yesterday"}},
    "a date of thousands of digits": {"data": {"date": "9" * 5000}},
    "a metadata list": {"data": {"date": "2022-01-04T10:34:31Z", "metadata": [1]}},
    "a NUL in the metadata": {"data": {"date": "2022-01-04T10:34:31Z", "metadata": {"x": "\u0000"}}},
    "300 tags": {"tags": {f"t{i}": "x" for i in range(300)}},
}


def test_each_kind_of_malformed_scenes_or_tiles_file_gets_a_4xx(locked_server: RunningServer) -> None:
    for kind, change in SCENE_FILES.items():
        scenes = scenes_file()
        scenes["features"][0]["properties"].update(change)
        tiles = copy.deepcopy(scenes)
        tiles["features"][0]["properties"]["tiles"] = [{"SourceID": S2_NAME, "id": "x" if "id" in kind else 0}]
        for documents in ({"scenes": scenes}, {"tiles": tiles}):
            answer = httpx.post(f"{locked_server.url}/catalog/aoi", files=parts(**documents), timeout=60)
            assert 400 <= answer.status_code < 500 and answer.json()["detail"], (kind, answer.text)
    nothing_stored(locked_server)


def test_bodies_of_the_aoi_routes_are_bounded(locked_server: RunningServer) -> None:
    with httpx.Client(base_url=locked_server.url, timeout=30) as http:
        assert http.post("/aoi/A").status_code == 204
        scene = {"source_id": S2_NAME, "data": {}, "tiles": {S2_NAME: {}}}
        refused(http.post("/aoi/A/scene", json={**scene, "retry_count": 2**40}))
        refused(http.post("/aoi/A/scene", json={**scene, "data": json.loads('{"a":' * 70 + "1" + "}" * 70)}))
        refused(http.post("/aoi/A/scene", json={**scene, "data": {"n": 10**30}}))
        for raw in ("[" * 5000 + "]" * 5000, '{"x": ' + "9" * 5000 + "}", '{"x": NaN}', '{"x": "\\u0000"}'):
            refused(http.post("/aoi/A/scene", content=raw, headers={"content-type": "application/json"}))
            refused(http.put("/scene/1/data", content=raw, headers={"content-type": "application/json"}))
        assert http.get("/aoi/A/scenes").json() == []
        refused(http.post(f"/aoi/{'A' * 300}"))
        assert [aoi["ID"] for aoi in http.get("/aoi/").json()] == ["A"]


def test_a_refused_batch_leaves_no_aoi_behind(locked_server: RunningServer) -> None:
    """The workflow refuses the tiles (a link to a tile that does not exist) after the AOI would be created."""
    tiles = scenes_file()
    tile = {"SourceID": S2_NAME, "SceneID": S2_NAME, "Date": "2022-01-04T10:34:31Z", "wkt": ""}
    tile["data"] = {"graph_name": "Pass"}
    tile["previous"] = {"SourceID": "T99XXX", "SceneID": "S2B_MSIL1C_20211230_X", "Date": "2021-12-30T10:00:00Z"}
    tiles["features"][0]["properties"]["tiles"] = [tile]
    answer = httpx.post(f"{locked_server.url}/catalog/aoi", files=parts(tiles=tiles), timeout=60)
    refused(answer, "does not exist")
    nothing_stored(locked_server)


# -- 500s ----------------------------------------------------------------------------------------


def test_a_500_keeps_the_connection_for_the_next_request(locked_server: RunningServer) -> None:
    """Two requests written at once on one connection: both are answered, the 500 first."""
    from sqlalchemy import text

    assert httpx.post(f"{locked_server.url}/aoi/A").status_code == 204
    with locked_server.workflow.engine.begin() as connection:  # a broken database: the scene table is gone
        connection.execute(text("ALTER TABLE scene RENAME TO scene_gone"))
    host, port = locked_server.url.removeprefix("http://").split(":")
    request = f"GET /aoi/A/scenes HTTP/1.1\r\nHost: {host}\r\n\r\nGET / HTTP/1.1\r\nHost: {host}\r\n\r\n"
    try:
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(request.encode())
            received = b""
            while received.count(b"HTTP/1.1 ") < 2 or not received.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
    finally:
        with locked_server.workflow.engine.begin() as connection:
            connection.execute(text("ALTER TABLE scene_gone RENAME TO scene"))
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"500", b"200"], received[:500]
    assert b"internal server error (see the server log)" in answers[0]
    assert b'"status":"ok"' in answers[1]


# -- archives ------------------------------------------------------------------------------------

S1_NAME = "S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768"


class PeakMemory:
    """The largest resident size of a process while the block runs (sampled every 5 ms)."""

    def __init__(self, pid: int):
        import psutil

        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self.baseline = self.peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def s1_bomb(folder: Path) -> Path:
    """Issue 12's attack: a 1 MB product zip whose annotation holds 1 GB of zeros."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{S1_NAME}.zip"
    member = f"{S1_NAME}.SAFE/annotation/s1a-iw1-slc-vv-20200511t135119-20200511t135144-032518-03c421-004.xml"
    chunk = b"\0" * 1024 * 1024
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(member, "w", force_zip64=True) as out:
        for _ in range(1024):
            out.write(chunk)
    return path


@pytest.mark.slow
def test_an_annotation_zip_bomb_costs_the_server_no_memory(tmp_path: Path) -> None:
    bomb = s1_bomb(tmp_path / "annotations")
    assert bomb.stat().st_size < 1_200_000
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    env = {
        "GEOCUBE_INGEST_HOME": str(tmp_path / "home"),
        "GEOCUBE_INGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'workflow.db'}",
        "GEOCUBE_INGEST_SECURITY__FILE_ROOTS": json.dumps([str(bomb.parent)]),
        "GEOCUBE_INGEST_CATALOGUE__PROVIDERS": json.dumps(
            [{"name": "none", "kind": "stac-static", "url": str(catalogue)}]
        ),
    }
    payload = {
        **PAYLOAD,
        "scene_type": {"constellation": "sentinel1"},
        "scene_graph_name": "S1Backscatter",
        "annotations_urls": [str(bomb.parent / "{SCENE}.zip")],
    }
    scenes = scenes_file(metadata={})
    scenes["features"][0]["properties"]["source_id"] = S1_NAME
    with serve_process(env) as (url, process), PeakMemory(process.pid) as memory:
        for route in ("/catalog/tiles", "/catalog/aoi"):
            answer = httpx.post(f"{url}{route}", files=parts(payload, scenes=scenes), timeout=120)
            refused(answer, "is 1073741824 bytes (limit 52428800)")
        assert httpx.get(f"{url}/aoi/").json() == []
    before, peak = memory.baseline / 2**20, memory.peak / 2**20
    print(f"\nserver RSS through the zip-bomb requests: {before:.0f} MB before, peak {peak:.0f} MB")
    assert memory.peak < 500 * 2**20
