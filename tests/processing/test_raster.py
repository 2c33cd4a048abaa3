"""Raster building blocks, sensors' metadata, and COG writing, checked numerically."""

from __future__ import annotations

import math
from pathlib import Path

import dask.array as darr
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin
from rio_cogeo import cog_validate

from geocube_ingest.errors import FatalError, InvalidInput
from geocube_ingest.index.base import DFormat
from geocube_ingest.processing import cog, raster, s1, s2
from geocube_ingest.processing.cluster import get_client
from geocube_ingest.settings import Settings
from tests.processing.products import S2_L1C, S2_L2A, GrdGeometry, calibration_xml, make_grd_safe


def georef(values: np.ndarray, chunks: int = 64) -> xr.DataArray:
    h, w = values.shape
    data = xr.DataArray(
        darr.from_array(values, chunks=chunks),
        dims=("y", "x"),
        coords={"y": 4800000 - 5 - 10 * np.arange(h), "x": 399965 + 10 * np.arange(w)},
    )
    return data.rio.write_crs("EPSG:32631").rio.write_transform(from_origin(399960, 4800000, 10, 10))


def test_to_dformat_inverts_the_index_mapping() -> None:
    real = np.array([[-1.0, 0.0, 0.5], [1.0, 2.0, np.nan]])
    dformat = DFormat.parse("int16,-32768,-10000,10000")
    stored = raster.to_dformat(georef(real), dformat, (-1, 1)).compute()
    assert stored.dtype == np.int16
    assert stored.values.tolist() == [[-10000, 0, 5000], [10000, 10000, -32768]], "clipped to max, NaN to nodata"
    # The index maps back: real = rmin + (rmax - rmin) * ((v - min) / (max - min)) ** exponent
    squared = raster.to_dformat(
        georef(np.array([[0.25, 1.0]])), DFormat.parse("uint8,255,0,200"), (0, 1), 2.0
    ).compute()
    back = 0 + 1 * ((squared.values.astype(float) - 0) / 200) ** 2
    assert back[0].tolist() == pytest.approx([0.25, 1.0])


def test_to_dformat_never_stores_a_valid_value_as_nodata() -> None:
    stored = raster.to_dformat(georef(np.array([[0.0, 0.5]])), DFormat.parse("uint16,0,0,10000"), (0, 1)).compute()
    assert stored.values.tolist() == [[1, 5000]]
    with pytest.raises(InvalidInput, match="NaN as nodata"):
        raster.to_dformat(georef(np.array([[0.0]])), DFormat.parse("uint16,nan,0,10"), (0, 1))


def test_db_conversions() -> None:
    linear = georef(np.array([[1.0, 0.1, 0.0, -1.0]]))
    db = raster.linear_to_db(linear).compute().values
    assert db[0, :2].tolist() == pytest.approx([0.0, -10.0]) and np.isnan(db[0, 2:]).all()
    linear_again = raster.db_to_linear(georef(np.array([[-10.0, 3.0]]))).compute().values
    assert linear_again[0].tolist() == pytest.approx([0.1, 10**0.3], rel=1e-6)


def test_box_sum_matches_a_brute_force_window() -> None:
    rng = np.random.default_rng(1)
    values = rng.random((9, 11))
    got = raster.box_sum(values, 3, 5)
    for r in range(9):
        for c in range(11):
            window = values[max(0, r - 1) : r + 2, max(0, c - 2) : c + 3]
            assert got[r, c] == pytest.approx(window.sum())


def test_coherence() -> None:
    rng = np.random.default_rng(2)
    phase = rng.uniform(-np.pi, np.pi, (200, 200))
    a = np.exp(1j * phase).astype("complex64")
    same = raster.coherence(georef(a), georef(a * np.exp(1j * 0.7)), (5, 5)).compute().values
    assert np.nanmin(same) == pytest.approx(1.0, abs=1e-5), "a constant phase shift keeps coherence 1"
    noise = np.exp(1j * rng.uniform(-np.pi, np.pi, (200, 200))).astype("complex64")
    random = raster.coherence(georef(a), georef(noise), (7, 7)).compute().values
    assert np.nanmean(random) < 0.3, "independent phases decorrelate"


def test_calibration_lut_interpolates_bilinearly() -> None:
    sigma = np.add.outer(np.arange(100) * 2.0, np.arange(120) * 1.0) + 300  # linear: bilinear is exact
    lut = s1.parse_calibration(calibration_xml(100, 120, sigma).encode())
    rows, cols = np.array([0, 7, 55, 99]), np.array([0, 13, 60, 119])
    assert lut.at(rows, cols) == pytest.approx(sigma[np.ix_(rows, cols)])
    dn = darr.from_array(np.full((100, 120), 200, dtype="uint16"), chunks=(30, 50))
    dn[0, 0] = 0
    values = s1.calibrate(dn, lut).compute()
    assert values[55, 60] == pytest.approx(200**2 / sigma[55, 60] ** 2, rel=1e-6)
    assert np.isnan(values[0, 0]), "DN 0 is no data"
    with pytest.raises(InvalidInput, match="unknown calibration"):
        s1.parse_calibration(b"<calibration/>", "sigma")


def test_grd_reading_errors(tmp_path: Path, fixtures_dir: Path) -> None:
    safe = make_grd_safe(tmp_path, fixtures_dir, {"vv": np.ones((10, 12), "uint16")})
    band = s1.open_grd(safe, "vv")
    assert band.polarisation == "VV" and band.measurement.endswith(".tiff")
    with pytest.raises(InvalidInput, match="no GRD measurement for polarisation HH"):
        s1.open_grd(safe, "HH")


def test_warp_from_gcps_and_target_grid(tmp_path: Path, fixtures_dir: Path) -> None:
    dn = np.zeros((100, 120), "uint16")
    dn[:, :60] = 10
    dn[:, 60:] = 20
    safe = make_grd_safe(tmp_path, fixtures_dir, {"vv": dn}, geometry=GrdGeometry(lat0=-33.0))
    band = s1.open_grd(safe, "vv")
    grid = raster.target_grid(band.measurement, "UTM", 25)
    assert grid.crs is not None and grid.crs.epsg == 32731, "southern hemisphere UTM zone"
    warped = (
        raster.warp(band.measurement, grid, chunks=64, resampling=raster.parse_resampling("nearest")).compute().values
    )
    h, w = warped.shape
    assert warped[h // 2, w // 4] == 10 and warped[h // 2, 3 * w // 4] == 20, "west stays west"
    geographic = raster.target_grid(band.measurement, "EPSG:4326", None)
    assert geographic.crs is not None and geographic.crs.epsg == 4326
    with pytest.raises(InvalidInput, match="unknown projection"):
        raster.target_grid(band.measurement, "EPSG:notacode", 10)
    with pytest.raises(InvalidInput, match="unknown resampling"):
        raster.parse_resampling("smooth")


@pytest.mark.parametrize(
    ("folder", "level", "baseline", "offset"),
    [
        (S2_L1C, "L1C", "02.06", 0),
        ("S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE", "L1C", "03.01", 0),
        ("S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230822T021825.SAFE", "L2A", "05.09", -1000),
        (S2_L2A, "L2A", "04.00", -1000),
    ],
)
def test_s2_metadata_of_real_products(fixtures_dir: Path, folder: str, level: str, baseline: str, offset: int) -> None:
    mtd = next((fixtures_dir / "s2_safe" / folder).glob("MTD_MSI*.xml"))
    product = s2.S2Product._from_metadata(mtd.read_bytes(), f"{folder}/{mtd.name}")
    assert (product.level, product.baseline, product.quantification) == (level, baseline, 10000.0)
    assert product.offset("B04") == offset and product.offset("B8A") == offset
    assert product.name == folder.removesuffix(".SAFE")


def test_s2_band_names_and_classes() -> None:
    assert [s2.normalise_band(b) for b in ("B4", "b04", "B8A", "b8a", "B12", "SCL")] == [
        "B04",
        "B04",
        "B8A",
        "B8A",
        "B12",
        "SCL",
    ]
    assert s2.parse_classes("3, 8,9") == (3, 8, 9) and s2.parse_classes("") == s2.DEFAULT_CLOUD_CLASSES
    with pytest.raises(InvalidInput, match="unknown SCL classes"):
        s2.parse_classes("3,42")


def test_real_s2_jp2_band_is_read_lazily(fixtures_dir: Path) -> None:
    """The real B01 JPEG2000 of the fixtures (1830 x 1830, 60 m) through rioxarray and Dask."""
    jp2 = next((fixtures_dir / "s2_safe" / S2_L1C).rglob("*_B01.jp2"))
    band = raster.open_raster(jp2, chunks=512)
    assert band.shape == (1830, 1830) and band.chunks is not None
    assert band.rio.transform() == from_origin(399960, 4800000, 60, 60) and band.rio.crs.to_epsg() == 32631
    window = band[900:1000, 900:1000].compute()
    with rasterio.open(jp2) as src:
        assert np.array_equal(window.values, src.read(1, window=((900, 1000), (900, 1000))))


def test_write_cog_is_valid_with_overviews_and_nodata(tmp_path: Path, settings: Settings) -> None:
    values = np.arange(1100 * 900, dtype="float32").reshape(1100, 900) / 1e5
    values[:50, :50] = np.nan
    data = raster.to_dformat(georef(values, chunks=256), DFormat.parse("int16,-32768,0,10000"), (0, 10))
    out = cog.write_cog(data, tmp_path / "out.tif", nodata=-32768, client=get_client(settings), settings=settings)
    valid, errors, warnings = cog_validate(str(out), quiet=True)
    assert valid and not errors and not warnings
    with rasterio.open(out) as src:
        assert src.nodata == -32768 and src.overviews(1) and src.profile["compress"] == "deflate"
        assert src.block_shapes[0] == (256, 256)
        assert src.read(1)[0, 0] == -32768 and src.read(1)[1000, 800] == round((1000 * 900 + 800) / 1e5 * 1000)
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"], "no intermediate file left behind"


def test_ensure_cog_converts_and_validate_refuses(tmp_path: Path, settings: Settings) -> None:
    from tests.processing.steps import plain_geotiff

    plain = tmp_path / "plain.tif"
    plain_geotiff(str(plain))
    assert cog.cog_problems(plain, settings), "a striped GeoTIFF without overviews is not a COG"
    with pytest.raises(FatalError, match=r"plain\.tif is not a valid COG"):
        cog.validate_cog(plain, settings)
    cog.ensure_cog(plain, settings=settings)
    assert cog.cog_problems(plain, settings) == []
    with rasterio.open(plain) as src:
        assert src.read(1)[10, 10] == 7 and src.nodata == 0
    garbage = tmp_path / "garbage.tif"
    garbage.write_text("not a tiff")
    assert cog.cog_problems(garbage, settings)[0].startswith("cannot be read")


def test_nan_nodata_for_integers_is_dropped() -> None:
    assert cog.nodata_for("uint16", float("nan")) is None
    assert math.isnan(cog.nodata_for("float32", float("nan")) or 0.0)


@pytest.mark.parametrize(
    ("projection", "resolution", "resampling"),
    [("EPSG:3857", 30, "bilinear"), ("EPSG:32632", 20, "nearest"), ("", 25, "cubic"), ("UTM", 10, "bilinear")],
)
def test_warp_matches_a_rasterio_reference(tmp_path: Path, projection: str, resolution: float, resampling: str) -> None:
    """odc-geo's chunked reprojection gives the pixels of one whole-raster rasterio warp."""
    from rasterio.warp import reproject

    from tests.processing.products import write_band

    rows, cols = np.mgrid[0:300, 0:260]
    values = (1000 + 300 * np.sin(rows / 17) + 200 * np.cos(cols / 23)).astype("uint16")
    values[:40, :30] = 0  # nodata corner
    source = write_band(tmp_path / "band.tif", values, crs=32631, origin=(699960, 4800000), resolution=10)
    grid = raster.target_grid(source, projection, resolution)
    method = raster.parse_resampling(resampling)
    got = raster.warp(source, grid, chunks=64, resampling=method).compute()
    assert got.rio.crs == grid.crs and got.rio.transform() == grid.affine and got.shape == grid.shape.yx

    expected = np.zeros(grid.shape.yx, dtype="uint16")
    with rasterio.open(source) as src:
        reproject(
            rasterio.band(src, 1),
            expected,
            dst_transform=grid.affine,
            dst_crs=grid.crs.wkt if grid.crs else None,
            src_nodata=0,
            dst_nodata=0,
            resampling=method,
        )
    assert ((got.values == 0) == (expected == 0)).mean() > 0.995, "same footprint, up to edge pixels"
    both = (got.values != 0) & (expected != 0)
    diff = np.abs(got.values[both].astype(float) - expected[both])
    assert both.sum() > 0.5 * values.size * (10 / resolution) ** 2
    assert np.percentile(diff, 99) <= 1 and diff.max() <= 20
