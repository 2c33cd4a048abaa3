"""The seed's `/catalog/*` curl commands, exactly as written, against `geocube-ingest serve` (a subprocess
configured through the environment) on the demo's offline world: list scenes, list tiles, then start
ingestions from the tiles file, from the scenes file and from the payload alone. SQLite only: the
same routes run on PostgreSQL in test_catalog_aoi.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from geocube_ingest.demo.build import AOI_NAME, DemoWorld, overrides, prepare_index
from geocube_ingest.index import get_index
from geocube_ingest.settings import Settings
from tests.api.serve import curl, serve

TOKEN = "catalog-curl-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workflow.db'}"


@pytest.fixture
def served(database_url: str, demo_world: DemoWorld, tmp_path: Path) -> Iterator[str]:
    settings = overrides(demo_world)
    prepare_index(get_index(Settings(database_url=database_url)))
    env = {
        "GEOCUBE_INGEST_DATABASE_URL": database_url,
        "GEOCUBE_INGEST_API__TOKEN": TOKEN,
        "GEOCUBE_INGEST_CATALOGUE__PROVIDERS": json.dumps(settings["catalogue"]["providers"]),
        "GEOCUBE_INGEST_DOWNLOAD__PROVIDERS": json.dumps(settings["download"]["providers"]),
        "GEOCUBE_INGEST_STORAGE_URI": str(tmp_path / "storage"),
        "GEOCUBE_INGEST_WORK_DIR": str(tmp_path / "work"),
        "GEOCUBE_INGEST_PROCESSING__N_WORKERS": "1",
    }
    with serve(env, secrets=(TOKEN,)) as url:
        yield url


def wait_until_ingested(url: str, aoi: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        summary: dict[str, Any] = httpx.get(f"{url}/aoi/{aoi}/summary", headers=AUTH, timeout=30).json()
        tiles = summary["tiles"]
        if tiles["total"] and tiles["done"] == tiles["total"]:
            return summary
        if tiles["failed"] or tiles["retry"] or time.monotonic() > deadline:
            text = httpx.get(f"{url}/aoi/{aoi}", headers=AUTH, timeout=30).text
            raise AssertionError(f"AOI {aoi} not ingested:\n{text}")
        time.sleep(0.5)


@pytest.mark.slow
def test_seed_catalog_curl_commands(served: str, demo_world: DemoWorld, tmp_path: Path) -> None:
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(demo_world.payload, indent=2))
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    token = TOKEN
    server = served

    status, body = curl(
        "-F", f"area=@{payload_file}", "-H", f"Authorization: Bearer {token}", f"{server}/catalog/scenes"
    )
    assert status == 200, body
    scenes = json.loads(body)
    assert scenes["type"] == "FeatureCollection" and len(scenes["features"]) == 9
    assert {f["properties"]["aoi"] for f in scenes["features"]} == {AOI_NAME}
    (outputs / "scenes.json").write_text(body)

    status, body = curl(
        "-F", f"area=@{payload_file}", "-H", f"Authorization: Bearer {token}", f"{server}/catalog/tiles"
    )
    assert status == 200, body
    tiles = json.loads(body)
    assert [t["SourceID"] for f in tiles["features"] for t in f["properties"]["tiles"]] == ["T13TDE"] * 9
    (outputs / "tiles.json").write_text(body)

    status, body = curl("-F", f"area=@{payload_file}", f"{server}/catalog/aoi")
    assert status == 401  # no token: refused before anything happens

    # From a list of tiles (the files are named relative to the working directory, as in the seed).
    status, body = curl(
        "-F",
        f"area=@{payload_file}",
        "-F",
        "tiles=@outputs/tiles.json",
        "-H",
        f"Authorization: Bearer {token}",
        f"{server}/catalog/aoi",
        cwd=tmp_path,
    )
    assert status == 202, body
    answer = json.loads(body)
    assert (answer["aoi"], answer["scenes_created"], answer["tiles_created"]) == (AOI_NAME, 9, 9)
    assert answer["run"]["mode"] == "in-process" and answer["run"]["started"] is True

    # From a list of scenes, into a second AOI.
    other = "LongmontFromScenes"
    other_payload = tmp_path / "other.json"
    other_payload.write_text(json.dumps({**demo_world.payload, "name": other}))
    status, body = curl(
        "-F",
        f"area=@{other_payload}",
        "-F",
        "scenes=@outputs/scenes.json",
        "-H",
        f"Authorization: Bearer {token}",
        f"{server}/catalog/aoi",
        cwd=tmp_path,
    )
    assert status == 202, body
    assert (json.loads(body)["aoi"], json.loads(body)["scenes_created"]) == (other, 9)

    first = wait_until_ingested(server, AOI_NAME)
    second = wait_until_ingested(server, other)
    assert first["scenes"]["done"] == second["scenes"]["done"] == 9
    assert first["status"] == second["status"] == "DONE"

    # The payload alone: the catalogue is searched again and nothing is posted twice.
    status, body = curl("-F", f"area=@{payload_file}", "-H", f"Authorization: Bearer {token}", f"{server}/catalog/aoi")
    assert status == 202, body
    again = json.loads(body)
    assert (again["scenes_found"], again["scenes_created"], again["scenes_existing"]) == (9, 0, 9)
    assert again["run"]["started"] is False
