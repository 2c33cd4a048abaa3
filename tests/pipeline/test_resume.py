"""kill -9 the process running an ingestion at several points, run it again: it finishes, nothing duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from geocube_ingest.demo.build import AOI_NAME, DemoWorld, overrides
from geocube_ingest.index import get_index
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import AOISummary, Workflow

from .conftest import settings_for

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "geocube_ingest.cli.main"]


def _env(settings: Settings, world: DemoWorld, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_"))}
    providers = overrides(world)
    env.update(
        {
            "GEOCUBE_INGEST_HOME": str(home),
            "GEOCUBE_INGEST_DATABASE_URL": settings.resolved_database_url,
            "GEOCUBE_INGEST_STORAGE_URI": settings.resolved_storage_uri,
            "GEOCUBE_INGEST_WORK_DIR": str(settings.resolved_work_dir),
            "GEOCUBE_INGEST_CATALOGUE__PROVIDERS": json.dumps(providers["catalogue"]["providers"]),
            "GEOCUBE_INGEST_DOWNLOAD__PROVIDERS": json.dumps(providers["download"]["providers"]),
            "GEOCUBE_INGEST_SECURITY__FILE_ROOTS": json.dumps(providers["security"]["file_roots"]),
            "GEOCUBE_INGEST_PIPELINE__TILE_BATCH": "2",
            "GEOCUBE_INGEST_PIPELINE__DOWNLOAD_BATCH": "2",
            "PREFECT_HOME": str(home / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    return env


def _run(
    args: list[str], env: dict[str, str], log: Path, kill_when: Callable[[], bool] | None, timeout: float = 300
) -> int:
    """Run the CLI; with `kill_when`, SIGKILL its whole process group as soon as it holds."""
    # Output goes to a file: a pipe nobody reads would block the child once full.
    with log.open("ab") as out:
        process = subprocess.Popen([*CLI, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if kill_when is not None and kill_when():
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
                return -9
            time.sleep(0.05)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"the ingestion did not finish in time:\n{log.read_text()[-3000:]}")
        assert process.returncode == 0, log.read_text()[-3000:]
        return 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def _summary(settings: Settings) -> AOISummary | None:
    workflow = Workflow(settings=settings, migrate=False)
    try:
        return workflow.summary(AOI_NAME) if workflow.aoi_exists(AOI_NAME) else None
    except Exception:  # tables not created yet by the child
        return None


KILL_POINTS: dict[str, Callable[[AOISummary], bool]] = {
    "downloading": lambda s: s.scenes.total > 0 and s.scenes.done >= 1,
    "processing": lambda s: s.tiles.done >= 2,
    "late": lambda s: s.tiles.done >= 6,
}


def _kill_then_finish(settings: Settings, world: DemoWorld, folder: Path, prefect: bool) -> None:
    env = _env(settings, world, folder / "home")
    args = ["ingest", str(world.payload_path), "--prefect" if prefect else "--no-prefect"]
    log = folder / "runs.log"
    for name, point in KILL_POINTS.items():
        code = _run(args, env, log, lambda point=point: (s := _summary(settings)) is not None and point(s))  # type: ignore[misc]
        assert code == -9, f"the run finished before the kill point {name!r}"
    _run(args, env, log, kill_when=None)
    _check_complete_once(settings)


def test_kill_and_resume(demo_world: DemoWorld, demo_settings: Settings, tmp_path: Path) -> None:
    """The pipeline in one process (`ingest --no-prefect`), on SQLite and PostgreSQL."""
    _kill_then_finish(demo_settings, demo_world, tmp_path, prefect=False)


def test_kill_and_resume_prefect_flow(demo_world: DemoWorld, tmp_path: Path) -> None:
    """The flow ingest-aoi (Prefect's ephemeral mode) killed with everything it started."""
    settings = settings_for(demo_world, f"sqlite:///{tmp_path / 'workflow.db'}", tmp_path)
    _kill_then_finish(settings, demo_world, tmp_path, prefect=True)


def _check_complete_once(demo_settings: Settings) -> None:
    summary = _summary(demo_settings)
    assert summary is not None
    assert (summary.scenes.done, summary.scenes.total, summary.tiles.done, summary.tiles.total) == (9, 9, 9, 9)
    index = get_index(demo_settings)
    records = index.find_records(name="S2*")
    assert len(records) == 9
    assert len(index.datasets(record_ids=[r.id for r in records])) == 25  # type: ignore[attr-defined]
    storage = Path(demo_settings.resolved_storage_uri) / AOI_NAME
    names = [p.name for p in storage.rglob("*") if p.is_file()]
    assert len([n for n in names if n.endswith("_ndvi.tif")]) == 9
    assert len(list((storage / "stac" / "items").glob("*.json"))) == 9
    assert not [n for n in names if n.endswith((".part", ".tmp")) or n.startswith(".")], names
    work = Path(demo_settings.resolved_work_dir)
    leftovers = [p for p in work.rglob("*") if p.is_file()] if work.exists() else []
    assert not leftovers, leftovers
    # Every tile was accepted DONE exactly once, whatever the kills interrupted.
    workflow = Workflow(settings=demo_settings)
    for tile in workflow.tiles(AOI_NAME):
        assert sum(e.to_status == "DONE" for e in workflow.events("tile", tile.id)) == 1
