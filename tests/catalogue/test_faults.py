"""Network faults end: every kind of catalogue request against a server that accepts and never answers
(or sends headers, then stalls the body), an offline search, and the providers asked for a constellation.

Timeouts are short (1 s); `pytest.mark.timeout` turns a hang into a failure.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from geocube_ingest.catalogue import CatalogueUnavailable, SearchUnsupported, search_scenes
from geocube_ingest.catalogue.s1.sources import read_source
from geocube_ingest.errors import TemporaryError
from geocube_ingest.payload import Payload
from geocube_ingest.settings import Settings
from tests.catalogue.conftest import settings_with
from tests.catalogue.servers import Response
from tests.silent import Mode, silent_server

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 1.0
CLI = [sys.executable, "-m", "geocube_ingest.cli.main"]


def payload(constellation: str = "sentinel2", producttype: str = "L2A") -> Payload:
    return Payload.parse(
        {
            "name": "Faults",
            "wkt": "POLYGON ((-105.3 39.9, -105 39.9, -105 40.3, -105.3 40.3, -105.3 39.9))",
            "start_time": "2024-03-30T00:00:00Z",
            "end_time": "2024-04-25T00:00:00Z",
            "scene_type": {"constellation": constellation, "parameters": {"producttype": producttype}},
            "scene_graph_name": "CopyProductToStorage",
            "tile_graph_name": "Pass",
        }
    )


def provider(kind: str, url: str) -> dict[str, Any]:
    return {
        "stac": {"preset": "earth-search", "url": url + "/v1"},
        "stac-static": {"name": "static", "kind": "stac-static", "url": url + "/catalogue.json"},
        "cdse-odata": {"preset": "cdse-odata", "url": url + "/odata/v1"},
    }[kind]


@pytest.mark.parametrize("mode", ["silent", "stall"])
@pytest.mark.parametrize("kind", ["stac", "stac-static", "cdse-odata"])
def test_a_catalogue_that_does_not_answer_ends_in_a_temporary_error(kind: str, mode: Mode) -> None:
    with silent_server(mode) as server:
        settings = settings_with(provider(kind, server.url()), timeout_seconds=TIMEOUT)
        with pytest.raises(CatalogueUnavailable) as caught:
            search_scenes(payload(), settings=settings)
    assert caught.value.errors[0][0] == settings.catalogue.providers[0].name
    assert server.connections == 1  # a timeout is not retried: it already cost its time


@pytest.mark.parametrize("mode", ["silent", "stall"])
def test_s1_annotations_from_a_silent_server_are_a_temporary_error(mode: Mode) -> None:
    settings = Settings(catalogue={"timeout_seconds": TIMEOUT})  # type: ignore[arg-type]
    with silent_server(mode) as server, pytest.raises(TemporaryError):
        read_source(server.url("/S1A_IW_SLC__1SDV_20240101T000000.zip"), settings=settings)


def test_s1_annotations_are_read_with_the_catalogue_timeout(serve, tmp_path: Path) -> None:
    """The same reader still works against a server that answers (range reads of a zip)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("P.SAFE/annotation/s1a-iw1-slc-vv-x.xml", b"<product/>")
    body = archive.getvalue()

    server = serve(lambda request: Response(200, body, {"Content-Type": "application/zip"}))
    found = read_source(server.url + "/P.zip", settings=Settings(catalogue={"timeout_seconds": TIMEOUT}))  # type: ignore[arg-type]
    assert [content for _, content in found.annotations] == [b"<product/>"]


def _cli_env(home: Path, providers: list[dict[str, Any]], timeout: float = TIMEOUT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOCUBE_INGEST_")}
    env["GEOCUBE_INGEST_HOME"] = str(home)
    env["GEOCUBE_INGEST_CATALOGUE__PROVIDERS"] = json.dumps(providers)
    env["GEOCUBE_INGEST_CATALOGUE__TIMEOUT_SECONDS"] = str(timeout)
    return env


def _scenes(payload_file: Path, env: dict[str, str], deadline: float) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, "catalog", "scenes", str(payload_file)], env=env, capture_output=True, text=True, timeout=deadline
    )
    return done, time.monotonic() - started


@pytest.fixture
def payload_file(tmp_path: Path, s2_payload_doc: dict[str, Any]) -> Path:
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(s2_payload_doc))
    return path


def test_catalog_scenes_against_a_silent_api_ends_with_one_line(payload_file: Path, tmp_path: Path) -> None:
    """Issue 12: the command ends within the timeout + 10 s (else `subprocess.run` raises), exit 2, one line."""
    timeout = 2.0
    with silent_server("silent") as server:
        env = _cli_env(tmp_path / "home", [provider("stac", server.url())], timeout)
        done, _seconds = _scenes(payload_file, env, deadline=timeout + 10)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: no catalogue provider answered: earth-search: ")
    assert "timed out" in lines[0].lower()
    assert done.stdout == ""


def test_an_offline_search_fails_at_once_without_library_warnings(payload_file: Path, tmp_path: Path) -> None:
    """Refused connections and names that do not resolve are not retried; urllib3 says nothing."""
    providers = [
        {"preset": "cdse-odata", "url": "http://127.0.0.1:9/odata/v1"},
        {"preset": "earth-search", "url": "http://127.0.0.1:9/v1"},
        {"preset": "planetary-computer", "url": "http://geocube-ingest-test.invalid/api/stac/v1"},
        {"preset": "cdse-stac", "url": "http://127.0.0.1:9/stac"},
    ]
    env = _cli_env(tmp_path / "home", providers, timeout=30)
    env["GEOCUBE_INGEST_CATALOGUE__BACKOFF_SECONDS"] = "5"  # a retry of any of them would show
    done, _seconds = _scenes(payload_file, env, deadline=25)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no catalogue provider answered: cdse-odata: "), lines
    assert all(f"{name}: " in lines[0] for name in ("earth-search", "planetary-computer", "cdse-stac"))
    assert "urllib3" not in done.stderr and "Retrying" not in done.stderr


def test_only_providers_serving_the_constellation_are_asked(earth_search, serve) -> None:
    """No Landsat API for Sentinel-2; a product type the API has no collection for costs no request."""
    landsat = serve(lambda request: Response.json({"type": "Catalog"}))
    settings = settings_with(
        {"preset": "usgs-landsat", "url": landsat.url + "/stac"},
        {"preset": "earth-search", "url": earth_search.base},
    )
    result = search_scenes(payload(), settings=settings)
    assert result.provider == "earth-search" and landsat.requests == []

    earth_search.server.reset_counters()
    with pytest.raises(SearchUnsupported, match="earth-search has no SENTINEL1 collection for producttype 'SLC'"):
        search_scenes(payload("sentinel1", "SLC"), settings=settings)
    assert earth_search.server.requests == [] and landsat.requests == []

    only_landsat = settings_with({"preset": "usgs-landsat", "url": landsat.url + "/stac"})
    with pytest.raises(SearchUnsupported, match="usgs-landsat: no SENTINEL2 collection"):
        search_scenes(payload(), settings=only_landsat)
    assert landsat.requests == []
