"""The README's first command: `geocube-ingest demo` ends with every tile DONE and the cubes opened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def demo(home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GEOCUBE_INGEST_", "PREFECT_"))}
    env.update({"GEOCUBE_INGEST_HOME": str(home), "PREFECT_HOME": str(home / "prefect"), "COLUMNS": "120"})
    result = subprocess.run(
        [sys.executable, "-m", "geocube_ingest.cli.main", "demo"], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_demo_then_demo_again(tmp_path: Path) -> None:
    first = demo(tmp_path / "home")
    assert "Ingesting LongmontDemoS2 (Prefect flow ingest-aoi)" in first
    assert first.count("done:    9") == 2 and "Total:   9" in first  # scenes and tiles
    assert "Cube: NDVI/demo, 9 dates x 600 x 600 pixels" in first
    assert "STAC collection:" in first and "geocube-ingest serve" in first
    assert (tmp_path / "home" / "storage" / "LongmontDemoS2" / "stac" / "collection.json").is_file()
    # Then four Sentinel-1 GRD passes through the S1 graph.
    assert "Ingesting AuvergneDemoS1 (Prefect flow ingest-aoi)" in first
    assert first.count("done:    4") == 2 and "Cube: Sigma0dB/VV, 4 dates" in first
    assert (tmp_path / "home" / "storage" / "AuvergneDemoS1" / "stac" / "collection.json").is_file()
    assert "Warning" not in first and "INFO" not in first, "the demo's output is for people"

    again = demo(tmp_path / "home")
    assert "Nothing to do: AOI LongmontDemoS2 is already ingested" in again
    assert "Cube: NDVI/demo, 9 dates" in again
    assert "Nothing to do: AOI AuvergneDemoS1 is already ingested" in again
