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


def test_serve_refuses_an_open_network_address_without_a_token(tmp_path: Path) -> None:
    """Anonymous access must be asked for: no token and a non-loopback address is a user error."""
    import os
    import subprocess

    from geocube_ingest.cli.serve import access_line
    from geocube_ingest.errors import InvalidInput
    from geocube_ingest.settings import Settings
    from tests.api.serve import command, free_port

    env = {**os.environ, "GEOCUBE_INGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'wf.db'}"}
    done = subprocess.run(
        [*command(), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no api.token is configured and 0.0.0.0 is not a loopback address" in done.stderr
    open_settings = Settings()
    assert "open to anyone on this machine" in access_line(open_settings, "127.0.0.1", False)
    assert "NO TOKEN" in access_line(open_settings, "0.0.0.0", True)
    with pytest.raises(InvalidInput):
        access_line(open_settings, "192.168.1.10", False)
    allowed = Settings(security={"allow_anonymous": True})  # type: ignore[arg-type]
    assert "NO TOKEN" in access_line(allowed, "::", False)
    guarded = Settings(api={"token": "t"})  # type: ignore[arg-type]
    assert "bearer token required" in access_line(guarded, "0.0.0.0", False)
