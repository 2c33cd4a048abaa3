"""The workflow commands as a user types them: output, and one line + exit 2 on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from geocube_ingest.workflow import Outcome, Workflow

from .helpers import download_all, series, tile_id


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GEOCUBE_INGEST_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "geocube_ingest.cli.main", *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def populated(workflow: Workflow) -> Workflow:
    workflow.ingest("Cli-1", series(3, ["b1", "b2"]))
    download_all(workflow)
    [lease, *_] = workflow.claim("tile", "w")
    workflow.report(lease, Outcome.retry("network down"))
    return workflow


def test_status_scenes_tiles_dot(populated: Workflow, database_url: str) -> None:
    status = cli(database_url, "status", "Cli-1")
    assert status.returncode == 0 and status.stdout == populated.summary_text("Cli-1")
    aois = cli(database_url, "aois")
    assert "Cli-1" in aois.stdout and "RETRY" in aois.stdout
    [listed] = json.loads(cli(database_url, "aois", "--json").stdout)  # GET /aoi/?details=true
    assert (listed["ID"], listed["status"], listed["tiles"]["retry"]) == ("Cli-1", "RETRY", 1)
    scenes = cli(database_url, "scenes", "Cli-1", "--status", "done")
    assert scenes.stdout.count("S00") == 3
    tiles = cli(database_url, "tiles", "Cli-1", "--status", "RETRY", "--json")
    assert '"RetryCountDown"' in tiles.stdout and "network down" in tiles.stdout
    dot = cli(database_url, "dot", "Cli-1")
    assert dot.stdout.startswith('digraph "Cli-1"')


def test_retry_fail_force_history(populated: Workflow, database_url: str) -> None:
    retrying = populated.tiles("Cli-1", "RETRY")[0].id
    assert "PENDING" in cli(database_url, "retry", "tile", str(retrying)).stdout
    other = tile_id(populated, "Cli-1", "S002", "b2")
    assert "DONE" in cli(database_url, "force", "tile", str(other), "done").stdout
    history = cli(database_url, "history", "tile", str(retrying))
    assert "network down" in history.stdout and "cli:" in history.stdout
    assert "retried 0 scene(s)" in cli(database_url, "retry", "aoi", "Cli-1").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "Nope"], "AOI 'Nope' not found"),
        (["scenes", "Cli-1", "--status", "FINISHED"], "unknown status 'FINISHED'"),
        (["fail", "tile", "999999"], "tile 999999 not found"),
        (["force", "scene", "1", "SLEEPING"], "unknown status"),
        (["retry", "scene", "abc"], "expected a numeric id"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    populated: Workflow, database_url: str, args: list[str], message: str
) -> None:
    result = cli(database_url, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_refused_transition(populated: Workflow, database_url: str) -> None:
    done = populated.tiles("Cli-1", "PENDING")[0].id
    result = cli(database_url, "retry", "tile", str(done))
    assert result.returncode == 2 and "not allowed" in result.stderr


def test_delete_asks_unless_yes(populated: Workflow, database_url: str) -> None:
    assert cli(database_url, "delete", "Cli-1").returncode == 1  # no confirmation on stdin
    assert populated.aoi_exists("Cli-1")
    assert cli(database_url, "delete", "Cli-1", "--yes").returncode == 0
    assert not populated.aoi_exists("Cli-1")
