"""Fixtures of the catalogue tests: local servers replaying recorded provider answers, settings, payloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from geocube_ingest.payload import Payload
from geocube_ingest.settings import CatalogueProviderSettings, CatalogueSettings, S3Settings, Settings
from tests.catalogue.helpers import S2_DEMO
from tests.catalogue.servers import (
    LocalServer,
    ProxyApp,
    StacApi,
    StacReplay,
    load_cassette,
)
from tests.processes import free_port

S1_SAFE = "s1_safe"
FILTER_CONFORMANCE = (
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
)


@pytest.fixture
def serve() -> Iterator[Callable[[Any], LocalServer]]:
    """Start a LocalServer for an app (the app gets `.server`); every server stops after the test."""
    started: list[LocalServer] = []

    def start(app: Any) -> LocalServer:
        server = LocalServer(app).start()
        app.server = server
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def fixture_items(fixtures_dir: Path, *names: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for name in names:
        document = read_json(fixtures_dir / "stac" / name)
        items.extend(document["features"] if document.get("type") == "FeatureCollection" else [document])
    return items


def served_api(serve: Callable[[Any], LocalServer], fixtures_dir: Path, names: list[str], **options: Any) -> StacApi:
    """A running local STAC API holding the items of these fixture files."""
    api = StacApi(fixture_items(fixtures_dir, *names), **options)
    serve(api)
    return api


@pytest.fixture
def earth_search_landing(fixtures_dir: Path) -> dict[str, Any]:
    cassette = load_cassette(fixtures_dir / "stac/cassettes/earth_search_v1_search_filter_cloudcover_2pages.yaml")
    return json.loads(cassette[0]["response"]["body"]["string"])


@pytest.fixture
def earth_search(serve, fixtures_dir: Path, earth_search_landing: dict[str, Any]) -> StacApi:
    """A local STAC API with Earth Search's recorded landing page and items."""
    names = [
        "earth_search/itemcollection_sentinel-2-c1-l2a_T13TDE_10items.json",
        "earth_search/search_sentinel-2-l1c_limit1.json",
        "earth_search/search_filter_cloudcover_page1.json",
    ]
    return served_api(serve, fixtures_dir, names, landing=earth_search_landing)


@pytest.fixture
def planetary_computer(serve, fixtures_dir: Path) -> StacApi:
    names = [
        "planetary_computer/itemcollection_sentinel-2-l2a_T13TDE_2items.json",
        "planetary_computer/search_sentinel-2-l2a_datetime_33items.json",
        "planetary_computer/item_sentinel-2-l2a_S2B_MSIL2A_20190629T212529_R043_T06VVN.json",
        "planetary_computer/item_sentinel-1-grd_S1A_EW_GRDM_1SSH_20220505T235314_staging.json",
    ]
    return served_api(serve, fixtures_dir, names, conformance=FILTER_CONFORMANCE, root="/api/stac/v1")


@pytest.fixture
def cdse_stac(serve, fixtures_dir: Path) -> StacApi:
    names = [
        "cdse/item_sentinel-1-slc_S1A_IW_SLC__1SDV_20250104T000000_C1A6.json",
        "cdse/item_sentinel-1-grd-cog_S1A_IW_GRDH_1SDV_20240607T000653_6EE4_COG.json",
        "cdse/item_sentinel-2-l2a_S2A_MSIL2A_20220217T183431_N0510_R027_T13VEK.json",
        "cdse/item_sentinel-2-l1c_S2A_MSIL1C_20240116T000741_N0510_R130_T51CVP.json",
    ]
    return served_api(serve, fixtures_dir, names, conformance=FILTER_CONFORMANCE)


@pytest.fixture
def cloudcover_replay(serve, fixtures_dir: Path) -> StacReplay:
    """Earth Search's two recorded /search pages (CQL2 cloud cover filter), chained by `next`."""
    replay = StacReplay(
        load_cassette(fixtures_dir / "stac/cassettes/earth_search_v1_search_filter_cloudcover_2pages.yaml")
    )
    serve(replay)
    return replay


@pytest.fixture
def odata_pages(fixtures_dir: Path) -> Callable[..., dict[int, Any]]:
    def pages(**by_skip: str) -> dict[int, Any]:
        return {int(k.removeprefix("skip")): read_json(fixtures_dir / "odata" / v) for k, v in by_skip.items()}

    return pages


def settings_with(*providers: dict[str, Any], **catalogue: Any) -> Settings:
    """Settings whose catalogue uses these providers, retrying quickly."""
    options = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, "max_retries": 2, "timeout_seconds": 10}
    options.update(catalogue)
    configs = [CatalogueProviderSettings(**p) for p in providers]
    return Settings(catalogue=CatalogueSettings(providers=configs, **options))


@pytest.fixture
def s2_payload_doc() -> dict[str, Any]:
    return json.loads(json.dumps(S2_DEMO))


@pytest.fixture
def s2_payload(s2_payload_doc: dict[str, Any]) -> Payload:
    return Payload.parse(s2_payload_doc)


@pytest.fixture
def s1_safe_dir(fixtures_dir: Path) -> Path:
    return fixtures_dir / S1_SAFE


# -- S3 (moto server behind a byte-counting proxy) ----------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server (`moto_server -H 127.0.0.1 -p PORT`) for the session."""
    executable = Path(sys.executable).parent / "moto_server"
    port = free_port()
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("moto_server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_proxy(serve, moto_endpoint: str) -> LocalServer:
    """The moto server seen through a proxy that counts every byte it sends back."""
    return serve(ProxyApp(moto_endpoint))


def s3_settings(endpoint: str) -> Settings:
    from pydantic import SecretStr

    return Settings(
        s3=S3Settings(
            endpoint_url=endpoint,
            region="us-east-1",
            access_key_id=SecretStr("test"),
            secret_access_key=SecretStr("test"),
        )
    )
