"""`geocube-ingest serve` as operators start it, driven with curl as the seeds show."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from geocube_ingest.workflow import Workflow
from tests.api.demo import build_s2
from tests.api.serve import curl, serve

TOKEN = "curl-token-123"


@pytest.fixture
def served(database_url: str) -> Iterator[str]:
    """`geocube-ingest serve` in a subprocess, configured through the environment."""
    build_s2(Workflow(database_url))
    env = {"GEOCUBE_INGEST_DATABASE_URL": database_url, "GEOCUBE_INGEST_API__TOKEN": TOKEN}
    with serve(env, secrets=(TOKEN,)) as url:
        yield url


@pytest.mark.slow
def test_seed_curl_commands_against_serve(served: str, tmp_path: Path) -> None:
    auth = ["-H", f"Authorization: Bearer {TOKEN}"]
    status, body = curl(*auth, f"{served}/aoi/DenmarkDemoS2")
    assert status == 200
    assert body.startswith("Scenes:\n  new:     0\n") and "Root tiles : " in body

    status, body = curl(f"{served}/aoi/DenmarkDemoS2")
    assert status == 401

    status, body = curl(*auth, f"{served}/aoi/DenmarkDemoS2/tiles/RETRY")
    assert status == 200
    retry = json.loads(body)
    assert retry and {t["status"] for t in retry} == {"RETRY"}

    status, body = curl(*auth, "-X", "PUT", f"{served}/tile/{retry[0]['id']}/retry")
    assert status == 200 and json.loads(body)["status"] == "PENDING"

    status, body = curl(*auth, "-X", "POST", f"{served}/aoi/CurlDemo")
    assert status == 204
    scene = {
        "source_id": "S2A_MSIL1C_20220104T103431_N0301_R108_T32UNG_20220104T123507",
        "aoi": "CurlDemo",
        "data": {"date": "2022-01-04T10:34:31.024Z", "graph_name": "CopyProductToStorage"},
        "tiles": {"S2A_MSIL1C_20220104T103431_N0301_R108_T32UNG_20220104T123507": {"data": {"tile_nr": 0}}},
    }
    (tmp_path / "scene.json").write_text(json.dumps(scene))
    status, body = curl(
        *auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        f"@{tmp_path / 'scene.json'}",
        f"{served}/aoi/CurlDemo/scene",
    )
    assert status == 200 and isinstance(json.loads(body)["id"], int)

    status, body = curl(*auth, "-X", "PUT", f"{served}/aoi/CurlDemo/retry")
    assert status == 204 and body == ""
    status, body = curl(f"{served}/")
    assert status == 200 and json.loads(body)["status"] == "ok"
