"""The deployments against a real Prefect server on 127.0.0.1: deploy, a worker, `prefect deployment run`.

Also the flows' Prefect side: run names, tags and the AOI summary artifact.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
            "PWD": str(REPO),  # the deployments' working directory (prefect.yaml's pull step)
        }
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _run(args: list[str], env: dict[str, str], timeout: float = 180) -> str:
    result = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
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


def test_deployment_run_ingests_the_aoi(prefect_server: tuple[dict[str, str], DemoWorld, str], tmp_path: Path) -> None:
    env, world, api = prefect_server
    # The payload's layers, in the installation the worker uses (same environment).
    settings = get_settings().with_overrides({"home": env["GEOCUBE_INGEST_HOME"]})
    prepare_index(get_index(settings))

    for pool in ("geocube-ingest", "geocube-downloads", "geocube-processing"):
        _run([*PREFECT, "work-pool", "create", pool, "--type", "process"], env)
    deployed = _run([*PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"], env)
    assert deployed.count("successfully created") == 6
    worker = _start([*PREFECT, "worker", "start", "--pool", "geocube-ingest"], env, tmp_path / "worker.log")
    try:
        params = json.dumps({"payload": world.payload})
        _run([*PREFECT, "deployment", "run", "ingest-aoi/ingest-aoi", "--params", params, "--watch"], env, timeout=420)
    finally:
        _stop(worker)

    summary = Workflow(settings=settings).summary(AOI_NAME)
    assert (summary.scenes.done, summary.tiles.done, summary.tiles.total) == (9, 9, 9)

    runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
    [run] = [r for r in runs if r["name"] == f"ingest {AOI_NAME}"]
    assert run["state_type"] == "COMPLETED" and "geocube-ingest" in run["tags"]
    tasks = httpx.post(f"{api}/task_runs/filter", json={}, timeout=10).json()
    names = {t["name"] for t in tasks}
    assert f"catalogue and records of {AOI_NAME}" in names
    assert any(n.startswith(f"process {AOI_NAME} #") for n in names)
    assert all(f"aoi:{AOI_NAME}" in t["tags"] for t in tasks)
    # One chain of 9 acquisitions: 9 waves of one tile, and no batch started for nothing.
    assert len([n for n in names if n.startswith("process ")]) == 9
    artifacts = httpx.post(
        f"{api}/artifacts/filter", json={"artifacts": {"key": {"any_": ["aoi-longmontdemos2"]}}}, timeout=10
    ).json()
    latest = max(artifacts, key=lambda a: a["created"])
    assert len(artifacts) >= 2, "the summary artifact is updated as the run goes"
    assert "| tiles | 0 | 0 | 9 | 0 | 0 | 9 |" in latest["data"]
