"""Graph JSON: upstream's shapes, config merging, data formats, and resolution by name, path or URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from geocube_ingest.errors import FatalError, NotFound
from geocube_ingest.processing.graph import (
    ConfigArg,
    FixedArg,
    GraphError,
    InArg,
    OutArg,
    TileArg,
    list_graphs,
    load_graph,
    parse_graph,
    repo_graph_dir,
    resolve_graph,
)
from geocube_ingest.processing.policy import GraphSourceRefused
from geocube_ingest.processing.validate import check_graph
from geocube_ingest.settings import get_settings
from tests.processing.servers import serve_folder

LIBRARY = [
    "ChangeFromPrevious",
    "CopyProductToStorage",
    "ExtractS2Bands",
    "Pass",
    "S1Backscatter",
    "S1BackscatterCoherence",
    "S1Preprocessing",
    "S1SlcBackscatter",
    "S1SlcBursts",
    "S1SlcCoherence",
    "S2Indices",
]

# Upstream's shapes: `config: null`, `out_files_conditions`, legacy data format fields,
# a `snap` engine with `tile` args, `in` args with tile_index.
UPSTREAM_COPY = """{"config": null, "processing_steps": [], "in_files": [[], [], []],
 "out_files": [[{"layer": "product", "extension": "SAFE", "action": "to_create"}], [], []],
 "out_files_conditions": [["pass"], [], []]}"""
UPSTREAM_S1 = {
    "config": {"dformat-out": "float32,0,0,1", "snap_cpu_parallelism": "1", "resolution": "20"},
    "processing_steps": [
        {
            "engine": "snap",
            "command": "snap/S1_SLC_BkG.xml",
            "args": {
                "master": {"type": "in", "tile_index": 2, "layer": "preprocessed", "extension": "dim"},
                "slave": {"type": "in", "tile_index": 0, "layer": "preprocessed", "extension": "dim"},
                "output": {"type": "out", "layer": "coregistred", "extension": "dim"},
                "img_suffix": {"type": "tile", "value": "date"},
                "resolution": {"type": "config", "value": "resolution"},
            },
            "condition": "pass",
        }
    ],
    "in_files": [
        [{"layer": "preprocessed", "extension": "dim"}],
        [{"layer": "coregextract", "extension": "dim", "condition": "different_T1_T2"}],
        [{"layer": "preprocessed", "extension": "dim", "condition": "different_T0_T2"}],
    ],
    "out_files": [
        [
            {
                "layer": "sigma0_VV", "extension": "tif", "datatype": 6, "nodata": 0, "min_value": 0,
                "max_value": 1, "ext_min_value": 0, "ext_max_value": 1, "exponent": 1, "action": "to_index",
            },
            {"layer": "__product__", "extension": "SAFE", "action": "to_delete", "error_condition": "on_fatal_failure"},
        ],
        [{"layer": "coregextract", "extension": "dim", "action": "to_delete", "condition": "different_T1_T2"}],
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", LIBRARY)
def test_library_graphs_load_and_check_clean(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gpt = tmp_path / "gpt"  # SNAP is not installed here: any executable stands for it
    gpt.write_text("#!/bin/sh\n")
    gpt.chmod(0o755)
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__SNAP_GPT", str(gpt))
    get_settings.cache_clear()
    loaded = load_graph(name)
    assert loaded.source == str(repo_graph_dir() / f"{name}.json")
    assert check_graph(name) == []
    assert len(loaded.graph.in_files) == len(loaded.graph.out_files) == 3


def test_list_graphs_has_the_library() -> None:
    assert sorted(list_graphs()) == LIBRARY


def test_upstream_shapes_parse() -> None:
    copy = parse_graph(UPSTREAM_COPY)
    assert copy.config == {} and copy.out_files[0][0].condition == "pass"
    s1 = parse_graph(json.dumps(UPSTREAM_S1))
    step = s1.processing_steps[0]
    assert step.engine == "snap"
    assert step.args["master"] == InArg(type="in", tile_index=2, layer="preprocessed", extension="dim")
    assert isinstance(step.args["output"], OutArg) and isinstance(step.args["img_suffix"], TileArg)
    assert isinstance(step.args["resolution"], ConfigArg)
    assert len(s1.out_files) == 3, "missing slots are empty lists"
    vv, product = s1.out_files[0]
    assert str(vv.dformat({})) == "float32,0,0,1", "legacy datatype/nodata/min_value/max_value"
    assert product.error_condition == "on_fatal_failure" and product.action == "to_delete"
    assert s1.in_files[1][0].condition == "different_T1_T2"


def test_config_defaults_then_payload_then_workdir() -> None:
    graph = load_graph("S2Indices").graph
    config = graph.resolved_config({"resolution": 20, "extra": True}, Path("/scratch/x"))
    assert config["resolution"] == "20" and config["extra"] == "true"
    assert config["mask_classes"] == "3,8,9,10", "defaults kept"
    assert config["workdir"] == "/scratch/x"
    assert graph.config["resolution"] == "10", "the graph itself is not changed"


def test_dformat_fixed_config_bare_string_and_missing_key() -> None:
    graph = parse_graph(
        {
            "out_files": [
                [
                    {"layer": "a", "extension": "tif", "dformat_out": {"type": "fixed", "value": "int16,-1,0,100"}},
                    {"layer": "b", "extension": "tif", "dformat_out": {"type": "config", "value": "fmt"}},
                    {"layer": "c", "extension": "tif", "dformat_out": "uint8,255,0,200"},
                    {"layer": "d", "extension": "tif"},
                ]
            ]
        }
    )
    a, b, c, d = graph.out_files[0]
    assert isinstance(a.dformat_out, FixedArg) and str(a.dformat({})) == "int16,-1,0,100"
    assert str(b.dformat({"fmt": "float32,nan,0,1"})) == "float32,nan,0,1"
    assert str(c.dformat({})) == "uint8,255,0,200"
    assert d.dformat({}) is None
    with pytest.raises(FatalError, match="config key 'fmt'"):
        b.dformat({})
    assert (a.exponent, a.nbands, a.action, a.condition, a.error_condition) == (1.0, 1, "to_ignore", "pass", "pass")


def test_every_parse_problem_is_reported_with_its_location() -> None:
    with pytest.raises(GraphError) as raised:
        parse_graph(
            {
                "config": {"a": ["not", "text"]},
                "processing_steps": [
                    {"engine": "xarray", "command": "convert", "args": {"x": {"type": "nope", "value": "1"}}},
                    {"engine": "xarray", "command": "convert", "condition": "file_exists"},
                    {"engine": "xarray"},
                ],
                "in_files": [[{"layer": "x", "extension": "tif", "condition": "on_failure"}], [], []],
                "out_files": [
                    [{"layer": "", "extension": "tif", "action": "to_keep", "error_condition": "different_T0_T1"}]
                ],
                "typo": 1,
            },
            source="bad.json",
        )
    locations = [loc for loc, _ in raised.value.problems]
    assert locations == [
        "config.a",
        "processing_steps[0].args.x",
        "processing_steps[1].condition",
        "processing_steps[2].command",
        "in_files[0][0].condition",
        "out_files[0][0].layer",
        "out_files[0][0].action",
        "out_files[0][0].error_condition",
        "typo",
    ]
    message = str(raised.value)
    assert message.startswith("invalid graph bad.json: ")
    assert "unknown tile condition 'file_exists'" in message and "unknown error condition 'different_T0_T1'" in message


def test_not_json_and_too_many_slots() -> None:
    with pytest.raises(GraphError, match="line 1 column 2"):
        parse_graph("{oops")
    with pytest.raises(GraphError, match="expected at most 3 lists"):
        parse_graph({"in_files": [[], [], [], []]})


def test_resolution_order_and_upstream_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "Pass.json").write_text(json.dumps({"description": "my own Pass"}))
    (mine / "Custom.json").write_text("{}")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__GRAPH_DIRS", json.dumps([str(mine)]))
    get_settings.cache_clear()
    assert resolve_graph("Pass") == str(mine / "Pass.json"), "configured folders come first"
    assert load_graph("Pass").graph.description == "my own Pass"
    assert resolve_graph("Custom") == str(mine / "Custom.json")
    assert resolve_graph("Custom.json") == str(mine / "Custom.json"), "relative paths inside graph folders"
    assert resolve_graph(str(mine / "Custom.json")) == str(mine / "Custom.json")
    assert resolve_graph("library/ExtractS2Bands.json") == str(repo_graph_dir() / "ExtractS2Bands.json")
    assert resolve_graph("library/graph/ExtractS2Bands.json").endswith("ExtractS2Bands.json")
    with pytest.raises(NotFound, match=r"unknown graph 'Nope' \(known: .*Custom"):
        resolve_graph("Nope")


@pytest.fixture
def graph_server(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "Remote.json").write_text(json.dumps({"description": "from HTTP", "config": {"k": "v"}}))
    with serve_folder(folder) as url:
        yield url


def test_graph_by_url_only_under_an_allowed_prefix(graph_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GraphSourceRefused, match="a graph URL is not allowed"):
        load_graph(f"{graph_server}/Remote.json")
    monkeypatch.setenv("GEOCUBE_INGEST_GRAPHS__ALLOWED_SOURCES", json.dumps([f"{graph_server}/"]))
    get_settings.cache_clear()
    loaded = load_graph(f"{graph_server}/Remote.json")
    assert loaded.graph.description == "from HTTP" and loaded.graph.config == {"k": "v"}
    assert loaded.base_dir is None
    with pytest.raises(NotFound):
        load_graph(f"{graph_server}/Missing.json")
    with pytest.raises(GraphSourceRefused):
        load_graph(f"{graph_server}/sub/../Remote.json")


def test_installed_wheel_uses_the_packaged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed from the wheel there is no repository `graphs/`: `geocube_ingest/_graphs` serves the library."""
    import shutil

    from geocube_ingest.processing import graph as graph_module

    packaged = tmp_path / "_graphs"
    shutil.copytree(repo_graph_dir(), packaged)
    monkeypatch.setattr(graph_module, "repo_graph_dir", lambda: tmp_path / "not-a-checkout")
    monkeypatch.setattr(graph_module, "packaged_graph_dir", lambda: packaged)
    assert sorted(list_graphs()) == LIBRARY
    assert resolve_graph("ExtractS2Bands") == str(packaged / "ExtractS2Bands.json")
