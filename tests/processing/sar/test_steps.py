"""The SLC built-in steps as users meet them: registered with the xarray engine, the scene graph
storing one burst per tile, and arguments refused with a message naming what is wrong."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from geocube_ingest.demo.s1_slc_products import write_slc_safe, zip_safe
from geocube_ingest.errors import FatalError, InvalidInput
from geocube_ingest.processing import run_scene_graph
from geocube_ingest.processing.engines.xarray import BUILTINS, StepArgs
from geocube_ingest.processing.graph import load_graph
from geocube_ingest.processing.runner import StepContext
from geocube_ingest.processing.sar import steps
from geocube_ingest.processing.sar.split import BURST_JSON, split_burst
from geocube_ingest.processing.workspace import SlotTile, Workspace
from geocube_ingest.settings import Settings
from tests.processing.conftest import TileFactory, scene_of

PRODUCT = "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1"
LINES_PER_BURST = 1507


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    """DAA1's real metadata, a few lines of burst 5 written."""
    block = np.full((64, 512), 30 + 40j, "complex64")
    safe = write_slc_safe(
        tmp_path_factory.mktemp("slc"),
        fixtures_dir / "s1_slc" / f"{PRODUCT}.SAFE",
        {("IW1", "VV"): [(4 * LINES_PER_BURST + 700, 9000, block)]},
    )
    return zip_safe(safe, safe.parent / f"{PRODUCT}.zip")


def test_the_engine_registers_the_slc_steps() -> None:
    assert BUILTINS["s1_slc_burst"].required == ("product", "swath", "burst", "output")
    assert BUILTINS["s1_slc_backscatter"].required == ("burst", "polarisation", "output")
    assert BUILTINS["s1_slc_coherence"].required == ("burst", "previous", "polarisation", "output")
    for name in ("s1_slc_backscatter", "s1_slc_coherence"):
        assert {"resolution", "dem", "geoid", "bbox", "if-missing"} <= set(BUILTINS[name].optional)


def test_scene_graph_stores_the_tiles_burst(product: Path, tmp_path: Path, make_tile: TileFactory) -> None:
    when = datetime(2023, 9, 4, 6, 37, 30, tzinfo=UTC)
    tile = make_tile(1, PRODUCT, "S1SlcBackscatter", date=when, tile="t052_110435_iw1", swath="IW1", tile_nr=5)
    stored = run_scene_graph(
        scene_of(tile, "S1SlcBursts"), [tile], product, work_dir=tmp_path / "work", storage_uri=str(tmp_path / "s")
    )
    [url] = stored[tile.id]
    assert url.endswith("/20230904_t052_110435_iw1_burst.zip")
    with zipfile.ZipFile(url) as archive:
        info = json.loads(archive.read(BURST_JSON))
        names = archive.namelist()
    assert (info["swath"], info["burst_index"], info["burst_id"]) == ("IW1", 5, "t052_110435_iw1")
    assert (info["first_line"], info["lines"], info["polarisations"]) == (4 * LINES_PER_BURST, LINES_PER_BURST, ["VV"])
    assert f"{PRODUCT}.SAFE/manifest.safe" in names
    assert not any((tmp_path / "work").iterdir()), "scratch folders are cleaned"


def test_an_unsplit_tile_is_refused_with_the_reason(product: Path, tmp_path: Path, make_tile: TileFactory) -> None:
    tile = make_tile(1, PRODUCT, "S1SlcBackscatter")  # no swath: a scene stored whole, not a burst
    with pytest.raises(FatalError, match="the tile has no swath"):
        run_scene_graph(
            scene_of(tile, "S1SlcBursts"), [tile], product, work_dir=tmp_path / "w", storage_uri=str(tmp_path / "s")
        )


@pytest.fixture
def burst(product: Path, tmp_path: Path) -> Path:
    out = tmp_path / "burst.zip"
    split_burst(product, "IW1", 5, out, burst_id="t052_110435_iw1")
    return out


def context(tmp_path: Path, settings: Settings, graph: str) -> StepContext:
    slot = SlotTile("A", PRODUCT, "t052_110435_iw1", datetime(2023, 9, 4, tzinfo=UTC), {}, {}, str(tmp_path / "s"))
    workspace = Workspace(tmp_path, [slot, slot, slot])
    return StepContext(graph=load_graph(graph), config={}, workspace=workspace, settings=settings)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"bbox": "1,2,3"}, "'bbox' must be 'west,south,east,north'"),
        ({"bbox": "10,45,9,46"}, "is not a lon/lat box"),
        ({"projection": "EPSG:4326"}, "only 'UTM'"),
        ({"geoid": "EGM2008"}, "'geoid' must be EGM96 or none"),
        ({"resolution": "-20"}, "'resolution' must be a positive number"),
        ({"resolution": "0.01"}, "1 to 10000"),
        ({"polarisation": "VH"}, "the burst has no polarisation VH"),
        ({"polarisation": "VH", "if-missing": "maybe"}, "'if-missing' must be fail or skip"),
        ({"polarisation": "XX"}, "unknown polarisation XX"),
    ],
)
def test_backscatter_arguments_are_checked(
    burst: Path, tmp_path: Path, settings: Settings, extra: dict[str, str], message: str
) -> None:
    values = {"burst": str(burst), "polarisation": "VV", "output": str(tmp_path / "out.tif"), **extra}
    with pytest.raises(InvalidInput, match=message):
        steps.s1_slc_backscatter(
            StepArgs("s1_slc_backscatter", values), context(tmp_path, settings, "S1SlcBackscatter")
        )


def test_a_missing_polarisation_is_skipped_when_asked(burst: Path, tmp_path: Path, settings: Settings) -> None:
    values = {"burst": str(burst), "polarisation": "VH", "if-missing": "skip", "output": str(tmp_path / "out.tif")}
    steps.s1_slc_backscatter(StepArgs("s1_slc_backscatter", values), context(tmp_path, settings, "S1SlcBackscatter"))
    assert not (tmp_path / "out.tif").exists()


def test_coherence_needs_the_same_burst(burst: Path, product: Path, tmp_path: Path, settings: Settings) -> None:
    other = tmp_path / "other.zip"
    split_burst(product, "IW1", 4, other, burst_id="t052_110434_iw1")
    ctx = context(tmp_path, settings, "S1SlcCoherence")
    values = {"burst": str(burst), "previous": str(other), "polarisation": "VV", "output": str(tmp_path / "c.tif")}
    with pytest.raises(InvalidInput, match="previous is burst t052_110434_iw1, not t052_110435_iw1"):
        steps.s1_slc_coherence(StepArgs("s1_slc_coherence", values), ctx)
    with pytest.raises(InvalidInput, match="'with' must be previous or reference"):
        steps.s1_slc_coherence(StepArgs("s1_slc_coherence", {**values, "with": "first"}), ctx)
    with pytest.raises(InvalidInput, match="no 'reference' burst is given"):
        steps.s1_slc_coherence(StepArgs("s1_slc_coherence", {**values, "with": "reference"}), ctx)
    with pytest.raises(InvalidInput, match="not a burst product"):
        steps.s1_slc_coherence(StepArgs("s1_slc_coherence", {**values, "previous": str(product)}), ctx)


@pytest.mark.parametrize("window", ["0,16", "4,100000", "four"])
def test_estimation_windows_are_bounded(window: str) -> None:
    with pytest.raises(InvalidInput, match="window"):
        StepArgs("s1_slc_coherence", {"window": window}).window((4, 16))
    assert StepArgs("s1_slc_coherence", {"window": "5,20"}).window((4, 16)) == (5, 20)
