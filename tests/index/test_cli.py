"""`geocube-ingest variable ...`: a payload's layers prepared in two commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geocube_ingest.cli.main import app, main
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.settings import get_settings


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geocube_ingest.cli.main", *args], capture_output=True, text=True, timeout=120
    )


def test_two_commands_make_a_layer_usable(isolated_home: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["variable", "create", "NDVI", "-f", "float32,nan,-1,1", "--unit", "1", "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["dformat"] == "float32,nan,-1,1"
    made = runner.invoke(app, ["variable", "instantiate", "NDVI", "S2", "-m", "source=S2 L2A", "--json"])
    assert made.exit_code == 0, made.output
    instance = json.loads(made.output)
    assert instance["metadata"] == {"source": "S2 L2A"}

    index = EmbeddedIndex(settings=get_settings())
    assert index.resolve_layers({"ndvi": {"variable": "NDVI", "instance": "S2"}}) == {"ndvi": instance["id"]}

    listed = runner.invoke(app, ["variable", "list", "--json"])
    assert [v["name"] for v in json.loads(listed.output)] == ["NDVI"]
    table = runner.invoke(app, ["variable", "list"], env={"COLUMNS": "200"})
    assert "NDVI" in table.output and instance["id"] in table.output
    shown = runner.invoke(app, ["variable", "show", "NDVI"])
    assert json.loads(shown.output)["instances"][0]["name"] == "S2"
    again = runner.invoke(app, ["variable", "create", "NDVI", "-f", "float32,nan,-1,1", "--exist-ok"])
    assert again.exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["variable", "create", "A", "-f", "uint8,0"], "invalid dformat"),
        (["variable", "instantiate", "Missing", "S2"], "variable 'Missing' not found"),
        (["variable", "instantiate", "A", "S2", "-m", "novalue"], "expected KEY=VALUE"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(
    isolated_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    EmbeddedIndex(settings=get_settings()).create_variable("A", "uint8,0,0,1")
    monkeypatch.setattr(sys, "argv", ["geocube-ingest", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert message in stderr and len(stderr.strip().splitlines()) == 1


def test_the_installed_command(isolated_home: Path) -> None:
    result = _run("variable", "create", "bad name", "-f", "uint8,0,0,1")
    assert result.returncode == 2
    assert "invalid variable name 'bad name'" in result.stderr
