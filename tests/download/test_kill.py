"""kill -9 half way through a download, then run again: a complete, identical product and nothing partial.

The job runs as `geocube-ingest download ID` in a subprocess, configured by environment
variables only, against a slow HTTP server; it is killed with SIGKILL mid-body.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from geocube_ingest import storage
from geocube_ingest.workflow import Workflow
from tests.download.conftest import S2_NAME, SceneFactory
from tests.download.servers import FileServer

CLI = str(Path(sys.executable).parent / "geocube-ingest")


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOCUBE_INGEST_")}
    env.update(
        GEOCUBE_INGEST_HOME=str(tmp_path / "home"),
        GEOCUBE_INGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'workflow.db'}",
        GEOCUBE_INGEST_STORAGE_URI=str(tmp_path / "storage"),
        GEOCUBE_INGEST_WORK_DIR=str(tmp_path / "work"),
        GEOCUBE_INGEST_DOWNLOAD__PROVIDERS=json.dumps([{"name": "links", "kind": "url"}]),
        GEOCUBE_INGEST_DOWNLOAD__BACKOFF_SECONDS="0.01",
        GEOCUBE_INGEST_DOWNLOAD__CHUNK_BYTES="65536",
        COLUMNS="120",
    )
    return env


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def tree_md5(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in files_under(folder)}


def zip_md5(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {n.split("/", 1)[1]: hashlib.md5(zf.read(n)).hexdigest() for n in zf.namelist() if not n.endswith("/")}


def wait_for_partial(work: Path, at_least: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the download ended before it could be killed"
        for part in work.rglob("*.part"):
            try:
                if part.stat().st_size >= at_least:
                    return part
            except FileNotFoundError:
                continue
        time.sleep(0.02)
    pytest.fail("the download never got half way")


@pytest.mark.slow
@pytest.mark.parametrize("product", ["safe-zip", "single-file"])
def test_kill_minus_nine_then_run_again(
    product: str,
    tmp_path: Path,
    add_scene: SceneFactory,
    file_server: FileServer,
    s2_zip: bytes,
    s2_safe: Path,
    fixtures_dir: Path,
) -> None:
    env = cli_env(tmp_path)
    workflow = Workflow(env["GEOCUBE_INGEST_DATABASE_URL"])
    if product == "safe-zip":
        body = s2_zip
        path = f"/{S2_NAME}.zip"
    else:  # a product that is one file (not an archive): stored byte for byte
        body = (fixtures_dir / "rasters" / "Rome-30m-DEM.tif").read_bytes() * 4
        path = f"/{S2_NAME}.tif"
    link = file_server.add(path, body, chunk=32 * 1024, delay=0.05)
    scene_id = add_scene(workflow, metadata={"download_link": link})
    storage_dir = tmp_path / "storage"
    work = tmp_path / "work"

    first = subprocess.Popen([CLI, "download", str(scene_id)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = wait_for_partial(work, len(body) // 3, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    # Killed half way: a partial file in the job's folder, nothing in storage.
    assert 0 < part.stat().st_size < len(body)
    assert files_under(storage_dir) == []

    file_server.resources[path].delay = 0.0
    second = subprocess.run(
        [CLI, "download", str(scene_id)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "DONE" in second.stdout

    scene = workflow.scene(scene_id)
    assert scene.date is not None
    stored = storage.tile_output_uri(
        str(storage_dir), scene.aoi, scene.source_id, scene.source_id, scene.date, "product", "SAFE"
    )
    if product == "safe-zip":
        stored_file = Path(stored + ".zip")
        assert zip_md5(stored_file) == tree_md5(s2_safe)  # every file of the product, identical
    else:
        stored_file = Path(stored)
        assert hashlib.sha256(stored_file.read_bytes()).hexdigest() == hashlib.sha256(body).hexdigest()
    # Nothing partial anywhere: storage holds exactly the product, the job's folder is gone.
    assert files_under(storage_dir) == [stored_file]
    assert list(tmp_path.rglob("*.part")) == []
    assert files_under(work / "download") == []
    # The second run downloaded from the start: the partial file was not reused.
    assert [r.headers.get("range") for r in file_server.requests if r.path == path] == [None, None]
