"""Gate "DEM": EGM96 undulations, ellipsoidal = orthometric + N, and DEM URLs under the operator's rules.

Undulation reference: the test data NGA publishes with EGM96 (`readme.txt` beside `intpt.f`
and `WW15MGH.GRD` on earth-info.nga.mil): six points with N from NGA's own interpolation of
the same 15' grid. Ours is bilinear on dem-stitcher's copy of that grid, so a few centimetres
apart (0.1 m allowed). This proves the grid is read, oriented and wrapped correctly and that
the sign is h = H + N; it does not check the grid against the spherical-harmonic model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from geocube_ingest.errors import InvalidInput
from geocube_ingest.processing.sar.dem import (
    check_dem_url,
    default_dem_url,
    geoid_undulation,
    load_dem,
)
from geocube_ingest.settings import get_settings

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
ROME_DEM = FIXTURES / "rasters" / "Rome-30m-DEM.tif"  # EPSG:9707, WGS 84 + EGM96 height
NGA_TEST_POINTS = [  # latitude, longitude (0-360), N (m)
    (38.6281550, 269.7791550, -31.628),
    (-14.6212170, 305.0211140, -2.969),
    (46.8743190, 102.4487290, -43.575),
    (-23.6174460, 133.8747120, 15.871),
    (38.6254730, 359.9995000, 50.066),
    (-0.4667440, 0.0023000, 17.329),
]


def test_egm96_undulation_matches_nga_test_points() -> None:
    lat, lon, expected = (np.array(column) for column in zip(*NGA_TEST_POINTS, strict=True))
    ours = geoid_undulation(lon, lat)
    error = ours - expected
    print(
        "\nDEM EGM96 N (ours - NGA, m): "
        + ", ".join(f"({a:.2f},{o:.2f}) {e:+.3f}" for a, o, e in zip(lat, lon, error, strict=True))
    )
    assert np.abs(error).max() < 0.1
    # Longitudes as -180..180 give the same, and the date line is continuous.
    assert np.allclose(geoid_undulation(lon - 360, lat), ours)
    assert geoid_undulation(179.999, 10.0) == pytest.approx(float(geoid_undulation(-179.999, 10.0)), abs=0.01)


def test_load_dem_adds_the_undulation_on_a_utm_grid() -> None:
    bounds = (12.46, 41.96, 12.54, 42.04)
    heights = load_dem(str(ROME_DEM), bounds)
    orthometric = load_dem(str(ROME_DEM), bounds, geoid="none")
    assert heights.dtype == np.float64
    assert heights.rio.crs.to_epsg() == 32633  # UTM 33N for Rome
    assert abs(heights.odc.geobox.resolution.x) == pytest.approx(30.8, abs=0.5)  # 1" at 42 N, in metres
    x, y = np.meshgrid(heights.x.values, heights.y.values)
    lon, lat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(x, y)
    n = geoid_undulation(lon, lat)
    assert np.allclose(heights.values - orthometric.values, n)
    # The resampled orthometric heights are the file's, at a pixel centre picked in the file.
    with rasterio.open(ROME_DEM) as src:
        row, col = 180, 180
        file_value = float(src.read(1)[row, col])
        plon, plat = src.xy(row, col)
    px, py = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True).transform(plon, plat)
    near = float(orthometric.interp(x=px, y=py))
    print(
        f"\nDEM Rome: N {n.mean():.2f} m (h - H), file H {file_value:.0f} m at ({plon:.5f}, {plat:.5f}), "
        f"resampled {near:.1f} m"
    )
    assert near == pytest.approx(file_value, abs=3.0)
    assert 45 < n.mean() < 52  # EGM96 over Rome: about 48.6 m


def test_load_dem_at_a_chosen_resolution() -> None:
    heights = load_dem(str(ROME_DEM), (12.47, 41.97, 12.50, 42.00), resolution_m=10.0)
    assert abs(heights.odc.geobox.resolution.x) == 10.0
    assert np.isfinite(heights.values).all()


@pytest.mark.parametrize(
    "url", ["/etc/hostname", "ftp://example.com/dem.tif", "file:///etc/hostname", "zip::/tmp/a.zip"]
)
def test_dem_urls_outside_the_operator_rules_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="dem_url"):
        load_dem(url, (12.46, 41.96, 12.54, 42.04))
    with pytest.raises(InvalidInput) as refused:
        check_dem_url(url)
    assert url[:30] in str(refused.value)


def test_default_dem_url_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInput, match=r"processing\.dem_url"):
        default_dem_url()
    monkeypatch.setenv("GEOCUBE_INGEST_PROCESSING__DEM_URL", str(ROME_DEM))
    get_settings.cache_clear()
    assert default_dem_url() == str(ROME_DEM)


def test_bad_arguments_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="geoid"):
        load_dem(str(ROME_DEM), (12.46, 41.96, 12.54, 42.04), geoid="EGM2008")
    with pytest.raises(InvalidInput, match="bounds"):
        load_dem(str(ROME_DEM), (12.54, 41.96, 12.46, 42.04))
    with pytest.raises(InvalidInput, match="cover"):
        load_dem(str(ROME_DEM), (2.0, 41.0, 2.1, 41.1))


def test_a_dem_in_the_storage_root_is_allowed(tmp_path: Path) -> None:
    """Workers read the storage root, so a DEM put there needs no file root (the demo does so)."""
    settings = get_settings().with_overrides(
        {"storage_uri": str(tmp_path / "storage"), "security": {"file_roots": [], "storage_roots": []}}
    )
    stored = tmp_path / "storage" / "dem" / "rome.tif"
    assert check_dem_url(str(stored), settings) == str(stored)
    with pytest.raises(InvalidInput, match="dem_url"):
        check_dem_url(str(tmp_path / "elsewhere.tif"), settings)
