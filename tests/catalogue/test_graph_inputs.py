"""Chaining only when the tile graph reads its previous or reference tile (or the payload says so)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from geocube_ingest.catalogue.graph_inputs import graph_uses_previous_or_reference, graph_uses_slots, should_link
from geocube_ingest.errors import InvalidInput
from geocube_ingest.settings import ProcessingSettings, Settings
from tests.catalogue.helpers import s2_payload

# Upstream's graph shapes (graph/library/*.json), reduced to what decides.
COHERENCE: dict[str, Any] = {
    "config": {},
    "processing_steps": [
        {
            "engine": "snap",
            "command": "snap/S1_SLC_BkG.xml",
            "args": {"master": {"type": "in", "tile_index": 2, "layer": "preprocessed", "extension": "dim"}},
            "condition": "pass",
        }
    ],
    "in_files": [[{"layer": "preprocessed", "extension": "dim"}], [], []],
    "out_files": [[], [], []],
}
EXTRACT_BANDS: dict[str, Any] = {
    "config": {"dformat_out": "uint16,NaN,0,32767"},
    "processing_steps": [
        {
            "engine": "python",
            "command": "python/extract_s2.py",
            "args": {"workdir": {"type": "config", "value": "workdir"}},
        }
    ],
    "in_files": [[{"layer": "__product__", "extension": "SAFE"}], [], []],
    "out_files": [[{"layer": "B01", "extension": "jp2", "action": "to_index"}], [], []],
}


def test_slot_usage() -> None:
    assert graph_uses_slots(COHERENCE)  # an `in` argument of tile 2
    assert not graph_uses_slots(EXTRACT_BANDS)
    previous_input = dict(EXTRACT_BANDS, in_files=[[], [{"layer": "coregextract", "extension": "dim"}], []])
    assert graph_uses_slots(previous_input)
    conditional = dict(
        EXTRACT_BANDS, processing_steps=[{"engine": "python", "command": "x", "condition": "different_T0_T1"}]
    )
    assert graph_uses_slots(conditional)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "Coherence.json").write_text(json.dumps(COHERENCE))
    (tmp_path / "Bands.json").write_text(json.dumps(EXTRACT_BANDS))
    (tmp_path / "Broken.json").write_text("{")
    return Settings(processing=ProcessingSettings(graph_dirs=[tmp_path]))


def test_graphs_found_by_name_or_path(settings: Settings, tmp_path: Path) -> None:
    assert graph_uses_previous_or_reference("Coherence", settings) is True
    assert graph_uses_previous_or_reference("Bands", settings) is False
    assert graph_uses_previous_or_reference(str(tmp_path / "Coherence.json"), settings) is True
    assert graph_uses_previous_or_reference("library/graph/Bands.json", settings) is False  # upstream-style names
    assert graph_uses_previous_or_reference("Pass", settings) is False
    assert graph_uses_previous_or_reference("Unknown", settings) is None
    with pytest.raises(InvalidInput, match="tile graph 'Broken'"):
        graph_uses_previous_or_reference("Broken", settings)


def test_should_link(settings: Settings) -> None:
    assert should_link(s2_payload(tile_graph_name="Coherence"), None, settings) is True
    assert should_link(s2_payload(tile_graph_name="Bands"), None, settings) is False
    assert should_link(s2_payload(tile_graph_name="Bands"), True, settings) is True  # the caller forces it
    forced = s2_payload(tile_graph_name="Bands", graph_config={"link_tiles": "true"})
    assert should_link(forced, None, settings) is True  # the payload forces it
    assert (
        should_link(s2_payload(tile_graph_name="Coherence", graph_config={"link_tiles": "no"}), None, settings) is False
    )
    assert (
        should_link(s2_payload(tile_graph_name="NotWrittenYet"), None, settings) is True
    )  # unknown: chain, to be safe
    with pytest.raises(InvalidInput, match=r"graph_config\.link_tiles: 'maybe'"):
        should_link(s2_payload(graph_config={"link_tiles": "maybe"}), None, settings)


def test_the_shipped_graphs() -> None:
    """The repository's graphs/ library: found by name; the graph using previous/reference is recognised."""
    shipped = sorted((Path(__file__).resolve().parents[2] / "graphs").glob("*.json"))
    assert shipped, "graphs/ is empty"
    results = {p.stem: graph_uses_previous_or_reference(p.stem, Settings()) for p in shipped}
    assert None not in results.values()
    assert results.get("Pass") is False and results.get("CopyProductToStorage") is False
    assert any(results.values())  # SPEC 7: the library has a graph using previous/reference
