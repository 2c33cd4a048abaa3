"""CLI output read through a pipe keeps its layout: one row per line, nothing cut or wrapped at 80 columns."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from geocube_ingest.workflow import Outcome, Workflow

from .helpers import download_all, series

LONG = "the provider answered 503 Service Unavailable " * 4  # ~180 characters


def test_a_long_table_piped_keeps_one_row_per_line(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'workflow.db'}"
    wf = Workflow(database_url)
    wf.ingest("Piped-1", series(3, ["burst-0001-iw1", "burst-0002-iw2"]))
    download_all(wf)
    for lease in wf.claim("tile", "w", limit=2):
        wf.report(lease, Outcome.retry(LONG.strip()))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["GEOCUBE_INGEST_DATABASE_URL"] = database_url
    piped = subprocess.run(
        f"{sys.executable} -m geocube_ingest.cli.main tiles Piped-1 | cat",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    header, *rows = piped.stdout.splitlines()
    assert header.split() == ["id", "scene", "tile", "date", "status", "prev", "ref", "message"]
    assert len(rows) == 6  # one line per tile
    assert sum(row.rstrip().endswith(LONG.strip()) for row in rows) == 2
    assert max(len(row) for row in rows) > 200
