"""End to end on synthetic SAFEs: a real product's metadata with a simulated measurement of
known gamma0 (and coherence), through the scene graph S1SlcBursts (the burst split out and
stored) and the tile graphs S1SlcBackscatter and S1SlcCoherence (imported from storage,
processed, written as COGs and indexed), as an ingestion runs them.

What this proves: the graphs, steps and burst products carry a burst from a zipped SAFE to
indexed layers with its radiometry intact (noise removal, calibration, terrain flattening on
level ground, geocoding) and its interferometric coherence. What it does not: the simulator
shares the chain's geometry and TOPS model (`processing.sar.simulate`), so a geometry error
common to both would not show; and the pixels are not ESA's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geocube_ingest.demo.s1_slc_products import zip_safe
from geocube_ingest.demo.s1_slc_simulated import Acquisition, simulate_products
from geocube_ingest.processing import process_tile, run_scene_graph
from geocube_ingest.processing.sar import steps
from geocube_ingest.processing.sar.dem import load_dem, utm_geobox
from geocube_ingest.settings import Settings, get_settings
from tests.processing.conftest import RecordingIndex, TileFactory, scene_of

pytestmark = pytest.mark.slow

PRODUCTS = (
    "S1A_IW_SLC__1SDV_20230904T063730_20230904T063757_050174_0609E3_DAA1",
    "S1A_IW_SLC__1SDV_20230916T063730_20230916T063757_050349_060FCD_6814",
)
DATES = (datetime(2023, 9, 4, 6, 37, 30, tzinfo=UTC), datetime(2023, 9, 16, 6, 37, 30, tzinfo=UTC))
BURST = 5  # tile_nr: 1-based
BURST_ID = "t052_110435_iw1"
CENTER = (-8.55, 31.07)
BBOX = (CENTER[0] - 0.01, CENTER[1] - 0.008, CENTER[0] + 0.01, CENTER[1] + 0.008)  # ~1.9 km x 1.8 km
GAMMA0_DB = -10.0
COHERENCE = 0.7
HEIGHT = 800.0  # above EGM96: the DEM's heights are orthometric, as global DEMs' are


def write_flat_dem(path: Path) -> Path:
    """A level DEM COG on a 1 arc-second grid, heights above EGM96."""
    step, margin = 1 / 3600, 0.05
    west, north = BBOX[0] - margin, BBOX[3] + margin
    cols, rows = round((BBOX[2] - BBOX[0] + 2 * margin) / step), round((BBOX[3] - BBOX[1] + 2 * margin) / step)
    profile = {"driver": "COG", "width": cols, "height": rows, "count": 1, "dtype": "float32", "crs": "EPSG:4326"}
    transform = rasterio.transform.from_origin(west, north, step, step)
    with rasterio.open(path, "w", **profile, transform=transform) as dst:
        dst.write(np.full((rows, cols), HEIGHT, "float32"), 1)
    return path


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> tuple[Path, list[Path]]:
    """The DEM and the two dates' zipped SAFEs, burst 5 of IW1 VV simulated over BBOX."""
    folder = tmp_path_factory.mktemp("slc-e2e")
    dem_path = write_flat_dem(folder / "dem.tif")
    settings = get_settings().with_overrides({"security": {"file_roots": [str(folder)]}})
    margin = 0.003
    area = utm_geobox((BBOX[0] - margin, BBOX[1] - margin, BBOX[2] + margin, BBOX[3] + margin), 20.0)
    bounds = (BBOX[0] - 0.02, BBOX[1] - 0.02, BBOX[2] + 0.02, BBOX[3] + 0.02)
    dem = load_dem(str(dem_path), bounds, resolution_m=15.0, settings=settings)
    acquisitions = [Acquisition(fixtures_dir / "s1_slc" / f"{name}.SAFE") for name in PRODUCTS]
    safes = simulate_products(
        folder / "safe", acquisitions, "IW1", "VV", BURST - 1, dem, area,
        gamma0=10 ** (GAMMA0_DB / 10), coherence=COHERENCE, seed=3,
    )  # fmt: skip
    return dem_path, [zip_safe(safe, folder / f"{safe.stem}.zip") for safe in safes]


@pytest.fixture
def e2e_settings(products: tuple[Path, list[Path]], monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GEOCUBE_INGEST_SECURITY__FILE_ROOTS", json.dumps([str(products[0].parent)]))
    get_settings.cache_clear()
    return get_settings()


def config(dem: Path) -> dict[str, str]:
    return {"dem_url": str(dem), "bbox": ",".join(str(v) for v in BBOX), "resolution": "20"}


def store_bursts(tiles, zips: list[Path], work: Path, storage_uri: str) -> None:  # type: ignore[no-untyped-def]
    for tile, product in zip(tiles, zips, strict=True):
        stored = run_scene_graph(scene_of(tile, "S1SlcBursts"), [tile], product, work_dir=work, storage_uri=storage_uri)
        assert [Path(u).name for u in stored[tile.id]] == [f"{tile.date:%Y%m%d}_{BURST_ID}_burst.zip"]


def read(path: str) -> np.ndarray:
    with rasterio.open(path) as src:
        return np.asarray(src.read(1, masked=True).astype("float64").filled(np.nan))


def test_gamma0_of_a_synthetic_safe(
    products: tuple[Path, list[Path]], e2e_settings: Settings, make_tile: TileFactory, tmp_path: Path
) -> None:
    dem, zips = products
    tile = make_tile(
        1, PRODUCTS[0], "S1SlcBackscatter", date=DATES[0], tile=BURST_ID, swath="IW1", tile_nr=BURST,
        graph_config=config(dem), record_id="r1", instances={"gamma0_VV": "i-vv", "layover_shadow": "i-mask"},
    )  # fmt: skip
    storage_uri = str(tmp_path / "storage")
    store_bursts([tile], zips[:1], tmp_path / "work", storage_uri)
    index = RecordingIndex()
    process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)
    indexed = {d.layer: d for d in index.datasets}
    assert set(indexed) == {"gamma0_VV", "layover_shadow"}  # VH: the product has none, skipped
    gamma0 = read(indexed["gamma0_VV"].uri)
    mask = read(indexed["layover_shadow"].uri)
    valid = np.isfinite(gamma0)
    median = float(np.median(gamma0[valid]))
    mean = float(10 * np.log10(np.mean(10 ** (gamma0[valid] / 10))))
    print(
        f"\ngamma0 VV: median {median:.3f} dB, mean of linear {mean:.3f} dB (truth {GAMMA0_DB} dB; the median of "
        f"speckled pixels of a few looks lies below the mean), {valid.sum()} pixels of 20 m, "
        f"p5..p95 {np.percentile(gamma0[valid], 5):.2f}..{np.percentile(gamma0[valid], 95):.2f} dB"
    )
    assert valid.mean() > 0.9, "the bbox lies inside the simulated area"
    assert abs(median - GAMMA0_DB) <= 0.3
    assert np.nanmax(mask) == 0, "level ground: no layover, no shadow"


@pytest.fixture(params=[512, 40], ids=["one-block", "blocks-of-40px"])
def coherence_block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The step cuts the map grid in blocks (bounded memory): in one, or in 3 x 3 of the ~100 x 90 pixels."""
    monkeypatch.setattr(steps, "COHERENCE_BLOCK", request.param)
    return int(request.param)


def test_coherence_with_the_previous_burst(
    products: tuple[Path, list[Path]],
    e2e_settings: Settings,
    make_tile: TileFactory,
    tmp_path: Path,
    coherence_block: int,
) -> None:
    dem, zips = products
    common = {"tile": BURST_ID, "swath": "IW1", "tile_nr": BURST, "graph_config": {**config(dem), "phase": "true"}}
    first = make_tile(1, PRODUCTS[0], "S1SlcCoherence", date=DATES[0], **common)
    second = make_tile(
        2, PRODUCTS[1], "S1SlcCoherence", date=DATES[1], previous_id=1, reference_id=1,
        record_id="r2", instances={"coh_VV": "i-coh", "phase_VV": "i-phase"}, **common,
    )  # fmt: skip
    storage_uri = str(tmp_path / "storage")
    store_bursts([first, second], zips, tmp_path / "work", storage_uri)
    root = RecordingIndex()
    process_tile(first, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=root)
    assert root.datasets == [], "a root tile has no previous: nothing computed, nothing indexed"

    index = RecordingIndex()
    process_tile(second, first, first, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)
    indexed = {d.layer: d for d in index.datasets}
    assert set(indexed) == {"coh_VV", "phase_VV"}
    coherence, phase = read(indexed["coh_VV"].uri), read(indexed["phase_VV"].uri)
    valid = np.isfinite(coherence)
    median = float(np.median(coherence[valid]))
    mean_phase = float(np.angle(np.nanmean(np.exp(1j * phase))))
    print(
        f"\ncoherence VV ({coherence_block} px blocks): median {median:.3f} (truth {COHERENCE}), {valid.sum()} pixels; "
        f"mean phase {mean_phase:+.3f} rad (truth 0: flat-earth and topographic phase removed)"
    )
    assert valid.mean() > 0.9
    assert abs(median - COHERENCE) <= 0.05
    assert abs(mean_phase) <= 0.1
