"""Graphs are the operator's: what input may name, what steps may run, and the check at submission."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from geocube_ingest.catalogue import scenes_from_geojson
from geocube_ingest.errors import NotFound
from geocube_ingest.payload import Payload
from geocube_ingest.processing.admission import GraphRefused, admit_data, admit_graphs
from geocube_ingest.processing.graph import load_graph, repo_graph_dir, resolve_graph
from geocube_ingest.processing.policy import GraphSourceRefused, ref_kind, source_allowed
from geocube_ingest.settings import Settings, get_settings
from tests.catalogue.helpers import s2_payload


@pytest.fixture(autouse=True)
def operator_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """The processing tests allow their tmp_path as a graph source: not here."""
    monkeypatch.delenv("GEOCUBE_INGEST_GRAPHS__ALLOWED_SOURCES", raising=False)
    get_settings.cache_clear()


def inline(graph: dict[str, object]) -> str:
    return "data:application/json;base64," + base64.b64encode(json.dumps(graph).encode()).decode()


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        ("S2Indices", "name"),
        ("library/graph/ExtractS2Bands.json", "name"),
        ("mine/Custom.json", "name"),
        ("../x.json", "path"),
        ("a/../../x.json", "path"),
        ("/etc/x.json", "path"),
        ("~/x.json", "path"),
        ("file:///etc/x.json", "path"),
        ("C:\\graphs\\x.json", "path"),
        ("https://example.com/g.json", "url"),
        ("s3://bucket/g.json", "url"),
        ("data:application/json;base64,e30=", "data"),
        ("data://application/json;base64,e30=", "data"),
    ],
)
def test_reference_kinds(ref: str, kind: str) -> None:
    assert ref_kind(ref) == kind


def test_sources_the_operator_allows(tmp_path: Path) -> None:
    settings = Settings(
        graphs={"allowed_sources": [str(tmp_path / "shared"), "https://graphs.example.com", "s3://team/graphs/"]}
    )
    assert source_allowed(str(tmp_path / "shared" / "sub" / "g.json"), settings)
    assert source_allowed(f"file://{tmp_path}/shared/g.json", settings)
    assert not source_allowed(str(tmp_path / "shared" / ".." / "other" / "g.json"), settings)
    assert not source_allowed(str(tmp_path / "shared-not" / "g.json"), settings)
    assert source_allowed("https://graphs.example.com/g.json", settings)
    assert not source_allowed("https://graphs.example.com.evil.test/g.json", settings)
    assert not source_allowed("https://graphs.example.com/a/../../g.json", settings)
    assert not source_allowed("https://graphs.example.com/a/%2e%2e/g.json", settings)
    assert source_allowed("s3://team/graphs/g.json", settings)
    assert not source_allowed("s3://team/graphs-other/g.json", settings)
    assert not source_allowed(inline({}), settings), "data: only when listed"
    assert source_allowed(inline({}), Settings(graphs={"allowed_sources": ["data:"]}))
    assert not source_allowed("/etc/passwd", Settings())


def test_names_resolve_in_the_graph_folders_only(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "sub" / "Custom.json").write_text("{}")
    (tmp_path / "Outside.json").write_text("{}")
    settings = Settings(processing={"graph_dirs": [str(mine)]})
    assert resolve_graph("sub/Custom.json", settings) == str(mine / "sub" / "Custom.json")
    assert resolve_graph(str(mine / "sub" / "Custom.json"), settings) == str(mine / "sub" / "Custom.json")
    assert resolve_graph("library/graph/ExtractS2Bands.json", settings) == str(repo_graph_dir() / "ExtractS2Bands.json")
    for refused in (str(tmp_path / "Outside.json"), "sub/../../Outside.json", f"file://{tmp_path}/Outside.json"):
        with pytest.raises(GraphSourceRefused, match="a graph path is not allowed"):
            resolve_graph(refused, settings)
    with pytest.raises(NotFound, match=r"unknown graph 'Outside'"):
        resolve_graph("Outside", settings)
    assert resolve_graph(str(tmp_path / "Outside.json"), settings, trusted=True) == str(tmp_path / "Outside.json")


def test_an_allowed_inline_graph_loads() -> None:
    settings = Settings(graphs={"allowed_sources": ["data:"]})
    assert load_graph(inline({"description": "inline"}), settings).graph.description == "inline"
    with pytest.raises(GraphSourceRefused, match="an inline data: graph is not allowed"):
        load_graph(inline({"description": "inline"}), Settings())


MARKER_STEP = {"engine": "python", "command": "python/marker.py"}


def test_admission_names_every_refused_field(tmp_path: Path) -> None:
    settings = Settings(processing={"graph_dirs": [str(tmp_path)]})
    (tmp_path / "Broken.json").write_text(json.dumps({"processing_steps": [{"engine": "xarray", "command": "nope"}]}))
    payload = s2_payload(scene_graph_name=inline({"processing_steps": [MARKER_STEP]}), tile_graph_name="Typo")
    with pytest.raises(GraphRefused) as refused:
        admit_graphs(payload, settings=settings)
    fields = dict(refused.value.problems)
    assert set(fields) == {"scene_graph_name", "tile_graph_name"}
    assert "an inline data: graph is not allowed" in fields["scene_graph_name"]
    assert fields["tile_graph_name"].startswith("unknown graph 'Typo' (known: Broken, ChangeFromPrevious")
    assert str(refused.value).startswith("invalid graph: scene_graph_name: ")

    broken = s2_payload(tile_graph_name="Broken")
    with pytest.raises(GraphRefused, match=r"graph 'Broken': processing_steps\[0\]\.command: unknown xarray step"):
        admit_graphs(broken, settings=settings)
    admit_graphs(broken, settings=settings, runnable=False)  # listing only needs it known and allowed
    admit_graphs(s2_payload(), settings=settings)


def test_admission_of_scenes_files_and_new_data(tmp_path: Path) -> None:
    payload: Payload = s2_payload()
    scenes = scenes_from_geojson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": None,
                    "properties": {
                        "source_id": "S2A_SCENE",
                        "data": {"date": "2022-01-04T10:34:31Z", "graph_name": "/etc/passwd"},
                    },
                }
            ],
        }
    )
    with pytest.raises(GraphRefused) as refused:
        admit_graphs(payload, scenes=scenes, settings=Settings())
    assert [f for f, _ in refused.value.problems] == ["scenes[S2A_SCENE].data.graph_name"]
    with pytest.raises(GraphRefused, match=r"graph_name: graph 'https://x\.test/g\.json': a graph URL is not allowed"):
        admit_data("tile", {"graph_name": "https://x.test/g.json"}, {"graph_config": {}}, Settings())
    with pytest.raises(GraphRefused, match="graph_config: expected an object"):
        admit_data("scene", {"graph_name": "Pass", "graph_config": "x"}, settings=Settings())
    admit_data("tile", {"graph_name": "S2Indices"}, {"graph_config": {"resolution": "20"}}, Settings())
    admit_data("tile", {"tile_nr": 3}, None, Settings())  # no graph named: nothing to check
