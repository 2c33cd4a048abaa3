"""The deployments against a real Prefect server on 127.0.0.1: deploy, workers, `prefect deployment run`.

Two process workers in folders of their own stand in for two machines: the deployments name
no folder of the deploying machine (it deploys from a third one), the flows come from the
installed package. Also the flows' Prefect side: run names, tags, the steps and artifacts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from geocube_ingest.demo.build import AOI_NAME, DemoWorld, build, overrides, prepare_index
from geocube_ingest.index import get_index
from geocube_ingest.settings import get_settings
from geocube_ingest.workflow import Workflow

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp: Path, port: int, world: DemoWorld) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_"))}
    providers = overrides(world)
    (tmp / "prefect").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "PREFECT_HOME": str(tmp / "prefect"),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "GEOCUBE_INGEST_HOME": str(tmp / "home"),
            "GEOCUBE_INGEST_CATALOGUE__PROVIDERS": json.dumps(providers["catalogue"]["providers"]),
            "GEOCUBE_INGEST_DOWNLOAD__PROVIDERS": json.dumps(providers["download"]["providers"]),
            "GEOCUBE_INGEST_SECURITY__FILE_ROOTS": json.dumps(providers["security"]["file_roots"]),
        }
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path, cwd: Path = REPO) -> subprocess.Popen[bytes]:
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _run(args: list[str], env: dict[str, str], timeout: float = 180, cwd: Path = REPO) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[dict[str, str], DemoWorld, str]]:
    world = build(tmp_path / "world")
    port = _free_port()
    env = _env(tmp_path, port, world)
    server = _start(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, tmp_path / "server.log"
    )
    api = env["PREFECT_API_URL"]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(1)
        else:
            pytest.fail("the Prefect server did not start: " + (tmp_path / "server.log").read_text()[-3000:])
        yield env, world, api
    finally:
        _stop(server)


def _api(api: str, path: str, body: dict[str, object] | None = None) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.post(f"{api}/{path}/filter", json=body or {}, timeout=10).json()
    return answer


def test_deployment_runs_on_two_workers_in_their_own_folders(
    prefect_server: tuple[dict[str, str], DemoWorld, str], tmp_path: Path
) -> None:
    env, world, api = prefect_server
    # The payload's layers, in the installation the workers use (same environment).
    settings = get_settings().with_overrides({"home": env["GEOCUBE_INGEST_HOME"]})
    prepare_index(get_index(settings))

    for pool in ("geocube-ingest", "geocube-downloads", "geocube-processing"):
        _run([*PREFECT, "work-pool", "create", pool, "--type", "process"], env)
    prefect_file = str(REPO / "deployments" / "prefect.yaml")
    deployer = tmp_path / "deployer"
    deployed = _run([*PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", prefect_file], env, cwd=deployer)
    assert deployed.count("successfully created") == 6
    for deployment in _api(api, "deployments"):
        assert not deployment["pull_steps"] and deployment["path"] in (None, "", "."), deployment
        assert str(REPO) not in json.dumps(deployment) and str(deployer) not in json.dumps(deployment)

    machine_a, machine_b = tmp_path / "machine-a", tmp_path / "machine-b"
    workers = [
        _start([*PREFECT, "worker", "start", "--pool", "geocube-ingest"], env, tmp_path / "a.log", machine_a),
        _start([*PREFECT, "worker", "start", "--pool", "geocube-processing"], env, tmp_path / "b.log", machine_b),
    ]
    try:
        # A process worker on "machine b" that stops after 20 s without work; then the ingestion on "a".
        _run([*PREFECT, "deployment", "run", "process-worker/process-worker", "--param", "idle_seconds=20"], env)
        params = json.dumps({"payload": world.payload})
        _run([*PREFECT, "deployment", "run", "ingest-aoi/ingest-aoi", "--params", params, "--watch"], env, timeout=420)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            [idle] = [r for r in _api(api, "flow_runs") if r["name"] != f"ingest {AOI_NAME}"]
            if idle["state_type"] in ("COMPLETED", "FAILED", "CRASHED"):
                break
            time.sleep(2)
    finally:
        for worker in workers:
            _stop(worker)
    assert idle["state_type"] == "COMPLETED", "the process worker stops by itself once idle"
    assert idle["parameters"]["idle_seconds"] == 20

    summary = Workflow(settings=settings).summary(AOI_NAME)
    assert (summary.scenes.done, summary.tiles.done, summary.tiles.total) == (9, 9, 9)

    [run] = [r for r in _api(api, "flow_runs") if r["name"] == f"ingest {AOI_NAME}"]
    assert run["state_type"] == "COMPLETED"
    assert {"geocube-ingest", f"aoi:{AOI_NAME}"} <= set(run["tags"]), "the flow run itself carries the AOI"
    tasks = _api(api, "task_runs", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    names = {t["name"] for t in tasks}
    assert {
        f"check graphs, links and layers of {AOI_NAME}",
        "search demo",
        "tiles of scenes 1-9",
        f"time series of {AOI_NAME}",
        f"records of {AOI_NAME}",
        f"post {AOI_NAME} to the workflow",
        f"STAC collection of {AOI_NAME}",
    } <= names
    assert any(n.startswith(f"download {AOI_NAME} #") for n in names)
    assert all(f"aoi:{AOI_NAME}" in t["tags"] for t in tasks)

    artifacts = _api(api, "artifacts", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})
    by_key: dict[str, list[dict[str, Any]]] = {}
    for artifact in artifacts:
        by_key.setdefault(artifact["key"] or "", []).append(artifact)
    [scenes] = by_key["aoi-longmontdemos2-scenes"]
    assert scenes["type"] == "table" and scenes["description"] == "10 found by demo: 9 kept, 1 over the cloud limit"
    for key in ("aoi-longmontdemos2-downloads", "aoi-longmontdemos2-processing"):
        [progress] = by_key[key]
        assert progress["type"] == "progress" and progress["data"] == 100
    latest = max(by_key["aoi-longmontdemos2"], key=lambda a: a["created"])
    assert len(by_key["aoi-longmontdemos2"]) >= 2, "the summary artifact is updated as the run goes"
    assert "| tiles | 0 | 0 | 9 | 0 | 0 | 9 |" in latest["data"]
    assert re.search(r"This run: 9 scenes downloaded, \d tiles processed \(\d+ batches\)", latest["data"])

    # Run again from the command line through Prefect: nothing new, so no flow run at all.
    again = _run([*PREFECT[:1], "-m", "geocube_ingest.cli.main", "ingest", str(world.payload_path)], env)
    assert "no flow run started" in again and "Nothing to do" in again
    assert len([r for r in _api(api, "flow_runs") if r["name"] == f"ingest {AOI_NAME}"]) == 1
