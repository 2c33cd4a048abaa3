"""Graphs are the operator's (issue 12, item 2): a graph by URL, by `data:`, by path, by
`PUT .../data`, a typo'd name or a graph that fails `graph check` is a 400 naming the field,
nothing is created, and the step that would write a marker file never runs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from geocube_ingest.api.runs import InProcessRuns
from geocube_ingest.demo.build import DemoWorld, overrides, prepare_index
from geocube_ingest.index import get_index
from tests.api.conftest import RunningServer, StartServer
from tests.api.demo import DemoAOI, build_s2
from tests.api.test_catalog_aoi import assert_nothing_created, files
from tests.processing.servers import serve_folder

MARKER_GRAPH = {
    "processing_steps": [{"engine": "python", "command": "python/marker.py"}],
    "in_files": [[], [], []],
    "out_files": [[], [], []],
}


@pytest.fixture
def operator_folder(tmp_path: Path) -> Path:
    """The operator's graph folder: a script that writes a marker, and a graph that fails its check."""
    folder = tmp_path / "operator-graphs"
    (folder / "python").mkdir(parents=True)
    (folder / "python" / "marker.py").write_text(f"open({str(tmp_path / 'marker')!r}, 'w').write('ran')\n")
    (folder / "Broken.json").write_text(json.dumps({"processing_steps": [{"engine": "xarray", "command": "nope"}]}))
    return folder


@pytest.fixture
def graph_url(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the marker graph."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "Marker.json").write_text(json.dumps(MARKER_GRAPH))
    with serve_folder(served) as url:
        yield f"{url}/Marker.json"


@pytest.fixture
def server(
    start_server: StartServer, demo_world: DemoWorld, tmp_path: Path, operator_folder: Path
) -> Iterator[RunningServer]:
    running = start_server(
        **overrides(demo_world),
        storage_uri=str(tmp_path / "storage"),
        work_dir=str(tmp_path / "work"),
        processing={"processes": False, "n_workers": 1, "graph_dirs": [str(operator_folder)]},
    )
    prepare_index(get_index(running.settings))
    yield running
    runs = running.app.state.runs
    assert isinstance(runs, InProcessRuns) and runs.running() == []


def inline(graph: dict[str, Any]) -> str:
    return "data:application/json;base64," + base64.b64encode(json.dumps(graph).encode()).decode()


def refused(answer: httpx.Response, field: str, words: str) -> None:
    assert answer.status_code == 400, answer.text
    problems = answer.json()["problems"]
    assert [p["field"] for p in problems] == [field], problems
    assert words in problems[0]["reason"], problems[0]["reason"]


def test_graphs_input_may_not_name_are_refused_before_anything(
    server: RunningServer, demo_world: DemoWorld, graph_url: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "Marker.json"
    outside.parent.mkdir()
    outside.write_text(json.dumps(MARKER_GRAPH))
    cases = {
        graph_url: "a graph URL is not allowed",
        inline(MARKER_GRAPH): "an inline data: graph is not allowed",
        str(outside): "a graph path is not allowed",
        f"file://{outside}": "a graph path is not allowed",
        "../outside/Marker.json": "a graph path is not allowed",
        "ChangeFromPrevius": "unknown graph 'ChangeFromPrevius' (known: Broken, ChangeFromPrevious",
        "Broken": "graph 'Broken': processing_steps[0].command: unknown xarray step 'nope'",
    }
    url = f"{server.url}/catalog/aoi"
    for name, words in cases.items():
        answer = httpx.post(url, files=files(demo_world, {**demo_world.payload, "tile_graph_name": name}), timeout=60)
        refused(answer, "tile_graph_name", words)
        assert_nothing_created(server)
    answer = httpx.post(
        url, files=files(demo_world, {**demo_world.payload, "scene_graph_name": inline(MARKER_GRAPH)}), timeout=60
    )
    refused(answer, "scene_graph_name", "an inline data: graph is not allowed")

    scenes = httpx.post(f"{server.url}/catalog/scenes", files=files(demo_world), timeout=60).json()
    scenes["features"][0]["properties"]["data"]["graph_name"] = graph_url
    source_id = scenes["features"][0]["properties"]["source_id"]
    answer = httpx.post(url, files=files(demo_world, scenes=scenes), timeout=60)
    refused(answer, f"scenes[{source_id}].data.graph_name", "a graph URL is not allowed")
    assert_nothing_created(server)
    assert not (tmp_path / "marker").exists(), "the marker step never ran"


def test_listing_needs_graphs_known_and_allowed_only(server: RunningServer, demo_world: DemoWorld) -> None:
    """Listing creates nothing: a graph that fails its check may be previewed, never one input may not name."""
    url = f"{server.url}/catalog/scenes"
    answer = httpx.post(url, files=files(demo_world, {**demo_world.payload, "tile_graph_name": "Broken"}), timeout=60)
    assert answer.status_code == 200, answer.text
    answer = httpx.post(
        f"{server.url}/catalog/tiles",
        files=files(demo_world, {**demo_world.payload, "tile_graph_name": inline(MARKER_GRAPH)}),
        timeout=60,
    )
    refused(answer, "tile_graph_name", "an inline data: graph is not allowed")


@pytest.fixture
def s2_rows(server: RunningServer) -> DemoAOI:
    return build_s2(server.workflow)


def test_put_data_cannot_swap_in_a_graph(
    server: RunningServer, s2_rows: DemoAOI, graph_url: str, tmp_path: Path
) -> None:
    tile_id, scene_id = s2_rows.tile_ids[0], s2_rows.scene_ids[0]
    before = httpx.get(f"{server.url}/tile/{tile_id}", timeout=30).json()["data"]
    for name, words in {
        inline(MARKER_GRAPH): "an inline data: graph is not allowed",
        graph_url: "a graph URL is not allowed",
        "/etc/passwd": "a graph path is not allowed",
        "Typo": "unknown graph 'Typo'",
    }.items():
        answer = httpx.put(f"{server.url}/tile/{tile_id}/data", json={**before, "graph_name": name}, timeout=30)
        refused(answer, "graph_name", words)
        answer = httpx.put(f"{server.url}/scene/{scene_id}/data", json={"graph_name": name}, timeout=30)
        refused(answer, "graph_name", words)
    assert httpx.get(f"{server.url}/tile/{tile_id}", timeout=30).json()["data"] == before, "nothing stored"
    fixed = httpx.put(f"{server.url}/tile/{tile_id}/data", json={**before, "graph_name": "S2Indices"}, timeout=30)
    assert fixed.status_code == 200 and fixed.json()["data"]["graph_name"] == "S2Indices"
    assert not (tmp_path / "marker").exists()
