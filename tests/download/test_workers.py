"""Download workers in several processes: provider limits across processes, leases across hosts, SIGTERM.

The workers are `geocube-ingest worker download` processes (the loop every ingestion and the
Prefect workers share), configured by environment variables only, against the test HTTP
server, which measures how many downloads it serves at once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from geocube_ingest import shutdown
from geocube_ingest.database import utcnow
from geocube_ingest.pipeline import drain, thread_runner
from geocube_ingest.settings import Settings
from geocube_ingest.status import Status
from geocube_ingest.workflow import Outcome, Workflow
from geocube_ingest.workflow.owners import Owner, host_id
from tests.conftest import _truncate_all
from tests.download.conftest import SceneFactory
from tests.download.servers import FileServer
from tests.download.test_kill import CLI, cli_env

pytestmark = pytest.mark.slow

LIMIT = 2


def _name(n: int) -> str:
    return f"S2A_MSIL1C_201801{n:02d}T105441_N0206_R051_T31TDH_201801{n:02d}T124911"


def _scenes(workflow: Workflow, add_scene: SceneFactory, server: FileServer, body: bytes, n: int) -> list[int]:
    return [
        add_scene(workflow, _name(i), metadata={"download_link": server.add(f"/{_name(i)}.zip", body, **slow)})
        for i in range(1, n + 1)
        for slow in [{"chunk": 16 * 1024, "delay": 0.1}]
    ]


def _worker_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = cli_env(tmp_path)
    env.update(
        GEOCUBE_INGEST_DATABASE_URL=database_url,
        GEOCUBE_INGEST_DOWNLOAD__PROVIDERS=json.dumps([{"name": "links", "kind": "url", "max_concurrency": LIMIT}]),
        GEOCUBE_INGEST_DOWNLOAD__CHUNK_BYTES="16384",
        GEOCUBE_INGEST_PIPELINE__DOWNLOAD_BATCH="2",
        GEOCUBE_INGEST_PIPELINE__DOWNLOAD_CONCURRENCY="4",
        GEOCUBE_INGEST_PIPELINE__MAX_PARALLEL_BATCHES="2",
        **extra,
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def test_two_worker_processes_share_the_provider_limit(
    pg_url: str, tmp_path: Path, add_scene: SceneFactory, file_server: FileServer, s2_zip: bytes
) -> None:
    _truncate_all(pg_url)
    workflow = Workflow(pg_url)
    ids = _scenes(workflow, add_scene, file_server, s2_zip[:200_000], 8)
    env = _worker_env(tmp_path, pg_url)
    workers = [_start(["worker", "download", "--idle-seconds", "2"], env, tmp_path / f"w{n}.log") for n in (1, 2)]
    seen: set[str] = set()
    waited = 0
    try:
        while any(w.poll() is None for w in workers):
            for usage in workflow.slots.usage():
                seen.update(Owner.parse(o).prefix for o in usage.holders)
                waited = max(waited, usage.waiting)
            time.sleep(0.05)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    logs = "".join((tmp_path / f"w{n}.log").read_text() for n in (1, 2))
    assert [w.returncode for w in workers] == [0, 0], logs
    assert all(workflow.scene(i).status == Status.DONE for i in ids), logs
    print(f"\nprovider limit {LIMIT}: at most {file_server.max_active} downloads at once, seen by the server")
    assert file_server.max_active == LIMIT  # never more, and the limit was reached
    assert {f"{host_id()}:{w.pid}:" for w in workers} <= seen  # both processes held slots
    assert waited > 0  # downloads queued for a slot held by the other process
    assert workflow.slots.usage() == []


def test_an_expired_lease_of_another_host_is_taken_over(
    database_url: str, tmp_path: Path, add_scene: SceneFactory, file_server: FileServer, s2_zip: bytes
) -> None:
    workflow = Workflow(database_url)
    link = file_server.add(f"/{_name(1)}.zip", s2_zip)
    scene_id = add_scene(workflow, _name(1), metadata={"download_link": link})
    [dead] = workflow.claim("scene", "other-host:4242:download", ids=[scene_id], lease_seconds=2)
    settings = Settings(
        database_url=database_url,
        storage_uri=str(tmp_path / "storage"),
        work_dir=tmp_path / "work",
        download={"providers": [{"name": "links", "kind": "url"}]},
        pipeline={"poll_seconds": 0.2},
    )
    notices: list[tuple[float, str]] = []
    runner = thread_runner(workflow, None, settings, "DownloadTest")  # type: ignore[arg-type]
    start = time.monotonic()
    expires_in = (dead.expires_at - utcnow()).total_seconds()
    report = drain(
        workflow,
        settings,
        "DownloadTest",
        runner=runner,
        pools=("download",),
        on_notice=lambda text: notices.append((time.monotonic() - start, text)),
    )
    runner.close()
    assert workflow.scene(scene_id).status == Status.DONE and report.outcomes == {"DONE": 1}
    [(_, waiting), (took_at, taken)] = notices
    assert waiting.startswith(
        "AOI DownloadTest: 1 scene leased by other-host:4242:download (on host other-host) until "
    )
    assert taken == (
        f"scene {scene_id} ({_name(1)}): taken over from other-host:4242:download (on host other-host),"
        " whose lease had expired"
    )
    print(f"\nlease held by another host: taken over and downloaded {took_at - expires_in:.1f} s after it expired")
    assert workflow.report(dead, Outcome.done()) is False  # the dead worker's late result is ignored


def test_sigterm_to_a_download_worker_gives_its_work_back(
    tmp_path: Path, add_scene: SceneFactory, file_server: FileServer, s2_zip: bytes
) -> None:
    env = _worker_env(tmp_path, f"sqlite:///{tmp_path / 'workflow.db'}")
    workflow = Workflow(env["GEOCUBE_INGEST_DATABASE_URL"])
    ids = _scenes(workflow, add_scene, file_server, s2_zip[:200_000], 4)
    log = tmp_path / "worker.log"
    worker = _start(["worker", "download"], env, log)  # idle-seconds 0: runs until stopped
    try:
        while file_server.active < LIMIT:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.05)
        sent = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
        took = time.monotonic() - sent
    finally:
        if worker.poll() is None:
            worker.kill()
    print(f"\nworker download: stopped {took:.1f} s after SIGTERM")
    assert code == 128 + signal.SIGTERM, log.read_text()
    assert "Stopped on request: work in progress was given back." in log.read_text()
    assert workflow.lease_owners() == set() and workflow.slots.usage() == []
    assert workflow.work_status().claimable_scenes == 4  # all of it, at once
    assert not list((tmp_path / "storage").rglob("*"))

    for resource in file_server.resources.values():
        resource.delay = 0
    again = subprocess.run(
        [CLI, "worker", "download", "--idle-seconds", "1"], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(workflow.scene(i).status == Status.DONE for i in ids)


def test_sigterm_to_the_download_command(
    tmp_path: Path, add_scene: SceneFactory, file_server: FileServer, s2_zip: bytes
) -> None:
    env = _worker_env(tmp_path, f"sqlite:///{tmp_path / 'workflow.db'}")
    workflow = Workflow(env["GEOCUBE_INGEST_DATABASE_URL"])
    [scene_id] = _scenes(workflow, add_scene, file_server, s2_zip[:200_000], 1)
    log = tmp_path / "download.log"
    command = _start(["download", str(scene_id)], env, log)
    try:
        while file_server.active < 1:
            assert command.poll() is None, log.read_text()
            time.sleep(0.05)
        command.send_signal(signal.SIGTERM)
        code = command.wait(60)
    finally:
        if command.poll() is None:
            command.kill()
    assert code == 128 + signal.SIGTERM, log.read_text()
    assert f"scene {scene_id} is given back" in log.read_text()
    assert workflow.lease_owners() == set() and workflow.slots.usage() == []
    assert workflow.work_status().claimable_scenes == 1


@pytest.fixture(autouse=True)
def _no_stop_request() -> Iterator[None]:
    shutdown.reset()
    yield
    shutdown.reset()
