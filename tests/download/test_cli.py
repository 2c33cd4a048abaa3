"""`geocube-ingest download SCENE_ID` (the successful run is in test_kill.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from geocube_ingest.workflow import Workflow
from tests.download.conftest import SceneFactory
from tests.download.test_kill import CLI, cli_env


@pytest.mark.slow
def test_download_command_failures(tmp_path: Path, add_scene: SceneFactory) -> None:
    env = cli_env(tmp_path)
    workflow = Workflow(env["GEOCUBE_INGEST_DATABASE_URL"])
    scene_id = add_scene(workflow, is_retriable=True)  # no link anywhere: not found
    missing = subprocess.run([CLI, "download", str(scene_id)], env=env, capture_output=True, text=True, check=False)
    assert missing.returncode == 1
    assert f"scene {scene_id}: RETRY" in missing.stdout
    assert "product not found or unavailable" in missing.stdout
    unknown = subprocess.run([CLI, "download", "999"], env=env, capture_output=True, text=True, check=False)
    assert unknown.returncode == 2
    assert "scene 999 not found" in unknown.stderr
    # A PENDING scene is leased and its result recorded, as a worker's would be.
    assert f"recorded: scene {scene_id} is now RETRY" in missing.stdout
    assert workflow.scene(scene_id).status.value == "RETRY"
    # Any other scene is only tried.
    again = subprocess.run([CLI, "download", str(scene_id)], env=env, capture_output=True, text=True, check=False)
    assert "not recorded: the scene is RETRY" in again.stdout
    assert workflow.scene(scene_id).status.value == "RETRY"


@pytest.mark.slow
def test_download_command_refuses_a_leased_scene(tmp_path: Path, add_scene: SceneFactory) -> None:
    env = cli_env(tmp_path)
    workflow = Workflow(env["GEOCUBE_INGEST_DATABASE_URL"])
    scene_id = add_scene(workflow, is_retriable=True)
    workflow.claim("scene", "busy-worker", ids=[scene_id])
    busy = subprocess.run([CLI, "download", str(scene_id)], env=env, capture_output=True, text=True, check=False)
    assert busy.returncode == 2
    assert "being downloaded by a worker" in busy.stderr
