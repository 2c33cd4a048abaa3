"""Graph checks beyond the shape: engines, commands, config keys, inputs, outputs, formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from geocube_ingest.processing.engines.docker import forget_availability
from geocube_ingest.processing.graph import GraphError, load_graph
from geocube_ingest.processing.validate import check_graph, require_valid
from geocube_ingest.settings import get_settings


def write(tmp_path: Path, body: dict[str, Any]) -> str:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(body))
    return str(path)


def problems(tmp_path: Path, body: dict[str, Any], config: dict[str, str] | None = None) -> dict[str, str]:
    return {p.location: p.message for p in check_graph(write(tmp_path, body), config=config)}


def xarray_step(command: str, **args: dict[str, Any]) -> dict[str, Any]:
    return {"engine": "xarray", "command": command, "args": args}


def tile_file(layer: str, tile_index: int = 0) -> dict[str, Any]:
    """An `in` argument: a tif of the tile, or of a previous tile (1, 2) of the series."""
    return {"type": "in", "tile_index": tile_index, "layer": layer, "extension": "tif"}


def out_file(layer: str) -> dict[str, Any]:
    return {"type": "out", "layer": layer, "extension": "tif"}


def indexed(layer: str, dformat_key: str, low: float, high: float) -> dict[str, Any]:
    """A to_index output whose data format is the graph config's `dformat_key`."""
    return {
        "layer": layer,
        "extension": "tif",
        "action": "to_index",
        "dformat_out": {"type": "config", "value": dformat_key},
        "ext_min_value": low,
        "ext_max_value": high,
    }


def test_engines_and_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_DOCKER__COMMAND", '["no-docker-cli-here"]')
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__SNAP_GPT", "no-gpt-here")
    get_settings.cache_clear()
    forget_availability()
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "ok.py").write_text("")
    found = problems(
        tmp_path,
        {
            "processing_steps": [
                {"engine": "teleport", "command": "image"},
                {"engine": "xarray", "command": "teleport"},
                xarray_step("convert", output=out_file("o"), colour={"type": "fixed", "value": "red"}),
                {"engine": "python", "command": "tests.processing.no_such_module_xyz:run"},
                {"engine": "python", "command": "tests.processing.steps:missing"},
                {"engine": "python", "command": "scripts/missing.py"},
                {"engine": "python", "command": "scripts/ok.py"},
                {"engine": "python", "command": "tests.processing.steps:concat"},
                {"engine": "cmd", "command": "no-such-program-xyz"},
                {"engine": "snap", "command": "snap/missing.xml"},
                {"engine": "docker", "command": "--privileged alpine"},
                {"engine": "python", "command": "os:system"},
            ]
        },
    )
    assert found == {
        "processing_steps[0].engine": "unknown engine 'teleport' (expected one of xarray, python, cmd, snap, docker)",
        "processing_steps[1].command": found["processing_steps[1].command"],
        "processing_steps[2].args.input": "required by convert",
        "processing_steps[2].args.colour": found["processing_steps[2].args.colour"],
        "processing_steps[3].command": found["processing_steps[3].command"],
        "processing_steps[4].command": "'tests.processing.steps' has no 'missing'",
        "processing_steps[5].command": "python script 'scripts/missing.py' not found in the graph folders",
        "processing_steps[8].command": (
            "program 'no-such-program-xyz' is neither a file of the graph folders nor in graphs.allowed_programs"
        ),
        "processing_steps[9].command": "SNAP graph 'snap/missing.xml' not found in the graph folders",
        "processing_steps[9].engine": (
            "ESA SNAP's gpt is not installed here ('no-gpt-here' not found: set processing.snap_gpt)"
        ),
        "processing_steps[10].command": "docker command '--privileged alpine' does not start with an image name",
        "processing_steps[10].engine": (
            "docker is not available here: 'no-docker-cli-here' is not installed (docker.command)"
        ),
        "processing_steps[11].command": "python module 'os' is not in graphs.python_modules",
    }
    assert found["processing_steps[1].command"].startswith("unknown xarray step 'teleport' (known: band_math")
    assert "not an argument of convert" in found["processing_steps[2].args.colour"]
    assert "cannot import 'tests.processing.no_such_module_xyz'" in found["processing_steps[3].command"]


def test_inputs_must_be_imported_or_produced_before_use(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "config": {"res": "10"},
            "in_files": [
                [{"layer": "a", "extension": "tif"}, {"layer": "a", "extension": "tif"}],
                [],
                [{"layer": "b", "extension": "*"}],
            ],
            "processing_steps": [
                xarray_step(
                    "convert",
                    input=tile_file("made_later"),
                    output=out_file("first"),
                    resolution={"type": "config", "value": "missing_key"},
                ),
                xarray_step(
                    "convert",
                    input=tile_file("first"),
                    output=out_file("made_later"),
                    resolution={"type": "config", "value": "res"},
                ),
                xarray_step("difference", input=tile_file("a"), other=tile_file("a", 1), output=out_file("d")),
            ],
        },
    )
    assert found == {
        "in_files[0][1]": "a.tif is imported twice",
        "in_files[2][0]": "an input needs a concrete extension, not '*'",
        "processing_steps[0].args.input": (
            "made_later.tif of slot 0 is neither in in_files[0] nor written by an earlier step"
        ),
        "processing_steps[0].args.resolution": "config key 'missing_key' is not in the graph's config",
        "processing_steps[2].args.other": "a.tif of slot 1 is neither in in_files[1] nor written by an earlier step",
    }
    # A key the payload's graph_config brings is fine.
    assert "processing_steps[0].args.resolution" not in problems(
        tmp_path, json.loads(Path(tmp_path / "g.json").read_text()), {"missing_key": "20"}
    )


def test_outputs(tmp_path: Path) -> None:
    """Several problems may share a location: all are reported, in order."""
    step = xarray_step("convert", input=tile_file("a"), output=out_file("made"))
    found = [
        (p.location, p.message)
        for p in check_graph(
            write(
                tmp_path,
                {
                    "config": {"fmt": "int16,0,0,100", "broken": "int16,0"},
                    "in_files": [[{"layer": "a", "extension": "tif"}], [{"layer": "p", "extension": "tif"}], []],
                    "processing_steps": [step],
                    "out_files": [
                        [
                            indexed("made", "fmt", 0, 1),
                            {"layer": "made", "extension": "tif", "action": "to_index"},
                            {"layer": "ghost", "extension": "tif", "action": "to_create"},
                            {"layer": "maybe", "extension": "tif", "action": "to_create", "condition": "file_exists"},
                            indexed("a", "broken", 2, 1),
                            {"layer": "x", "extension": "*", "action": "to_delete"},
                            {"layer": "product", "extension": "*", "action": "to_create"},
                        ],
                        [
                            {"layer": "p", "extension": "tif", "action": "to_create"},
                            {"layer": "q", "extension": "tif", "action": "to_create"},
                        ],
                        [{"layer": "anything", "extension": "tif", "action": "to_delete"}],
                    ],
                },
            )
        )
    ]
    assert found == [
        ("out_files[0][1]", "made.tif is listed twice for to_index"),
        ("out_files[0][1].dformat_out", "an indexed output needs a data format 'dtype,nodata,min,max'"),
        ("out_files[0][1]", "an indexed output needs ext_min_value and ext_max_value (its real range)"),
        ("out_files[0][2]", "ghost.tif is handed on (to_create) but never written by a step or imported"),
        ("out_files[0][4].dformat_out", "invalid dformat 'int16,0': expected 'dtype,nodata,min,max'"),
        ("out_files[0][4]", "ext_min_value must be below ext_max_value"),
        ("out_files[0][5].extension", "'*' is only allowed for the product layer"),
        ("out_files[1][1]", "q.tif is handed on (to_create) but never imported by in_files[1]"),
    ]


def test_index_output_needs_format_and_range(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "in_files": [[{"layer": "a", "extension": "tif"}], [], []],
            "out_files": [[{"layer": "a", "extension": "tif", "action": "to_index"}], [], []],
        },
    )
    assert found == {
        "out_files[0][0].dformat_out": "an indexed output needs a data format 'dtype,nodata,min,max'",
        "out_files[0][0]": "an indexed output needs ext_min_value and ext_max_value (its real range)",
    }


def test_require_valid_raises_every_problem(tmp_path: Path) -> None:
    loaded = load_graph(
        write(tmp_path, {"processing_steps": [{"engine": "x", "command": "y"}, {"engine": "z", "command": "w"}]})
    )
    with pytest.raises(GraphError) as raised:
        require_valid(loaded)
    assert [loc for loc, _ in raised.value.problems] == ["processing_steps[0].engine", "processing_steps[1].engine"]


def test_parse_problems_come_back_as_problems(tmp_path: Path) -> None:
    found = problems(tmp_path, {"processing_steps": [{"engine": "xarray", "command": "convert", "condition": "maybe"}]})
    assert list(found) == ["processing_steps[0].condition"]
