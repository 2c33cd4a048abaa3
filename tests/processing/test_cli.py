"""`geocube-ingest graph list|check`: in-process with typer's runner, and one real subprocess."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from geocube_ingest.cli.main import app
from geocube_ingest.errors import InvalidInput
from tests.processing.test_graph import LIBRARY

CLI = str(Path(sys.executable).parent / "geocube-ingest")
UPSTREAM_PAYLOAD = (
    Path(__file__).resolve().parents[2].parent / "shared" / "upstream" / "payloads" / "DenmarkDemoS2.json"
)
runner = CliRunner()


def test_graph_list_json() -> None:
    result = runner.invoke(app, ["graph", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {g["name"]: g for g in json.loads(result.output)}
    assert sorted(listed) == LIBRARY
    assert listed["S2Indices"]["steps"] == 2 and "NDVI" in listed["S2Indices"]["description"]


def test_graph_check_ok_and_config_override(tmp_path: Path) -> None:
    result = runner.invoke(app, ["graph", "check", "S2Indices"])
    assert result.exit_code == 0 and "ok S2Indices" in result.output
    graph = tmp_path / "g.json"
    graph.write_text(
        json.dumps(
            {
                "processing_steps": [
                    {
                        "engine": "xarray",
                        "command": "reproject",
                        "args": {
                            "input": {"type": "in", "tile_index": 0, "layer": "a", "extension": "tif"},
                            "output": {"type": "out", "layer": "b", "extension": "tif"},
                            "projection": {"type": "config", "value": "crs"},
                        },
                    }
                ],
                "in_files": [[{"layer": "a", "extension": "tif"}], [], []],
            }
        )
    )
    failing = runner.invoke(app, ["graph", "check", str(graph), "--json"])
    assert isinstance(failing.exception, InvalidInput) and "1 problem" in str(failing.exception)
    assert json.loads(failing.output) == [
        {"location": "processing_steps[0].args.projection", "message": "config key 'crs' is not in the graph's config"}
    ]
    fixed = runner.invoke(app, ["graph", "check", str(graph), "-c", "crs=EPSG:32631"])
    assert fixed.exit_code == 0, fixed.output


def test_graph_check_in_a_subprocess_lists_problems_and_exits_2(tmp_path: Path) -> None:
    graph = tmp_path / "bad.json"
    graph.write_text(json.dumps({"processing_steps": [{"engine": "docker", "command": "x", "condition": "often"}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOCUBE_INGEST_")}
    env.update(GEOCUBE_INGEST_HOME=str(tmp_path / "home"), COLUMNS="200")
    done = subprocess.run([CLI, "graph", "check", str(graph)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "processing_steps[0].condition: unknown tile condition 'often'" in done.stdout
    assert done.stderr.strip() == f"error: graph {graph}: 1 problem"


def test_graph_steps_lists_the_builtins() -> None:
    result = runner.invoke(app, ["graph", "steps", "--json"])
    assert result.exit_code == 0, result.output
    steps = {s["name"]: s for s in json.loads(result.output)}
    assert {
        "convert",
        "reproject",
        "band_math",
        "difference",
        "coherence",
        "s2_extract_bands",
        "s1_backscatter",
    } <= set(steps)
    assert steps["reproject"]["required"] == ["input", "output", "projection"]
    assert "projection" not in steps["reproject"]["optional"]


def test_ingest_refuses_a_graph_it_may_not_run_with_exit_2_and_creates_nothing(tmp_path: Path) -> None:
    """A `data:` tile graph whose python step would write a marker: one line, exit 2, nothing run or created."""
    marker_graph = {"processing_steps": [{"engine": "python", "command": "os:system", "args": {}}]}
    inline = "data:application/json;base64," + base64.b64encode(json.dumps(marker_graph).encode()).decode()
    payload = json.loads(UPSTREAM_PAYLOAD.read_text())
    payload.update(tile_graph_name=inline, scene_graph_name="CopyProductToStorage")
    (tmp_path / "payload.json").write_text(json.dumps(payload))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOCUBE_INGEST_")}
    env.update(GEOCUBE_INGEST_HOME=str(home), COLUMNS="300")
    done = subprocess.run(
        [CLI, "ingest", str(tmp_path / "payload.json"), "--no-prefect"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid graph: tile_graph_name: graph 'data:application")
    assert "an inline data: graph is not allowed" in lines[0]
    assert not (home / "geocube-ingest.db").exists(), "nothing created, not even the database"
