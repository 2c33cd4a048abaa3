"""Upstream's graph JSON as its own Go code writes it: `graph/graph_test.go` rewritten in Python,
and every graph of `../shared/upstream/graphs` (library, docs examples, Go round trip) loads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from geocube_ingest import storage
from geocube_ingest.errors import FatalError
from geocube_ingest.processing import process_tile
from geocube_ingest.processing.graph import (
    ConfigArg,
    FixedArg,
    GraphError,
    InArg,
    InFile,
    OutArg,
    OutFile,
    Step,
    TileArg,
    load_graph,
    parse_graph,
)
from tests.processing.conftest import TileFactory
from tests.processing.test_engines import script
from tests.processing.test_job import put_layer, uri, write_graph

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "upstream" / "graphs"


def go_arg(kind: str, value: str = "", tile_index: int = 0, layer: str = "", extension: str = "") -> dict[str, Any]:
    """An argument as Go's encoding/json writes it: all five keys, the unused ones empty."""
    return {"type": kind, "value": value, "tile_index": tile_index, "layer": layer, "extension": extension}


def step_of(arg: dict[str, Any], condition: str = "pass") -> Step:
    step = {"engine": "snap", "command": "g.xml", "args": {"a": arg}, "condition": condition}
    return parse_graph({"processing_steps": [step]}).processing_steps[0]


@pytest.mark.parametrize("path", sorted(UPSTREAM.glob("*.json")), ids=lambda p: p.stem)
def test_every_upstream_graph_loads(path: Path) -> None:
    loaded = load_graph(str(path), trusted=True)
    assert len(loaded.graph.in_files) == len(loaded.graph.out_files) == 3


def test_the_upstream_folder_holds_what_the_issue_names() -> None:
    assert {p.stem for p in UPSTREAM.glob("*.json")} >= {
        "go_graph_test_roundtrip",
        "S1BackscatterCoherence",
        "S1CoregExtract",
        "CopyProductToStorage",
        "Pass",
        "ExtractS2Bands",
        "doc_graph_md_docker_step_wrapped",
    }


# Describe("Loading tile condition")
@pytest.mark.parametrize("name", ["pass", "different_T0_T1", "different_T1_T2", "different_T0_T2", ""])
def test_tile_conditions_load(name: str) -> None:
    assert step_of(go_arg("fixed", "x"), name).condition == (name or "pass")


def test_an_error_condition_is_not_a_tile_condition() -> None:
    with pytest.raises(GraphError, match="unknown tile condition 'on_fatal_failure'"):
        step_of(go_arg("fixed", "x"), "on_fatal_failure")
    with pytest.raises(GraphError, match=r"in_files\[0\]\[0\]\.condition"):
        parse_graph({"in_files": [[{"layer": "a", "extension": "tif", "condition": "on_fatal_failure"}]]})


# Describe("Loading argument"): each type, as Go writes it, comes back equal.
@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (go_arg("fixed", "fixed_arg"), FixedArg(type="fixed", value="fixed_arg")),
        (go_arg("config", "config_flag"), ConfigArg(type="config", value="config_flag")),
        (go_arg("tile", "number"), TileArg(type="tile", value="number")),
        (
            go_arg("in", tile_index=2, layer="preprocessed", extension="dim"),
            InArg(type="in", tile_index=2, layer="preprocessed", extension="dim"),
        ),
        (go_arg("out", layer="coregistred", extension="dim"), OutArg(type="out", layer="coregistred", extension="dim")),
    ],
    ids=["fixed", "config", "tile", "in", "out"],
)
def test_arguments_with_all_five_keys_load(written: dict[str, Any], expected: object) -> None:
    assert step_of(written).args["a"] == expected


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (go_arg("fixed", "x", layer="B04"), "'layer' is not used by an argument of type 'fixed'"),
        (
            go_arg("out", layer="a", extension="tif", tile_index=1),
            "'tile_index' is not used by an argument of type 'out'",
        ),
        (go_arg("in", "x", layer="a", extension="tif"), "'value' is not used by an argument of type 'in'"),
        ({**go_arg("fixed", "x"), "colour": "red"}, "colour"),
    ],
    ids=["fixed-with-layer", "out-of-slot-1", "in-with-value", "unknown-key"],
)
def test_keys_neither_format_knows_or_sets_stay_refused(written: dict[str, Any], message: str) -> None:
    with pytest.raises(GraphError, match=message):
        step_of(written)


# Describe("Loading step") and Describe("Loading graph"): the graph Go wrote back.
def test_the_go_round_trip_graph_is_the_graph_go_started_from() -> None:
    graph = load_graph(str(UPSTREAM / "go_graph_test_roundtrip.json"), trusted=True).graph
    snap, python = graph.processing_steps
    assert (snap.engine, snap.command, snap.condition) == ("snap", "snap_graph.xml", "pass")
    assert snap.args == {
        "input": TileArg(type="tile", value="scene"),
        "output": OutArg(type="out", layer="preprocessed", extension="dim"),
        "swath": TileArg(type="tile", value="swath"),
        "polar": FixedArg(type="fixed", value='"VV VH"'),
        "burst": TileArg(type="tile", value="number"),
    }
    assert (python.engine, python.command, python.condition) == ("python", "python_command.py", "different_T0_T1")
    assert python.args == {
        "file-in": OutArg(type="out", layer="coh_VH", extension="tif"),
        "file-out": OutArg(type="out", layer="coh_VH", extension="tif"),
        "no-data": FixedArg(type="fixed", value="0"),
        "iterations": ConfigArg(type="config", value="coh_erode_iterations"),
    }
    assert graph.config == {}
    assert graph.in_files == [
        [InFile(layer="preprocessed", extension="dim", condition="pass")],
        [],
        [InFile(layer="preprocessed", extension="dim", condition="different_T0_T2")],
    ]
    created, deleted = graph.out_files[0]
    assert (created.layer, created.extension, created.action) == ("coregextract", "dim", "to_create")
    assert (created.condition, created.error_condition) == ("different_T0_T1", "pass")
    assert (created.exponent, created.nbands, created.dformat({})) == (1.0, 1, None), "Go's zeros are unset values"
    assert (deleted.layer, deleted.action, deleted.condition) == ("preprocessed", "to_delete", "different_T1_T2")
    assert [(o.layer, o.action, o.condition) for o in graph.out_files[1]] == [
        ("coregextract", "to_delete", "different_T0_T1")
    ]
    assert graph.out_files[2] == []


def test_step_envs_of_the_docs_load() -> None:
    graph = load_graph(str(UPSTREAM / "doc_graph_md_docker_step_wrapped.json"), trusted=True).graph
    step = graph.processing_steps[0]
    assert step.engine == "docker" and step.command == "myImage"
    assert step.envs == ["GOOGLE_APPLICATION_CREDENTIALS=/myPath/myFile"]
    with pytest.raises(GraphError, match="'NOT-A-PAIR' is not KEY=VALUE"):
        parse_graph({"processing_steps": [{"engine": "cmd", "command": "x", "envs": ["NOT-A-PAIR"]}]})


def test_indexed_outputs_keep_their_numbers() -> None:
    """Zero means "unset" as Go writes it; any other exponent / band count is kept."""
    out = parse_graph(
        {"out_files": [[{"layer": "a", "extension": "tif", "action": "to_index", "exponent": 2, "nbands": 4}]]}
    ).out_files[0][0]
    assert (out.exponent, out.nbands) == (2.0, 4)
    assert OutFile(layer="a", extension="tif", exponent=0, nbands=0).exponent == 1.0


# Describe("ExecuteGraph"): tiles of scenes 1, 1, 2 (T0 = T1 != T2), each with a stored layer.
def upstream_slots(make_tile: TileFactory, graph: str, storage_uri: str) -> list[Any]:
    day = datetime(2022, 1, 1, tzinfo=UTC)
    slots = [
        make_tile(1, "1", graph, tile="T0", date=day),
        make_tile(2, "1", graph, tile="T1", date=day),
        make_tile(3, "2", graph, tile="T2", date=datetime(2021, 12, 20, tzinfo=UTC)),
    ]
    for item in slots:
        put_layer(item, "state", "txt", "x", storage_uri)
    return slots


def still_stored(slots: list[Any], storage_uri: str) -> list[bool]:
    return [storage.exists(uri(t, "state", "txt", storage_uri)) for t in slots]


def to_delete(condition: str = "pass", error_condition: str = "pass") -> dict[str, str]:
    return {
        "layer": "state",
        "extension": "txt",
        "action": "to_delete",
        "condition": condition,
        "error_condition": error_condition,
    }


def test_execute_pass_deletes_nothing(tmp_path: Path, make_tile: TileFactory) -> None:
    graph = write_graph(tmp_path / "g", {"out_files": [[to_delete("on_fatal_failure")], [], []]})
    storage_uri = str(tmp_path / "s")
    slots = upstream_slots(make_tile, graph, storage_uri)
    result = process_tile(*slots, work_dir=tmp_path / "w", storage_uri=storage_uri, index=None)
    assert result.deleted == [] and still_stored(slots, storage_uri) == [True, True, True]


def test_execute_a_fatal_error_deletes_what_asked_for_it(tmp_path: Path, make_tile: TileFactory) -> None:
    folder = tmp_path / "g"
    script(folder, "python/fatal_error.py", "raise SystemExit('FATAL ERROR: this is a fatal error')\n")
    body = {
        "processing_steps": [{"engine": "python", "command": "python/fatal_error.py", "condition": "pass"}],
        "out_files": [
            [to_delete("on_fatal_failure")],
            [to_delete("different_T0_T1", "on_fatal_failure")],
            [to_delete("different_T0_T2", "on_fatal_failure")],
        ],
    }
    graph = write_graph(folder, body)
    storage_uri = str(tmp_path / "s")
    slots = upstream_slots(make_tile, graph, storage_uri)
    with pytest.raises(FatalError, match="FATAL ERROR: this is a fatal error"):
        process_tile(*slots, work_dir=tmp_path / "w", storage_uri=storage_uri, index=None)
    # upstream: asks to delete [true, false, true]
    assert still_stored(slots, storage_uri) == [False, True, False]
