"""`ingest` against a download provider that cannot be reached ends: its temporary failures are bounded
(small settings here), every scene ends in RETRY with the reason, and the command exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from geocube_ingest.demo.build import AOI_NAME, DemoWorld, overrides
from geocube_ingest.status import Status
from geocube_ingest.workflow import Workflow

from .conftest import settings_for

CLI = [sys.executable, "-m", "geocube_ingest.cli.main"]
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port: connections are refused


@pytest.mark.timeout(300)
def test_ingest_against_an_unreachable_provider_ends_in_retry(demo_world: DemoWorld, tmp_path: Path) -> None:
    settings = settings_for(demo_world, f"sqlite:///{tmp_path / 'workflow.db'}", tmp_path)
    provider = {
        "name": "cdse",
        "kind": "cdse",
        "url": f"{UNREACHABLE}/odata/v1",
        "token_url": f"{UNREACHABLE}/token",
        "username": "someone",
        "password": "secret-password",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_"))}
    env.update(
        {
            "GEOCUBE_INGEST_HOME": str(tmp_path / "home"),
            "GEOCUBE_INGEST_DATABASE_URL": settings.resolved_database_url,
            "GEOCUBE_INGEST_STORAGE_URI": settings.resolved_storage_uri,
            "GEOCUBE_INGEST_WORK_DIR": str(settings.resolved_work_dir),
            "GEOCUBE_INGEST_CATALOGUE__PROVIDERS": json.dumps(overrides(demo_world)["catalogue"]["providers"]),
            "GEOCUBE_INGEST_DOWNLOAD__PROVIDERS": json.dumps([provider]),
            "GEOCUBE_INGEST_WORKFLOW__MAX_TEMPORARY_ATTEMPTS": "2",
            "GEOCUBE_INGEST_WORKFLOW__TEMPORARY_RETRY_DELAY_SECONDS": "0.2",
            "GEOCUBE_INGEST_PIPELINE__POLL_SECONDS": "0.2",
        }
    )
    done = subprocess.run(
        [*CLI, "ingest", str(demo_world.payload_path), "--no-prefect"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"AOI {AOI_NAME} is RETRY" in done.stdout
    assert "secret-password" not in done.stdout + done.stderr

    workflow = Workflow(settings=settings)
    scenes = workflow.scenes(AOI_NAME)
    assert scenes and all(scene.status == Status.RETRY for scene in scenes)
    # The payload's retry_count (1) was used: two runs of two temporary failures each.
    assert all(scene.retry_countdown == 0 for scene in scenes)
    assert all("gave up after 2 temporary failures" in scene.message for scene in scenes)
    assert all("ConnectError" in scene.message for scene in scenes)
