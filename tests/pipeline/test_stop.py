"""SIGTERM to each long-running command stops it within seconds, gives its work back, and a later run resumes.

The demo's products are served slowly by the test HTTP server, so every command is caught
while it downloads; then the same payload runs again at full speed and ends DONE (exit 0).
Commands run in subprocesses, configured by environment variables only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from geocube_ingest.demo.build import AOI_NAME, DemoWorld, prepare_index
from geocube_ingest.index import get_index
from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Workflow
from tests.api.serve import free_port
from tests.download.servers import FileServer

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "geocube_ingest.cli.main"]
SIGTERM_EXIT = 128 + signal.SIGTERM


@dataclass
class SlowWorld:
    payload_path: Path
    env: dict[str, str]
    settings: Settings
    server: FileServer
    requests_before: int = 0
    left_servers: list[str] = field(default_factory=list)  # Prefect API servers a stopped process left

    def full_speed(self) -> None:
        for resource in self.server.resources.values():
            resource.delay = 0


@pytest.fixture
def slow_world(demo_world: DemoWorld, tmp_path: Path) -> Iterator[SlowWorld]:
    """Three acquisitions of the demo, their products over HTTP at ~30 KB/s."""
    server = FileServer().start()
    catalogue = json.loads(demo_world.catalogue.read_text())
    for item in catalogue["features"]:
        product = Path(item["assets"]["product"]["href"].removeprefix("file://"))
        item["assets"]["product"]["href"] = server.add(f"/{product.name}", product.read_bytes(), chunk=16384, delay=0.5)
    (tmp_path / "catalogue.json").write_text(json.dumps(catalogue))
    payload = {**demo_world.payload, "start_time": "2024-03-30T00:00:00Z", "end_time": "2024-04-06T00:00:00Z"}
    payload_path = tmp_path / "payload.json"
    payload_path.write_text(json.dumps(payload))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_"))}
    env.update(
        GEOCUBE_INGEST_HOME=str(home),
        GEOCUBE_INGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'workflow.db'}",
        GEOCUBE_INGEST_CATALOGUE__PROVIDERS=json.dumps(
            [{"name": "demo", "kind": "stac-static", "url": str(tmp_path / "catalogue.json")}]
        ),
        GEOCUBE_INGEST_DOWNLOAD__PROVIDERS=json.dumps([{"name": "scene-links", "kind": "url"}]),
        GEOCUBE_INGEST_DOWNLOAD__CHUNK_BYTES="16384",
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        COLUMNS="160",
    )
    settings = Settings(home=home, database_url=env["GEOCUBE_INGEST_DATABASE_URL"])
    prepare_index(get_index(settings))
    yield SlowWorld(payload_path, env, settings, server)
    server.stop()


def _start(args: list[str], world: SlowWorld, log: Path, **popen: Any) -> subprocess.Popen[bytes]:
    world.requests_before = len(world.server.requests)
    with log.open("ab") as out:
        return subprocess.Popen(
            args, env=world.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )


def _sigterm_while_downloading(process: subprocess.Popen[bytes], world: SlowWorld, log: Path) -> tuple[int, float]:
    """SIGTERM once the process downloads (a product request since it started); returns the exit
    status and how long it took to exit. Prefect API servers it started and left behind are
    recorded in `world.left_servers` (then killed: nothing outlives the test)."""
    servers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 240
        while len(world.server.requests) == world.requests_before:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no download started"
            time.sleep(0.05)
        servers = _prefect_servers(process.pid)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
        return code, time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(servers, timeout=10)
        world.left_servers = [f"pid {p.pid}" for p in alive]
        for server in alive:
            with contextlib.suppress(psutil.Error):
                server.kill()


def _prefect_servers(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a child may end meanwhile
            if "prefect.server.api" in " ".join(child.cmdline()):
                found.append(child)
    return found


def _nothing_held(world: SlowWorld) -> None:
    workflow = Workflow(settings=world.settings, migrate=False)
    assert workflow.lease_owners() == set() and workflow.slots.usage() == []
    summary = workflow.summary(AOI_NAME)
    assert summary.scenes.pending > 0 and summary.status != Status.DONE  # stopped half way
    assert workflow.work_status(AOI_NAME).claimable_scenes == summary.scenes.pending  # claimable now


def _resume(world: SlowWorld) -> None:
    world.full_speed()
    done = subprocess.run(
        [*CLI, "ingest", str(world.payload_path), "--no-prefect"],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = Workflow(settings=world.settings, migrate=False).summary(AOI_NAME)
    assert summary.status == Status.DONE and summary.tiles.done == summary.tiles.total > 0


def _sigterm_to_ingest(world: SlowWorld, log: Path, mode: str) -> None:
    ingest = _start([*CLI, "ingest", str(world.payload_path), mode], world, log)
    code, took = _sigterm_while_downloading(ingest, world, log)
    print(f"\ningest {mode}: exit {code} {took:.1f} s after SIGTERM")
    assert code == SIGTERM_EXIT, log.read_text()[-3000:]
    assert "Stopped on request" in log.read_text()
    assert world.left_servers == [], "no Prefect API server of the command outlives it"
    _nothing_held(world)


def test_sigterm_to_ingest_and_serve_then_resume(slow_world: SlowWorld, tmp_path: Path) -> None:
    _sigterm_to_ingest(slow_world, tmp_path / "ingest.log", "--no-prefect")

    port = free_port()
    log = tmp_path / "serve.log"
    serve = _start([*CLI, "serve", "--port", str(port)], slow_world, log)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(f"{url}/", timeout=1)
                break
            except httpx.TransportError:
                assert serve.poll() is None, log.read_text()
                time.sleep(0.1)
        posted = httpx.post(f"{url}/catalog/aoi", files={"area": slow_world.payload_path.read_bytes()}, timeout=120)
        assert posted.status_code == 202, posted.text
    finally:
        code, took = _sigterm_while_downloading(serve, slow_world, log)
    print(f"serve with an in-process ingestion: exit {code} {took:.1f} s after SIGTERM")
    assert code == SIGTERM_EXIT, log.read_text()[-3000:]
    _nothing_held(slow_world)

    _resume(slow_world)


def test_sigterm_to_prefect_ingest_and_worker_flow_then_resume(slow_world: SlowWorld, tmp_path: Path) -> None:
    _sigterm_to_ingest(slow_world, tmp_path / "ingest.log", "--prefect")  # the flow ingest-aoi

    log = tmp_path / "worker.log"
    worker = _start(
        [sys.executable, "-c", "from flows.workers import download_worker; download_worker(idle_seconds=0)"],
        slow_world,
        log,
        cwd=Path(__file__).resolve().parents[2],
    )
    code, took = _sigterm_while_downloading(worker, slow_world, log)
    print(f"download-worker flow: exit {code} {took:.1f} s after SIGTERM")
    assert code != 0, log.read_text()[-3000:]
    _nothing_held(slow_world)

    # The downloads given back are done by the next worker (the whole run resumes in the test above).
    slow_world.full_speed()
    worker_again = subprocess.run(
        [*CLI, "worker", "download", "--idle-seconds", "1"], env=slow_world.env, capture_output=True, text=True
    )
    assert worker_again.returncode == 0, worker_again.stdout + worker_again.stderr
    summary = Workflow(settings=slow_world.settings, migrate=False).summary(AOI_NAME)
    assert summary.scenes.done == summary.scenes.total
