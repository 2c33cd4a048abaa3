"""The python (callable and script), cmd and snap engines, through real subprocesses."""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from geocube_ingest import storage
from geocube_ingest.errors import FatalError, RetriableError, TemporaryError
from geocube_ingest.processing import process_tile
from geocube_ingest.settings import get_settings
from tests.processing.conftest import TileFactory
from tests.processing.test_job import fixed, inp, out, put_layer, uri, write_graph


def script(folder: Path, name: str, body: str, shebang: str = "") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((shebang + "\n" if shebang else "") + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def one_step_graph(engine: str, command: str, args: dict[str, Any], outputs: list[str] | None = None) -> dict[str, Any]:
    return {
        "config": {"mode": "fast", "snap_cpu_parallelism": "3"},
        "in_files": [[{"layer": "state", "extension": "txt"}], [], []],
        "processing_steps": [{"engine": engine, "command": command, "args": args}],
        "out_files": [[{"layer": name, "extension": "txt", "action": "to_create"} for name in (outputs or [])], [], []],
    }


ECHO_ARGS = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
out = args.pop("file-out")
open(out, "w").write(json.dumps({"argv": sys.argv[1:], "cwd": __import__("os").getcwd()}))
"""


def test_python_script_gets_long_args_from_every_arg_type(tmp_path: Path, make_tile: TileFactory) -> None:
    graphs = tmp_path / "graphs"
    script(graphs, "python/echo.py", ECHO_ARGS)
    args = {
        "file-in": inp(0, "state"),
        "file-out": out("echo"),
        "mode": {"type": "config", "value": "mode"},
        "fixed": fixed("42"),
        "swath": {"type": "tile", "value": "swath"},
        "number": {"type": "tile", "value": "number"},
        "date": {"type": "tile", "value": "date"},
        "scene": {"type": "tile", "value": "scene"},
        "constellation": {"type": "tile", "value": "constellation"},
        "workdir": {"type": "config", "value": "workdir"},
    }
    graph = write_graph(graphs, one_step_graph("python", "python/echo.py", args, ["echo"]))
    tile = make_tile(
        1, "S1A_IW_SLC__1SDV_20220104T170557", graph, tile="burst_7", swath="IW2", tile_nr=7,
        date=datetime(2022, 1, 4, 17, 5, 57, tzinfo=UTC),
    )  # fmt: skip
    storage_uri = str(tmp_path / "storage")
    put_layer(tile, "state", "txt", "x", storage_uri)
    process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=None)
    echoed = json.loads(storage.read_bytes(uri(tile, "echo", "txt", storage_uri)))
    argv = dict(a[2:].split("=", 1) for a in echoed["argv"])
    work = Path(echoed["cwd"])
    assert argv["file-in"] == str(work / "20220104_burst_7_state.txt")
    assert argv["file-out"] == str(work / "20220104_burst_7_echo.txt")
    assert argv["workdir"] == str(work), "config 'workdir' is the scratch folder the step runs in"
    assert (argv["mode"], argv["fixed"], argv["swath"], argv["number"]) == ("fast", "42", "IW2", "7")
    assert argv["date"] == "04Jan2022", "upstream's SNAP date format"
    assert (argv["scene"], argv["constellation"]) == ("S1A_IW_SLC__1SDV_20220104T170557", "SENTINEL1")
    assert [a.split("=")[0] for a in echoed["argv"]] == [f"--{k}" for k in args], "in the graph's order"


@pytest.mark.parametrize(
    ("printed", "error", "words"),
    [
        ("FATAL ERROR: product is corrupt", FatalError, "FATAL ERROR: product is corrupt"),
        ("TEMPORARY ERROR: storage busy", TemporaryError, "TEMPORARY ERROR: storage busy"),
        ("ERROR: Temporary failure in name resolution", TemporaryError, "name resolution"),
        ("ERROR: out of range", RetriableError, "ERROR: out of range"),
    ],
)
def test_script_output_classifies_the_failure(
    tmp_path: Path, make_tile: TileFactory, printed: str, error: type, words: str
) -> None:
    graphs = tmp_path / "graphs"
    script(graphs, "python/fails.py", f"import sys\nprint('working...')\nprint({printed!r})\nsys.exit(3)\n")
    graph = write_graph(graphs, one_step_graph("python", "python/fails.py", {}))
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    with pytest.raises(error) as raised:
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    assert words in str(raised.value) and "exited with status 3" in str(raised.value)


def test_python_exception_with_fatal_mark_is_fatal(tmp_path: Path, make_tile: TileFactory) -> None:
    """Upstream's fatal_error.py: a traceback whose last line says FATAL ERROR."""
    graphs = tmp_path / "graphs"
    script(graphs, "python/raise.py", "raise ValueError('FATAL ERROR: test')\n")
    graph = write_graph(graphs, one_step_graph("python", "python/raise.py", {}))
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    with pytest.raises(FatalError, match="ValueError: FATAL ERROR: test"):
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)


def test_cmd_engine_runs_a_program_with_graph_envs(tmp_path: Path, make_tile: TileFactory) -> None:
    graphs = tmp_path / "graphs"
    script(
        graphs,
        "bin/tool.sh",
        'for a in "$@"; do echo "$a"; done > "$OUT_FILE"\necho "GREETING=$GREETING" >> "$OUT_FILE"\n',
        "#!/bin/sh",
    )
    body = one_step_graph("cmd", "bin/tool.sh", {"first": fixed("1"), "second": fixed("two words")})
    body["envs"] = ["GREETING=hello", f"OUT_FILE={tmp_path / 'cmd.out'}"]
    graph = write_graph(graphs, body)
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    assert (tmp_path / "cmd.out").read_text().splitlines() == ["--first=1", "--second=two words", "GREETING=hello"]
    body["processing_steps"][0]["envs"] = ["GREETING=from the step"]  # upstream's step-level envs win
    process_tile(
        make_tile(1, "S", write_graph(graphs, body, name="step_envs")),
        None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None,
    )  # fmt: skip
    assert (tmp_path / "cmd.out").read_text().splitlines()[-1] == "GREETING=from the step"


def test_cmd_engine_runs_programs_on_path_only_when_allowed(
    tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = write_graph(tmp_path / "g", one_step_graph("cmd", "true", {}))
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    with pytest.raises(FatalError, match="program 'true' is neither a file of the graph folders nor in graphs"):
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    monkeypatch.setenv("GEOCUBE_INGEST_GRAPHS__ALLOWED_PROGRAMS", '["true", "no-such-program-here"]')
    get_settings.cache_clear()
    process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    missing = write_graph(tmp_path / "g", one_step_graph("cmd", "no-such-program-here", {}), name="missing")
    with pytest.raises(FatalError, match="program 'no-such-program-here' is allowed but not found on PATH"):
        process_tile(
            make_tile(1, "S", missing), None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None
        )


def test_step_files_never_leave_the_graph_folders(tmp_path: Path, make_tile: TileFactory) -> None:
    """A script next to the graph runs; one reached by `..` or an absolute path outside does not."""
    outside = script(tmp_path / "elsewhere", "evil.py", f"open({str(tmp_path / 'marker')!r}, 'w')\n")
    graphs = tmp_path / "allowed" / "graphs"
    script(graphs, "python/ok.py", "")
    for command in ("../../elsewhere/evil.py", str(outside), "python/ok.py"):
        graph = write_graph(graphs, one_step_graph("python", command, {}), name="g")
        tile = make_tile(1, "S", graph)
        put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
        if command == "python/ok.py":
            process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
            continue
        with pytest.raises(FatalError, match=r"python script .* not found in the graph folders"):
            process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    assert not (tmp_path / "marker").exists()


def test_snap_engine_calls_gpt_like_upstream(
    tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "gpt.args"
    gpt = script(tmp_path / "snap" / "bin", "gpt", f'printf "%s\\n" "$@" > {record}\n', "#!/bin/sh")
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__SNAP_GPT", str(gpt))
    get_settings.cache_clear()
    graphs = tmp_path / "graphs"
    (graphs / "snap").mkdir(parents=True)
    (graphs / "snap" / "Calibrate.xml").write_text(
        "<graph id='g'><node id='Read'><operator>Read</operator><parameters><file>${input}</file></parameters>"
        "</node><node id='Cal'><operator>Calibration</operator><sources><sourceProduct refid='Read'/></sources>"
        "<parameters><selectedPolarisations>${polar}</selectedPolarisations></parameters></node></graph>"
    )
    graph = write_graph(
        graphs, one_step_graph("snap", "snap/Calibrate.xml", {"input": inp(0, "state"), "polar": fixed("VV VH")})
    )
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    argv = record.read_text().splitlines()
    assert argv[:4] == [str(graphs / "snap" / "Calibrate.xml"), "-x", "-q", "3"]
    assert argv[4].startswith("-Pinput=") and argv[4].endswith("_state.txt") and argv[5] == "-Ppolar=VV VH"


def test_step_timeout_is_temporary(tmp_path: Path, make_tile: TileFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__COMMAND_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    graphs = tmp_path / "graphs"
    script(graphs, "python/slow.py", "import time\ntime.sleep(30)\n")
    graph = write_graph(graphs, one_step_graph("python", "python/slow.py", {}))
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    with pytest.raises(TemporaryError, match=r"killed after 0\.5 s"):
        process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)


def test_python_callable_receives_the_context(tmp_path: Path, make_tile: TileFactory) -> None:
    body = one_step_graph(
        "python", "tests.processing.steps.write_text", {"output": out("t"), "text": fixed("hi")}, ["t"]
    )
    graph = write_graph(tmp_path / "g", body)
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    result = process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    assert storage.read_bytes(result.outputs[0]) == b"hi"


def test_scripts_use_this_interpreter(tmp_path: Path, make_tile: TileFactory) -> None:
    """A python script runs with the service's interpreter (its packages), not whatever `python` is."""
    graphs = tmp_path / "graphs"
    script(graphs, "python/which.py", "import sys, os\nopen(sys.argv[1].split('=',1)[1], 'w').write(sys.executable)\n")
    graph = write_graph(graphs, one_step_graph("python", "python/which.py", {"out": out("which")}, ["which"]))
    tile = make_tile(1, "S", graph)
    put_layer(tile, "state", "txt", "x", str(tmp_path / "s"))
    result = process_tile(tile, None, None, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s"), index=None)
    assert os.path.samefile(storage.read_bytes(result.outputs[0]).decode(), sys.executable)
