"""The workflow server for real: uvicorn on 127.0.0.1 (a free port) in a thread, httpx clients.

For `/catalog/*`: a local STAC API over Earth Search's recorded items (the catalogue tests'
server), and the demo's offline world (static catalogue, small products) for ingestions.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from geocube_ingest.api import create_app
from geocube_ingest.api.runs import InProcessRuns
from geocube_ingest.demo.build import DemoWorld, build
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Workflow
from tests.api.demo import DemoAOI, build_s1, build_s2
from tests.catalogue.conftest import fixture_items
from tests.catalogue.servers import LocalServer, StacApi, load_cassette

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class RunningServer:
    url: str
    workflow: Workflow
    settings: Settings
    app: FastAPI


class ThreadedServer:
    def __init__(self, app: object):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            if not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            threading.Event().wait(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


StartServer = Callable[..., RunningServer]


@pytest.fixture
def start_server(database_url: str) -> Iterator[StartServer]:
    """Start servers on the test's database; `start_server(api={"token": "..."})` changes settings."""
    stack: list[ThreadedServer] = []

    def start(**overrides: object) -> RunningServer:
        settings = Settings(database_url=database_url, **overrides)  # type: ignore[arg-type]
        workflow = Workflow(database_url, settings=settings)
        app = create_app(settings, workflow)
        threaded = ThreadedServer(app)
        url = threaded.__enter__()
        stack.append(threaded)
        return RunningServer(url, workflow, settings, app)

    yield start
    for threaded in reversed(stack):
        threaded.__exit__(None, None, None)


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    return start_server()


@pytest.fixture
def locked_server(start_server: StartServer, tmp_path: Path) -> Iterator[RunningServer]:
    """The operator's `security` defaults (no file roots, no storage root but its own), an empty
    catalogue, downloads from an empty local folder (a run that starts ends at once)."""
    (tmp_path / "archive").mkdir()
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    running = start_server(
        home=tmp_path / "home",
        security={"file_roots": [], "storage_roots": []},
        download={"providers": [{"name": "archive", "kind": "local", "path": str(tmp_path / "archive")}]},
        catalogue={"providers": [{"name": "none", "kind": "stac-static", "url": str(catalogue)}]},
    )
    yield running
    runs = running.app.state.runs
    assert isinstance(runs, InProcessRuns)
    for aoi in runs.running():
        runs.wait(aoi, timeout=60)


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture
def s1_demo(server: RunningServer, fixtures_dir: Path) -> DemoAOI:
    return build_s1(server.workflow, fixtures_dir)


@pytest.fixture
def s2_demo(server: RunningServer) -> DemoAOI:
    return build_s2(server.workflow)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    """The demo's catalogue (a static STAC ItemCollection), products and payload; read-only for the tests."""
    return build(tmp_path_factory.mktemp("demo-world"))


@pytest.fixture
def earth_search(fixtures_dir: Path) -> Iterator[StacApi]:
    """A STAC API on 127.0.0.1 with Earth Search's recorded landing page and Sentinel-2 items (T13TDE...)."""
    cassette = load_cassette(fixtures_dir / "stac/cassettes/earth_search_v1_search_filter_cloudcover_2pages.yaml")
    landing = json.loads(cassette[0]["response"]["body"]["string"])
    items = fixture_items(
        fixtures_dir,
        "earth_search/itemcollection_sentinel-2-c1-l2a_T13TDE_10items.json",
        "earth_search/search_sentinel-2-l1c_limit1.json",
    )
    api = StacApi(items, landing=landing)
    server = LocalServer(api).start()
    api.server = server
    yield api
    server.stop()
