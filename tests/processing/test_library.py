"""Every graph of the library, end to end on small synthetic products in real formats.

The scene graph stores the product (CopyProductToStorage) as the download job would, then
the tile graph runs through `process_tile`; outputs are read back and checked numerically
and against rio-cogeo.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo import cog_validate

from geocube_ingest import storage
from geocube_ingest.index.base import DatasetToIndex
from geocube_ingest.processing import process_tile, run_scene_graph
from geocube_ingest.processing.s2 import S2Product
from tests.processing.conftest import RecordingIndex, TileFactory, scene_of
from tests.processing.products import S1_GRD, S2_L1C, S2_L2A, make_grd_safe, make_s2_safe

L2A_ID = S2_L2A.removesuffix(".SAFE")
L1C_ID = S2_L1C.removesuffix(".SAFE")


def read(url: str) -> tuple[np.ndarray, rasterio.profiles.Profile, float, float]:
    with rasterio.open(url) as src:
        return src.read(1), src.profile, src.scales[0], src.offsets[0]


def assert_cog(url: str) -> None:
    valid, errors, _ = cog_validate(url, quiet=True)
    assert valid, errors


def l2a_bands(n: int = 600) -> dict[str, np.ndarray]:
    """B04/B08 with known DNs (offset -1000 applies: baseline 04.00), SCL with clouds in one corner."""
    b04 = np.full((n, n), 2000, dtype="uint16")  # reflectance (2000 - 1000) / 10000 = 0.1
    b08 = np.full((n, n), 5000, dtype="uint16")  # 0.4 -> NDVI 0.6
    b04[:, n // 2 :] = 1800  # 0.08
    b08[:, n // 2 :] = 1200  # 0.02 -> NDVI -0.6
    b04[:10, :10] = 0  # no data
    scl = np.full((n // 2, n // 2), 4, dtype="uint8")  # vegetation
    scl[n // 4 :, : n // 8] = 9  # high-probability clouds (bottom left)
    scl[n // 4 :, n // 8 : n // 4] = 3  # cloud shadows
    scl[:5, n // 4 :] = 0  # no data (top right)
    return {"B04": b04, "B08": b08, "SCL": scl}


def store_product(tile, product: Path, work_dir: Path, storage_uri: str) -> list[str]:  # type: ignore[no-untyped-def]
    stored = run_scene_graph(scene_of(tile), [tile], product, work_dir=work_dir, storage_uri=storage_uri)
    return stored[tile.id]


def process_stored(tile, product: Path, tmp_path: Path, index: RecordingIndex) -> dict[str, DatasetToIndex]:  # type: ignore[no-untyped-def]
    """The scene graph stores the product, then the tile graph runs on it: what was indexed, by layer."""
    storage_uri = str(tmp_path / "storage")
    store_product(tile, product, tmp_path / "work", storage_uri)
    process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)
    return {d.layer: d for d in index.datasets}


def test_copy_product_to_storage_stores_the_safe_zipped(
    tmp_path: Path, fixtures_dir: Path, make_tile: TileFactory
) -> None:
    safe = make_s2_safe(tmp_path / "download", fixtures_dir, {"B04": np.ones((8, 8), "uint16")}, ext="tif")
    tile = make_tile(1, L2A_ID, "Pass")
    storage_uri = str(tmp_path / "storage")
    urls = store_product(tile, safe, tmp_path / "work", storage_uri)
    expected = storage.tile_output_uri(storage_uri, "TestAOI", L2A_ID, L2A_ID, tile.date, "product", "SAFE") + ".zip"
    assert urls == [expected]
    restored = storage.get_path(expected.removesuffix(".zip"), tmp_path / "restored")
    assert (restored / "MTD_MSIL2A.xml").read_bytes() == (safe / "MTD_MSIL2A.xml").read_bytes()
    assert safe.is_dir(), "the downloaded product is the download job's: never removed by the scene graph"
    assert not any((tmp_path / "work").iterdir()), "scratch folders are cleaned"


def test_pass_does_nothing(tmp_path: Path, make_tile: TileFactory, index: RecordingIndex) -> None:
    tile = make_tile(1, L2A_ID, "Pass")
    result = process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=str(tmp_path / "s"), index=index)
    assert result.outputs == [] and result.indexed == [] and index.calls == []


@pytest.mark.parametrize(("level", "ext"), [("L2A", "jp2"), ("L1C", "tif")])
def test_extract_s2_bands(
    tmp_path: Path, fixtures_dir: Path, make_tile: TileFactory, index: RecordingIndex, level: str, ext: str
) -> None:
    n = 300
    b04 = np.linspace(900, 4000, n * n).reshape(n, n).astype("uint16")
    b04[0, 0] = 0
    b11 = np.full((n // 2, n // 2), 3000, dtype="uint16")
    safe = make_s2_safe(tmp_path / "download", fixtures_dir, {"B04": b04, "B11": b11}, level=level, ext=ext)
    scene_id = L2A_ID if level == "L2A" else L1C_ID
    instances = {"B04": "inst-b04", "B11": "inst-b11"}
    tile = make_tile(1, scene_id, "ExtractS2Bands", record_id="rec-1", instances=instances)
    storage_uri = str(tmp_path / "storage")
    [product_url] = store_product(tile, safe, tmp_path / "work", storage_uri)

    result = process_tile(tile, None, None, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)

    by_layer = {d.layer: d for d in index.datasets}
    assert set(by_layer) == {"B04", "B11"}, "only the bands of the product are extracted"
    assert sorted(result.outputs) == sorted(d.uri for d in index.datasets)
    offset = 1000 if level == "L2A" else 0
    values, profile, scale, _ = read(by_layer["B04"].uri)
    assert profile["dtype"] == "uint16" and profile["nodata"] == 0
    assert values[0, 0] == 0, "no data stays no data"
    expected = np.clip(b04.astype(int) - offset, 1, 65535)
    assert np.array_equal(values[1:, 1:], expected[1:, 1:]), "harmonised to reflectance x 10000"
    assert scale == pytest.approx(1e-4)
    for dataset in index.datasets:
        assert_cog(dataset.uri)
        assert dataset.record_id == "rec-1" and dataset.instance_id == instances[dataset.layer]
        assert str(dataset.dformat) == "uint16,0,0,10000" and (dataset.real_min, dataset.real_max) == (0, 1)
        assert dataset.bands == (1,)
    assert result.deleted == [product_url.removesuffix(".zip")]
    assert not storage.exists(product_url), "the product is deleted once extracted (upstream's to_delete)"


def test_s2_indices_ndvi_and_cloud_mask(
    tmp_path: Path, fixtures_dir: Path, make_tile: TileFactory, index: RecordingIndex
) -> None:
    n = 600
    safe = make_s2_safe(tmp_path / "download", fixtures_dir, l2a_bands(n), ext="jp2")
    instances = {"ndvi": "i-ndvi", "cloud_mask": "i-mask"}
    tile = make_tile(7, L2A_ID, "S2Indices", record_id="rec-7", instances=instances)
    by_layer = process_stored(tile, safe, tmp_path, index)
    ndvi, profile, scale, offset = read(by_layer["ndvi"].uri)
    assert profile["dtype"] == "int16" and profile["nodata"] == -32768 and ndvi.shape == (n, n)
    real = np.where(ndvi == -32768, np.nan, ndvi * scale + offset)
    assert real[200, 200] == pytest.approx(0.6, abs=1e-4), "NDVI of reflectances 0.1 / 0.4 (offset -1000 removed)"
    assert real[200, 500] == pytest.approx(-0.6, abs=1e-4), "NDVI of reflectances 0.08 / 0.02"
    assert math.isnan(real[5, 5]), "B04 no data"
    assert math.isnan(real[500, 50]) and math.isnan(real[500, 150]), "clouds and cloud shadows masked"
    assert math.isnan(real[2, 400]), "SCL no data masked"
    mask, mprofile, _, _ = read(by_layer["cloud_mask"].uri)
    assert mprofile["dtype"] == "uint8" and mprofile["nodata"] == 255 and mask.shape == (n, n), (
        "SCL put on the 10 m grid"
    )
    assert mask[500, 50] == 1 and mask[500, 150] == 1 and mask[100, 100] == 0 and mask[2, 400] == 255
    with rasterio.open(by_layer["ndvi"].uri) as a, rasterio.open(by_layer["cloud_mask"].uri) as b:
        assert a.transform == b.transform and a.crs == b.crs == "EPSG:32633"
    for dataset in index.datasets:
        assert_cog(dataset.uri)
    assert (by_layer["ndvi"].real_min, by_layer["ndvi"].real_max) == (-1, 1)
    assert str(by_layer["cloud_mask"].dformat) == "uint8,255,0,1"


def test_s1_backscatter_in_db_on_utm(
    tmp_path: Path, fixtures_dir: Path, make_tile: TileFactory, index: RecordingIndex
) -> None:
    rows, cols = 100, 120
    vv = np.full((rows, cols), 100, dtype="uint16")  # sigma0 = 100² / 500² = 0.04 -> -13.98 dB
    vv[:, cols // 2 :] = 1000  # 4.0 -> 6.02 dB
    vh = np.full((rows, cols), 50, dtype="uint16")  # 0.01 -> -20 dB
    safe = make_grd_safe(tmp_path / "download", fixtures_dir, {"vv": vv, "vh": vh}, sigma=500.0)
    scene_id = S1_GRD.removesuffix(".SAFE")
    instances = {"sigma0_VV": "i-vv", "sigma0_VH": "i-vh"}
    tile = make_tile(3, scene_id, "S1Backscatter", record_id="rec-3", instances=instances)
    by_layer = process_stored(tile, safe, tmp_path, index)
    with rasterio.open(by_layer["sigma0_VV"].uri) as src:
        assert src.crs.to_epsg() == 32631, "UTM zone of the scene centre (3°E)"
        assert src.res == (20.0, 20.0)
        assert src.transform.c % 20 == 0 and src.transform.f % 20 == 0, "pixels aligned on the resolution"
        values = src.read(1)
        scale, offset, nodata = src.scales[0], src.offsets[0], src.nodata
    db = np.where(values == nodata, np.nan, values * scale + offset)
    h, w = db.shape
    assert np.nanmedian(db[h // 3 : 2 * h // 3, w // 8 : w // 3]) == pytest.approx(10 * math.log10(0.04), abs=0.01)
    assert np.nanmedian(db[h // 3 : 2 * h // 3, 2 * w // 3 : 7 * w // 8]) == pytest.approx(
        10 * math.log10(4.0), abs=0.01
    )
    assert np.isnan(db[0, 0]) or np.isnan(db[-1, -1]), "outside the swath is no data"
    vh_db, _, vscale, voffset = read(by_layer["sigma0_VH"].uri)
    assert np.median(vh_db[vh_db != -32768]) * vscale + voffset == pytest.approx(-20.0, abs=0.01)
    for dataset in index.datasets:
        assert_cog(dataset.uri)
        assert (dataset.real_min, dataset.real_max) == (-50, 10)


def _ndvi_product(root: Path, fixtures: Path, name: str, red: int, nir: int) -> Path:
    n = 300
    bands = {"B04": np.full((n, n), red, "uint16"), "B08": np.full((n, n), nir, "uint16")}
    return make_s2_safe(root, fixtures, bands, level="L1C", ext="tif", name=name)


def test_change_from_previous_uses_previous_and_reference(
    tmp_path: Path, fixtures_dir: Path, make_tile: TileFactory, index: RecordingIndex
) -> None:
    """Three acquisitions of one tile: t0 is the reference, t1 the previous of t2."""
    storage_uri = str(tmp_path / "storage")
    layers = ["ndvi", "ndvi_change_previous", "ndvi_change_reference"]
    instances = {layer: f"i-{layer}" for layer in layers}
    # L1C baseline 02.06: reflectance = DN / 10000.
    reflectances = [(1000, 3000), (1000, 2000), (2000, 2000)]  # NDVI 0.5, 0.3333, 0.0
    tiles = []
    for k, (red, nir) in enumerate(reflectances):
        scene = f"S2A_MSIL1C_2018010{k + 1}T105441_N0206_R051_T31TDH_2018010{k + 1}T124911"
        date = datetime(2018, 1, k + 1, 10, 54, 41, tzinfo=UTC)
        tile = make_tile(
            10 + k,
            scene,
            "ChangeFromPrevious",
            date=date,
            record_id=f"rec-{k}",
            instances=instances,
            previous_id=10 + k - 1 if k else None,
            reference_id=10 if k else None,
        )
        product = _ndvi_product(tmp_path / "download", fixtures_dir, f"{scene}.SAFE", red, nir)
        store_product(tile, product, tmp_path / "work", storage_uri)
        tiles.append(tile)

    results = []
    for k, tile in enumerate(tiles):
        previous = tiles[k - 1] if k else None
        reference = tiles[0] if k else None
        results.append(
            process_tile(tile, previous, reference, work_dir=tmp_path / "work", storage_uri=storage_uri, index=index)
        )

    def layers_of(k: int) -> dict[str, str]:
        return {d.layer: d.uri for d in results[k].indexed}

    assert set(layers_of(0)) == {"ndvi"}, "the reference has no previous: no change layers"
    assert set(layers_of(1)) == set(layers) == set(layers_of(2))

    def value(url: str) -> float:
        data, _, scale, offset = read(url)
        return float(np.median(data) * scale + offset)

    assert value(layers_of(2)["ndvi"]) == pytest.approx(0.0, abs=1e-3)
    assert value(layers_of(2)["ndvi_change_previous"]) == pytest.approx(0.0 - 1 / 3, abs=1e-3)
    assert value(layers_of(2)["ndvi_change_reference"]) == pytest.approx(0.0 - 0.5, abs=1e-3)
    assert value(layers_of(1)["ndvi_change_previous"]) == pytest.approx(1 / 3 - 0.5, abs=1e-3)
    assert value(layers_of(1)["ndvi_change_reference"]) == pytest.approx(1 / 3 - 0.5, abs=1e-3), "previous = reference"
    for k in range(3):
        for url in layers_of(k).values():
            assert_cog(url)
    assert [d.record_id for d in results[2].indexed] == ["rec-2"] * 3


def test_s2_product_reads_a_zipped_safe(tmp_path: Path, fixtures_dir: Path) -> None:
    """Bands inside a zipped SAFE are read through /vsizip/, never unpacked."""
    safe = make_s2_safe(tmp_path, fixtures_dir, l2a_bands(64), ext="jp2")
    archive = Path(storage.zip_directory(safe, tmp_path / "product.zip", safe.name))
    product = S2Product.open(archive)
    path, resolution = product.band_path("B4")
    assert path.startswith("/vsizip/") and resolution == 10
    with rasterio.open(path) as src:
        assert src.read(1)[20, 20] == 2000
    assert product.level == "L2A" and product.baseline == "04.00" and product.offset("B04") == -1000
