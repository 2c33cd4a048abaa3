"""`geocube-ingest catalog scenes|tiles` end to end, against a local STAC API holding recorded Earth Search items."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape
from typer.testing import CliRunner

from geocube_ingest.catalogue import scenes_from_geojson
from geocube_ingest.cli.main import app
from geocube_ingest.settings import get_settings

CLI = str(Path(sys.executable).parent / "geocube-ingest")
# The seed's example scene (seeds/run-a-payload.md): these are its property, data and tag keys.
SEED_PROPERTIES = {"aoi", "data", "id", "source_id", "tags", "wkt"}
SEED_DATA = {"date", "graph_config", "graph_name", "is_retriable", "record_id", "storage_uri", "uuid"}
SEED_TAGS = {
    "area",
    "cloudCoverPercentage",
    "constellation",
    "ingestionDate",
    "orbit",
    "orbitDirection",
    "productType",
    "provider",
    "relativeOrbit",
    "satellite",
    "source",
    "sourceID",
    "uuid",
}


def _env(provider_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEOCUBE_INGEST_")}
    env["GEOCUBE_INGEST_HOME"] = str(home)
    env["GEOCUBE_INGEST_CATALOGUE__PROVIDERS"] = json.dumps([{"preset": "earth-search", "url": provider_url}])
    return env


@pytest.fixture
def payload_file(tmp_path: Path, s2_payload_doc: dict[str, Any]) -> Path:
    path = tmp_path / "DenmarkDemoS2.json"
    path.write_text(json.dumps(s2_payload_doc))
    return path


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, earth_search) -> None:
    """The in-process CLI pointed at the local STAC API."""
    monkeypatch.setenv(
        "GEOCUBE_INGEST_CATALOGUE__PROVIDERS", json.dumps([{"preset": "earth-search", "url": earth_search.base}])
    )
    monkeypatch.setenv("GEOCUBE_INGEST_CATALOGUE__BACKOFF_SECONDS", "0.01")
    get_settings.cache_clear()


def test_catalog_scenes_prints_the_seed_scene_geojson(earth_search, payload_file: Path, isolated_home: Path) -> None:
    result = subprocess.run(
        [CLI, "catalog", "scenes", str(payload_file)],
        capture_output=True,
        text=True,
        env=_env(earth_search.base, isolated_home),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["type"] == "FeatureCollection"
    features = document["features"]
    assert len(features) == 10  # the 10 recorded items of tile 13TDE between 2024-03-31 and 2024-04-22
    dates = []
    for i, feature in enumerate(features):
        props = feature["properties"]
        assert set(props) == SEED_PROPERTIES
        assert props["aoi"] == "DenmarkDemoS2"
        assert props["id"] == 0 and feature["id"] == i
        assert SEED_DATA <= set(props["data"]) <= SEED_DATA | {"metadata"}
        assert props["data"]["graph_name"] == "CopyProductToStorage"
        assert props["data"]["is_retriable"] is True
        assert props["data"]["record_id"] == "" and props["data"]["storage_uri"] == ""
        assert props["data"]["uuid"] == props["tags"]["uuid"]
        assert set(props["tags"]) == SEED_TAGS
        assert props["tags"]["area"] == "Denmark" and props["tags"]["source"] == "tutorial"
        assert props["tags"]["constellation"] == "SENTINEL2"
        assert props["tags"]["productType"] == "S2MSI2A"
        assert props["tags"]["sourceID"] == props["source_id"]
        assert props["source_id"].startswith(("S2A_MSIL2A_", "S2B_MSIL2A_")) and "_T13TDE_" in props["source_id"]
        assert props["data"]["metadata"]["assets"]["red"].endswith("/B04.tif")
        footprint = shapely.from_wkt(props["wkt"])
        assert footprint.equals(shape(feature["geometry"]))
        assert footprint.intersects(shapely.box(-105.3, 39.9, -105.0, 40.3))
        dates.append(props["data"]["date"])
    assert dates == sorted(dates)
    assert "10 scenes from earth-search" in result.stderr
    # ...and the file reads back as scenes.
    assert [s.source_id for s in scenes_from_geojson(result.stdout)] == [f["properties"]["source_id"] for f in features]


def test_bad_payload_exits_2_with_one_line(tmp_path: Path, isolated_home: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x y", "start_time": "2022-01-01T00:00:00Z"}))
    result = subprocess.run(
        [CLI, "catalog", "scenes", str(bad)],
        capture_output=True,
        text=True,
        env=_env("http://127.0.0.1:9", isolated_home),
    )
    assert result.returncode == 2
    assert "invalid payload" in result.stderr and "name" in result.stderr and "end_time" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "text",
    ['{"type": ["Feature"]}', "[" * 5000 + "]" * 5000, '{"retry_count": ' + "9" * 5000 + "}", '{"name": "\\u0000"}'],
    ids=["type-list", "deep", "digits", "nul"],
)
def test_malformed_payload_files_exit_2_with_one_line(text: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    completed = subprocess.run([CLI, "catalog", "scenes", str(bad)], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2 and completed.stdout == ""
    assert len(completed.stderr.strip().splitlines()) == 1 and "invalid payload" in completed.stderr


def test_scenes_page_and_limit(configured, payload_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "page1.json"
    result = runner.invoke(app, ["catalog", "scenes", str(payload_file), "--page", "1", "--limit", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page1 = json.loads(out.read_text())
    assert len(page1["features"]) == 4 and page1["properties"] == {"next": "true", "provider": "earth-search"}
    result = runner.invoke(app, ["catalog", "scenes", str(payload_file), "--page", "2", "--limit", "4"])
    assert result.exit_code == 0
    page2 = json.loads(result.stdout)
    assert len(page2["features"]) == 2 and page2["properties"]["next"] == "false"
    names = [f["properties"]["source_id"] for f in page1["features"] + page2["features"]]
    assert len(set(names)) == 6


def test_tiles_from_an_edited_scenes_file(configured, payload_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    scenes_path = tmp_path / "scenes.json"
    assert runner.invoke(app, ["catalog", "scenes", str(payload_file), "-o", str(scenes_path)]).exit_code == 0
    edited = json.loads(scenes_path.read_text())
    edited["features"] = edited["features"][:3]  # a person keeps three scenes
    edited["features"][0]["properties"]["tags"]["note"] = "checked by hand"
    scenes_path.write_text(json.dumps(edited))
    tiles_path = tmp_path / "tiles.json"
    result = runner.invoke(
        app,
        [
            "catalog",
            "tiles",
            str(payload_file),
            "--scenes",
            str(scenes_path),
            "-o",
            str(tiles_path),
            "--no-workflow",
            "--link",
        ],
    )
    assert result.exit_code == 0, result.output
    tiles = json.loads(tiles_path.read_text())
    features = tiles["features"]
    assert len(features) == 3
    assert features[0]["properties"]["tags"]["note"] == "checked by hand"
    chain = [f["properties"]["tiles"][0] for f in features]
    assert [t["SourceID"] for t in chain] == ["T13TDE"] * 3
    assert chain[0]["previous"] is None and chain[0]["reference"] is None
    assert chain[1]["previous"]["SceneID"] == features[0]["properties"]["source_id"]
    assert chain[2]["previous"]["SceneID"] == features[1]["properties"]["source_id"]
    assert chain[2]["reference"]["SceneID"] == features[0]["properties"]["source_id"]
    assert features[1]["properties"]["data"]["tiles"] == {"T13TDE": {"swath_id": "", "tile_nr": 0}}


def test_tiles_of_the_pass_graph_are_not_chained(configured, payload_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["catalog", "tiles", str(payload_file), "--database", f"sqlite:///{tmp_path}/wf.db"]
    )
    assert result.exit_code == 0, result.output
    features = json.loads(result.stdout)["features"]
    assert len(features) == 10
    assert all(f["properties"]["tiles"][0]["previous"] is None for f in features)
