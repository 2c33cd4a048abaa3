"""Upstream's S1 graph names, S1Preprocessing and S1BackscatterCoherence, on SNAP's gpt.

SNAP cannot be installed here, so: the SNAP XML graphs are checked (well formed, every
node's sources exist, the `${...}` parameters are exactly the step's arguments), and the
graphs run end to end with a stand-in `gpt` that records its command line and writes what
SNAP would (BEAM-DIMAP `.dim` + `.data`, GeoTIFFs) - the wiring, the slots, the DIMAP pairs,
the config overrides of upstream's S1 payload and the scaling steps are ours and real.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from geocube_ingest import storage
from geocube_ingest.processing import process_tile, run_scene_graph
from geocube_ingest.processing.engines.snap import variables, xml_problems
from geocube_ingest.processing.graph import load_graph, repo_graph_dir
from geocube_ingest.processing.validate import check_graph
from geocube_ingest.settings import get_settings
from tests.processing.conftest import RecordingIndex, TileFactory, scene_of
from tests.processing.test_engines import script

SNAP_GRAPHS = ("S1Preprocessing", "S1BackscatterCoherence")
UPSTREAM_PAYLOAD = (
    Path(__file__).resolve().parents[2].parent / "shared" / "upstream" / "payloads" / "DenmarkDemoS1.json"
)

# What gpt would do, in a few lines: check its inputs are readable DIMAP pairs, write its outputs.
FAKE_GPT = """
import json, os, sys
import numpy as np, rasterio
from rasterio.transform import from_origin
xml, params = sys.argv[1], dict(a[2:].split("=", 1) for a in sys.argv[2:] if a.startswith("-P"))
with open(os.environ["FAKE_GPT_RECORD"], "a") as record:
    record.write(json.dumps(sys.argv[1:]) + "\\n")
name = os.path.basename(xml)
def dimap_in(path):
    if not (os.path.isfile(path) and os.path.isdir(path[:-4] + ".data")):
        print("Error: cannot read " + path)
        sys.exit(1)
def tif(path, value):
    profile = dict(driver="GTiff", width=64, height=48, count=1, dtype="float32", crs="EPSG:32632", nodata=0,
                   transform=from_origin(500000, 6100000, 20, 20))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, 48, 64), value, "float32"))
if name == "S1_Burst_Orbit_Calibration.xml":
    if not os.path.exists(params["input"]):
        print("Error: no product " + params["input"]); sys.exit(1)
    with open(params["output"], "w") as dim:
        dim.write("<Dimap_Document/>")
    os.makedirs(params["output"][:-4] + ".data")
    with open(os.path.join(params["output"][:-4] + ".data", "i_IW2_VV.img"), "w") as img:
        img.write(params["swath"] + params["burst"])
elif name == "S1_Backscatter_TC.xml":
    dimap_in(params["input"])
    tif(params["output_vv"], 0.25)
    tif(params["output_vh"], 0.05)
elif name == "S1_Coregistration_Coherence_TC.xml":
    dimap_in(params["reference"])
    dimap_in(params["secondary"])
    tif(params["output_vv"], 0.8)
    tif(params["output_vh"], 0.6)
else:
    print("Error: unknown graph " + name); sys.exit(1)
"""


def snap_steps() -> list[tuple[str, Any]]:
    return [
        (name, step)
        for name in SNAP_GRAPHS
        for step in load_graph(name).graph.processing_steps
        if step.engine == "snap"
    ]


@pytest.mark.parametrize(("graph", "step"), snap_steps(), ids=lambda v: v if isinstance(v, str) else v.command)
def test_snap_xml_graphs_are_sound(graph: str, step: Any) -> None:
    xml = repo_graph_dir() / step.command
    assert xml_problems(xml, step.args) == []
    assert variables(xml) == set(step.args), "every argument is a parameter of the XML, and the other way round"
    root = ET.parse(xml).getroot()
    operators = [node.findtext("operator") for node in root.findall("node")]
    assert operators[0] == "Read" and operators[-1] == "Write"


def test_the_operators_of_the_s1_chain() -> None:
    used = {
        step.command: [n.findtext("operator") for n in ET.parse(repo_graph_dir() / step.command).getroot().iter("node")]
        for _, step in snap_steps()
    }
    assert used["snap/S1_Burst_Orbit_Calibration.xml"] == [
        "Read", "TOPSAR-Split", "Apply-Orbit-File", "Calibration", "Write",
    ]  # fmt: skip
    assert used["snap/S1_Coregistration_Coherence_TC.xml"][:6] == [
        "Read", "Read", "Back-Geocoding", "Coherence", "TOPSAR-Deburst", "Terrain-Correction",
    ]  # fmt: skip
    assert "Terrain-Correction" in used["snap/S1_Backscatter_TC.xml"]


def test_xml_problems_are_found(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        "<graph id='g'><node id='A'><operator>Read</operator><parameters><file>${input}</file></parameters></node>"
        "<node id='B'><operator>Write</operator><sources><sourceProduct refid='Nope'/></sources></node>"
        "<node id='B'><sources/></node></graph>"
    )
    assert xml_problems(bad, ["output"]) == [
        "SNAP graph bad.xml, node B: source 'Nope' is not a node",
        "SNAP graph bad.xml, node B: the id is used twice",
        "SNAP graph bad.xml, node B: no <operator>",
        "SNAP graph bad.xml uses ${input} but the step has no argument 'input'",
    ]
    bad.write_text("<graph><node>")
    assert xml_problems(bad, [])[0].startswith("SNAP graph bad.xml is not well-formed XML")


def test_without_gpt_the_check_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__SNAP_GPT", "/opt/snap/bin/gpt-not-here")
    get_settings.cache_clear()
    for name in SNAP_GRAPHS:
        problems = check_graph(name)
        assert problems and {p.message for p in problems} == {
            "ESA SNAP's gpt is not installed here ('/opt/snap/bin/gpt-not-here' not found: set processing.snap_gpt)"
        }


@pytest.fixture
def fake_gpt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    gpt = script(tmp_path / "snap" / "bin", "gpt", FAKE_GPT, f"#!{sys.executable}")
    record = tmp_path / "gpt.calls"
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__SNAP_GPT", str(gpt))
    monkeypatch.setenv("FAKE_GPT_RECORD", str(record))
    get_settings.cache_clear()
    return record


def calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_the_s1_graphs_run_on_gpt_like_upstream(
    tmp_path: Path, fake_gpt: Path, make_tile: TileFactory, index: RecordingIndex
) -> None:
    config = json.loads(UPSTREAM_PAYLOAD.read_text())["graph_config"]  # upstream's S1 example overrides
    layers = {"sigma0_VV": "i-vv", "sigma0_VH": "i-vh", "coh_VV": "i-cvv", "coh_VH": "i-cvh"}
    scenes = ["S1A_IW_SLC__1SDV_20220104T170557", "S1A_IW_SLC__1SDV_20220116T170557"]
    tiles = [
        make_tile(
            i + 1, scene, "S1BackscatterCoherence", tile="t044_093070_iw2", swath="IW2", tile_nr=7,
            date=datetime(2022, 1, 4 + 12 * i, 17, 5, 57, tzinfo=UTC), graph_config=config,
            record_id=f"rec-{i}", instances=layers,
        )
        for i, scene in enumerate(scenes)
    ]  # fmt: skip
    storage_uri, work = str(tmp_path / "storage"), tmp_path / "work"
    for tile in tiles:  # the download job: S1Preprocessing on the downloaded product
        product = tmp_path / "download" / f"{tile.scene_source_id}.SAFE"
        product.mkdir(parents=True)
        (product / "manifest.safe").write_text("<xfdu/>")
        stored = run_scene_graph(
            scene_of(tile, "S1Preprocessing", config), [tile], product, work_dir=work, storage_uri=storage_uri
        )[tile.id]
        assert [Path(u).name for u in stored] == [
            "20220104_t044_093070_iw2_preprocessed.dim".replace("0104", tile.date.strftime("%m%d")),
            f"{tile.date:%Y%m%d}_t044_093070_iw2_preprocessed.data.zip",
        ], "a DIMAP header is stored with its .data folder"
    first = calls(fake_gpt)[0]
    assert first[:4] == [str(repo_graph_dir() / "snap" / "S1_Burst_Orbit_Calibration.xml"), "-x", "-q", "8"]
    assert first[4:] == [
        f"-Pinput={tmp_path / 'download' / (scenes[0] + '.SAFE')}",
        "-Pswath=IW2",
        "-Pburst=7",
        "-Ppolarisations=",
        "-Porbit_type=Sentinel Precise (Auto Download)",
        "-Porbit_continue_on_fail=false",
        f"-Poutput={work}/" + first[-1].split(f"{work}/")[1],
    ]
    assert first[-1].endswith("/20220104_t044_093070_iw2_preprocessed.dim")

    reference, current = tiles
    process_tile(reference, None, None, work_dir=work, storage_uri=storage_uri, index=index)
    assert sorted(d.layer for d in index.datasets) == ["sigma0_VH", "sigma0_VV"], "no coherence for the first"
    process_tile(current, reference, reference, work_dir=work, storage_uri=storage_uri, index=index)
    latest = {d.layer: d for d in index.calls[-1]}
    assert sorted(latest) == ["coh_VH", "coh_VV", "sigma0_VH", "sigma0_VV"]
    for layer, value in {"sigma0_VV": 0.25, "sigma0_VH": 0.05, "coh_VV": 0.8, "coh_VH": 0.6}.items():
        with rasterio.open(latest[layer].uri) as src:
            assert src.dtypes[0] == "float32" and src.crs.to_epsg() == 32632
            assert float(np.median(src.read(1))) == pytest.approx(value)
        assert (latest[layer].real_min, latest[layer].real_max) == (0, 1)
    coherence = next(c for c in calls(fake_gpt) if c[0].endswith("S1_Coregistration_Coherence_TC.xml"))
    params = dict(a[2:].split("=", 1) for a in coherence if a.startswith("-P"))
    assert params["reference"].endswith("20220104_t044_093070_iw2_preprocessed.dim"), "the previous acquisition"
    assert params["secondary"].endswith("20220116_t044_093070_iw2_preprocessed.dim")
    assert (
        params["projection"] == "EPSG:32632" and params["coregistration_resampling"] == "BISINC_5_POINT_INTERPOLATION"
    )
    assert params["dem_name"] == "SRTM 3Sec" and coherence[3] == "8"
    preprocessed = storage.tile_output_uri(
        storage_uri, "TestAOI", scenes[0], "t044_093070_iw2", reference.date, "preprocessed", "dim"
    )
    assert storage.exists(preprocessed), "kept: the next acquisition (or a re-run) needs it"
