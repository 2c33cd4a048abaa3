"""`POST /catalog/aoi` with `settings.prefect.ingest_deployment`: a flow run of the real `ingest-aoi`
flow is created on a Prefect server (Prefect's own test harness: a real server in a subprocess).

No worker runs here: the flow run stays scheduled. What is checked is what the API owns: the
scenes are posted before the answer, the run gets the payload and the posted file as its
parameters (validated by the server against the flow's signature), and a deployment that does
not exist refuses the request before anything is created.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from flows.ingest import ingest_aoi
from geocube_ingest.demo.build import AOI_NAME, DemoWorld, overrides, prepare_index
from geocube_ingest.index import get_index
from tests.api.conftest import RunningServer, StartServer

DEPLOYMENT = "ingest-aoi/api-tests"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workflow.db'}"


@pytest.fixture(scope="module")
def prefect_server(prefect_api: str) -> str:
    """The session's Prefect server with the `ingest-aoi` flow deployed."""
    ingest_aoi.to_deployment(name=DEPLOYMENT.split("/")[1]).apply()
    return prefect_api


def start(start_server: StartServer, world: DemoWorld, deployment: str) -> RunningServer:
    server = start_server(**overrides(world), prefect={"ingest_deployment": deployment})
    prepare_index(get_index(server.settings))
    return server


def parts(world: DemoWorld, **documents: Any) -> dict[str, Any]:
    files: dict[str, Any] = {"area": ("payload.json", json.dumps(world.payload).encode(), "application/json")}
    for name, document in documents.items():
        files[name] = (f"{name}.json", json.dumps(document).encode(), "application/geo+json")
    return files


@pytest.mark.slow
def test_a_flow_run_of_the_deployment_takes_the_ingestion(
    prefect_server: str, start_server: StartServer, demo_world: DemoWorld
) -> None:
    from prefect.client.orchestration import get_client

    server = start(start_server, demo_world, DEPLOYMENT)
    tiles = httpx.post(f"{server.url}/catalog/tiles", files=parts(demo_world), timeout=60).json()
    answer = httpx.post(f"{server.url}/catalog/aoi", files=parts(demo_world, tiles=tiles), timeout=60)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["scenes_created"] == body["tiles_created"] == 9
    run = body["run"]
    assert run["mode"] == "prefect" and run["started"] is True and run["deployment"] == DEPLOYMENT
    assert run["flow_run_name"] and run["flow_run_name"] in run["detail"]

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(UUID(run["flow_run_id"]))
        deployment = client.read_deployment_by_name(DEPLOYMENT)
    assert flow_run.deployment_id == deployment.id
    assert flow_run.parameters["payload"]["name"] == AOI_NAME
    assert flow_run.parameters["payload"]["layers"] == demo_world.payload["layers"]
    assert flow_run.parameters["tiles"] == tiles and flow_run.parameters["scenes"] is None
    assert {"geocube-ingest", f"aoi:{AOI_NAME}"} <= set(flow_run.tags)
    assert flow_run.state is not None and flow_run.state.is_scheduled()
    # Steps 3-4 happened before the answer: the scenes wait for their downloads.
    scenes = httpx.get(f"{server.url}/aoi/{AOI_NAME}/scenes", timeout=30).json()
    assert len(scenes) == 9 and {s["status"] for s in scenes} == {"PENDING"}
    assert server.app.state.runs.mode == "prefect"


@pytest.mark.slow
def test_a_missing_deployment_refuses_before_anything_is_created(
    prefect_server: str, start_server: StartServer, demo_world: DemoWorld
) -> None:
    server = start(start_server, demo_world, "ingest-aoi/not-deployed")
    answer = httpx.post(f"{server.url}/catalog/aoi", files=parts(demo_world), timeout=60)
    assert answer.status_code == 503
    assert answer.json()["detail"] == (
        "Prefect deployment 'ingest-aoi/not-deployed' not found (settings prefect.ingest_deployment)"
    )
    assert httpx.get(f"{server.url}/aoi/", timeout=30).json() == []
    assert get_index(server.settings).find_records(name="S2*") == []
