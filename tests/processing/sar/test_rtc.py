"""Gate "RTC, analytic": terrain flattening on DEMs whose answer is known.

The burst geometry is real (DAA1 IW1 burst 4: its orbit and timing); the DEMs are synthetic.
- flat: the normalised gamma area is cot(theta) (theta: ellipsoid incidence), within 0.05 dB
  per output pixel, with a DEM 3x finer than the 30 m output; the same sum with one radar
  pixel per bin and the DEM at the output's spacing (what sarsen does by default) is far off,
  which shows that the gate can fail;
- planes tilted in range (facing the sensor and facing away) give cot(local incidence);
- planes steeper than the incidence towards the sensor are layover, steeper than 90 - theta
  away from it are shadow, and the ground hidden behind a cliff is (passive) shadow.
This proves the area sums, their normalisation and the mask logic on this geometry; it does
not prove the DEM resampling of real terrain or anything about real pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from odc.geo.geobox import GeoBox
from pyproj import Transformer

from geocube_ingest.processing.sar.burst import BurstGeometry, burst_geometry
from geocube_ingest.processing.sar.dem import flat_dem, utm_geobox
from geocube_ingest.processing.sar.geocoding import backward_geocode_points, ecef_to_lonlat, lonlat_to_ecef
from geocube_ingest.processing.sar.radiometry import (
    LAYOVER,
    SHADOW,
    Bins,
    Facets,
    layover_shadow_mask,
    look_bins,
    normalised_gamma_area,
    terrain_facets,
)

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
OUTPUT_M = 30.0
FACTOR = 3
MARGIN = 12  # output pixels around the area, so that every bin of the interior is complete


@pytest.fixture(scope="module")
def geometry() -> BurstGeometry:
    return burst_geometry(next((FIXTURES / "s1_slc").glob("*DAA1.SAFE")), "IW1", "VV", 4)


def _box(geometry: BurstGeometry, half_deg: float = 0.01) -> GeoBox:
    c = geometry.footprint.centroid
    return utm_geobox((c.x - half_deg, c.y - half_deg, c.x + half_deg, c.y + half_deg), OUTPUT_M / FACTOR)


def _to_output(values: np.ndarray) -> np.ndarray:
    """Mean over each output pixel's FACTOR x FACTOR DEM points, the margin dropped."""
    m = MARGIN * FACTOR
    inner = values[m:-m, m:-m]
    ny, nx = inner.shape[0] // FACTOR * FACTOR, inner.shape[1] // FACTOR * FACTOR
    return np.asarray(inner[:ny, :nx].reshape(ny // FACTOR, FACTOR, nx // FACTOR, FACTOR).mean(axis=(1, 3)))


def _area(facets: Facets, bins: Bins) -> np.ndarray:
    u, v = bins.of(facets.line, facets.pixel)
    return normalised_gamma_area(facets, bins).sample(u, v)


def _away(geometry: BurstGeometry, box: GeoBox) -> tuple[np.ndarray, np.ndarray]:
    """Map coordinates of the box centre and the unit map vector pointing away from the sensor (ground range)."""
    crs = str(box.crs)
    centre = np.array(box.extent.centroid.coords[0])
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(*centre)
    ecef = lonlat_to_ecef(lon, lat, 0.0)
    look = backward_geocode_points(geometry, ecef[None]).look[0]
    far_lon, far_lat, _ = ecef_to_lonlat(ecef - 100.0 * look)  # along the beam, below and beyond the point
    far = np.array(Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(far_lon, far_lat))
    direction = far - centre
    return centre, direction / np.linalg.norm(direction)


def _ground_range(box: GeoBox, centre: np.ndarray, away: np.ndarray) -> np.ndarray:
    dem = flat_dem(box)
    x, y = np.meshgrid(dem.x.values, dem.y.values)
    return np.asarray((x - centre[0]) * away[0] + (y - centre[1]) * away[1])


def test_flat_dem_gives_cot_theta(geometry: BurstGeometry) -> None:
    box = _box(geometry)
    facets = terrain_facets(geometry, flat_dem(box, 500.0))
    bins = look_bins(geometry, OUTPUT_M)
    ratio = _to_output(_area(facets, bins) * np.tan(np.deg2rad(facets.incidence)))
    error_db = 10 * np.log10(ratio)
    # Negative control: one radar pixel per bin, the DEM at the output spacing.
    west, south, east, north = box.extent.to_crs("EPSG:4326").boundingbox
    coarse = utm_geobox((west, south, east, north), OUTPUT_M)
    coarse_facets = terrain_facets(geometry, flat_dem(coarse, 500.0))
    single = _area(coarse_facets, Bins(1, 1)) * np.tan(np.deg2rad(coarse_facets.incidence))
    single_db = 10 * np.log10(np.nanmean(single[MARGIN:-MARGIN, MARGIN:-MARGIN]))
    print(
        f"\nRTC flat: bins {bins.lines} lines x {bins.samples} samples, DEM {OUTPUT_M / FACTOR:.0f} m, "
        f"{error_db.size} output pixels of {OUTPUT_M:.0f} m: normalised area / cot(theta) "
        f"{error_db.min():+.4f} … {error_db.max():+.4f} dB (mean {error_db.mean():+.4f}); "
        f"negative control (1x1 radar-pixel bins, {OUTPUT_M:.0f} m DEM, bilinear lookup): mean {single_db:+.2f} dB"
    )
    assert error_db.size > 100
    assert np.abs(error_db).max() < 0.05
    assert abs(single_db) > 0.5
    assert not layover_shadow_mask(facets, bins).any()


@pytest.mark.parametrize("slope_deg", [15.0, -20.0, 8.0, -35.0])
def test_tilted_planes_give_cot_of_local_incidence(geometry: BurstGeometry, slope_deg: float) -> None:
    """Positive slopes face the sensor (the ground rises away from it, in ground range)."""
    box = _box(geometry)
    centre, away = _away(geometry, box)
    heights = 800.0 + np.tan(np.deg2rad(slope_deg)) * _ground_range(box, centre, away)
    facets = terrain_facets(geometry, flat_dem(box, heights))
    bins = look_bins(geometry, OUTPUT_M)
    expected = 1 / np.tan(np.deg2rad(facets.local_incidence))
    error_db = 10 * np.log10(_to_output(_area(facets, bins) / expected))
    theta_local = _to_output(facets.local_incidence)
    theta = _to_output(facets.incidence)
    print(
        f"\nRTC plane {slope_deg:+.0f} deg: incidence {theta.mean():.2f}, local incidence {theta_local.min():.2f} … "
        f"{theta_local.max():.2f} deg; normalised area / cot(local incidence) {error_db.min():+.4f} … "
        f"{error_db.max():+.4f} dB"
    )
    assert abs(theta_local.mean() - (theta.mean() - slope_deg)) < 0.5
    assert np.abs(error_db).max() < 0.05
    assert not layover_shadow_mask(facets, bins)[MARGIN * FACTOR : -MARGIN * FACTOR].any()


@pytest.mark.parametrize(("slope_deg", "flag"), [(50.0, LAYOVER), (-60.0, SHADOW)])
def test_steep_planes_are_layover_or_shadow(geometry: BurstGeometry, slope_deg: float, flag: int) -> None:
    box = _box(geometry, 0.004)
    centre, away = _away(geometry, box)
    heights = 1000.0 + np.tan(np.deg2rad(slope_deg)) * _ground_range(box, centre, away)
    facets = terrain_facets(geometry, flat_dem(box, heights))
    mask = layover_shadow_mask(facets, look_bins(geometry, OUTPUT_M))
    share = float(np.mean((mask & flag) > 0))
    print(
        f"\nRTC plane {slope_deg:+.0f} deg: {share:.1%} of points flagged {'layover' if flag == LAYOVER else 'shadow'}"
    )
    assert share == 1.0


def test_ground_behind_a_cliff_is_shadow(geometry: BurstGeometry) -> None:
    """A 200 m cliff facing away from the sensor hides H tan(theta) of flat ground behind its foot."""
    box = _box(geometry, 0.006)
    centre, away = _away(geometry, box)
    s = _ground_range(box, centre, away)
    cliff_m, run_m = 200.0, 20.0
    heights = np.clip(cliff_m * (1 - s / run_m), 0, cliff_m)
    facets = terrain_facets(geometry, flat_dem(box, heights))
    mask = layover_shadow_mask(facets, look_bins(geometry, OUTPUT_M))
    theta = np.deg2rad(np.nanmean(facets.incidence))
    length = cliff_m * np.tan(theta) - run_m  # hidden flat ground beyond the cliff's foot (at s = run_m)
    hidden = (s > run_m + 15) & (s < run_m + length - 15)
    lit = (s > run_m + length + 30) | (s < -30)
    shadow = (mask & SHADOW) > 0
    print(
        f"\nRTC cliff {cliff_m:.0f} m: expected shadow {length:.0f} m beyond the foot; flagged "
        f"{shadow[hidden].mean():.1%} of the hidden ground, {shadow[lit].mean():.1%} of the lit ground"
    )
    assert shadow[hidden].mean() > 0.97
    assert shadow[lit].mean() < 0.01


# -- the whole chain on a burst of known beta0 ----------------------------------------------------

DN = 53  # constant amplitude: beta0 = 53^2 / 237^2 (DAA1's betaNought LUT is 237 everywhere)


@pytest.fixture(scope="module")
def constant_burst(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DAA1's annotations with a measurement whose burst 4 is the constant DN (other bursts: zeros, sparse)."""
    import shutil

    import rasterio
    from rasterio.windows import Window

    from geocube_ingest.processing.sar.burst import product_file

    source = next((FIXTURES / "s1_slc").glob("*DAA1.SAFE"))
    safe = tmp_path_factory.mktemp("constant") / source.name
    shutil.copytree(source, safe)
    annotation = product_file(safe, "IW1", "VV", "annotation")
    geometry = burst_geometry(safe, "IW1", "VV", 4)
    (safe / "measurement").mkdir()
    profile = dict(
        driver="GTiff",
        width=geometry.samples,
        height=13563,
        count=1,
        dtype="complex_int16",
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        sparse_ok=True,
    )
    with rasterio.open(safe / "measurement" / f"{annotation.stem}.tiff", "w", **profile) as out:
        window = Window(0, geometry.first_line, geometry.samples, geometry.lines)
        out.write(np.full((geometry.lines, geometry.samples), DN + 0j, dtype="complex64"), 1, window=window)
    return safe


@pytest.mark.slow
# The constant burst's measurement has no GCPs (the annotation's grid georeferences it): rasterio says so.
@pytest.mark.filterwarnings("ignore:Dataset has no geotransform:rasterio.errors.NotGeoreferencedWarning")
def test_backscatter_of_a_constant_burst_on_a_flat_dem(constant_burst: Path) -> None:
    """gamma0_rtc on flat ground equals the ellipsoid gamma0 = beta0 tan(theta); beta0 is the DN's."""
    from odc.geo.xr import xr_coords  # noqa: F401

    from geocube_ingest.processing.sar.backscatter import backscatter, burst_grid
    from geocube_ingest.processing.sar.radiometry import NODATA_MASK

    geometry = burst_geometry(constant_burst, "IW1", "VV", 4)
    c = geometry.footprint.centroid
    grid = burst_grid(geometry, OUTPUT_M, (c.x - 0.015, c.y - 0.015, c.x + 0.015, c.y + 0.015))
    dem = flat_dem(utm_geobox((c.x - 0.05, c.y - 0.05, c.x + 0.05, c.y + 0.05), OUTPUT_M, str(grid.crs)), 500.0)
    dem = dem.odc.assign_crs(grid.crs)
    options: dict[str, Any] = {"db": False, "noise": False, "chunk": 48}
    rtc = backscatter(constant_burst, "IW1", "VV", 4, dem, grid, **options)
    assert rtc.gamma0_rtc.data.npartitions > 1
    gamma0 = backscatter(constant_burst, "IW1", "VV", 4, dem, grid, quantity="gamma0", **options).gamma0.values
    beta0 = backscatter(constant_burst, "IW1", "VV", 4, dem, grid, quantity="beta0", **options).beta0.values
    values, mask = rtc.gamma0_rtc.values, rtc.mask.values
    ratio_db = 10 * np.log10(values / gamma0)
    expected_beta0 = DN**2 / 237.0**2
    print(
        f"\nRTC backscatter {grid.shape}: beta0 {np.nanmin(beta0):.6f} … {np.nanmax(beta0):.6f} "
        f"(DN {DN}: {expected_beta0:.6f}); gamma0_rtc / gamma0(ellipsoid) {np.nanmin(ratio_db):+.4f} … "
        f"{np.nanmax(ratio_db):+.4f} dB; no data {np.isnan(values).mean():.1%}"
    )
    assert np.isfinite(values).all() and (mask == 0).all()
    assert np.allclose(beta0, expected_beta0, rtol=1e-5)
    assert np.abs(ratio_db).max() < 0.05
    in_db = backscatter(constant_burst, "IW1", "VV", 4, dem, grid, noise=False, chunk=48).gamma0_rtc.values
    assert np.allclose(in_db, 10 * np.log10(values), atol=1e-4)
    # Next to the burst (burst 5 is all zeros in this measurement): no data.
    below = geometry.footprint.bounds[1]
    outside = utm_geobox((c.x - 0.01, below - 0.06, c.x + 0.01, below - 0.04), OUTPUT_M, str(grid.crs))
    dem_outside = flat_dem(
        utm_geobox((c.x - 0.05, below - 0.1, c.x + 0.05, below + 0.02), OUTPUT_M, str(grid.crs)), 500.0
    )
    empty = backscatter(constant_burst, "IW1", "VV", 4, dem_outside.odc.assign_crs(grid.crs), outside, **options)
    assert np.isnan(empty.gamma0_rtc.values).all() and (empty.mask.values == NODATA_MASK).all()


@pytest.mark.slow
def test_backscatter_reads_a_dem_url_per_chunk_with_the_geoid(constant_burst: Path, tmp_path: Path) -> None:
    """A hill written as an EGM96 GeoTIFF (lon/lat) and read per chunk gives what its ellipsoidal heights give.

    The burst is of constant beta0, so a wrong datum (51 m here) barely changes gamma0_rtc (0.09 dB:
    the facets' slopes move with the DEM): this checks the per-chunk DEM path, not the geoid's
    sign, which `test_dem` checks.
    """
    import rasterio
    from rasterio.transform import from_origin

    from geocube_ingest.processing.sar.backscatter import backscatter, burst_grid
    from geocube_ingest.processing.sar.dem import geoid_undulation

    geometry = burst_geometry(constant_burst, "IW1", "VV", 4)
    c = geometry.footprint.centroid
    step = 1 / 3600  # 1" like GLO-30
    lon = c.x - 0.05 + step * (np.arange(361) + 0.5)
    lat = c.y + 0.05 - step * (np.arange(361) + 0.5)
    glon, glat = np.meshgrid(lon, lat)
    hill = 300.0 + 400.0 * np.exp(-(((glon - c.x) * 95e3) ** 2 + ((glat - c.y) * 111e3) ** 2) / (2 * 600.0**2))
    path = tmp_path / "hill.tif"
    profile = dict(driver="GTiff", width=361, height=361, count=1, dtype="float32", crs="EPSG:4326")
    with rasterio.open(path, "w", transform=from_origin(c.x - 0.05, c.y + 0.05, step, step), **profile) as out:
        out.write(hill.astype("float32"), 1)
    grid = burst_grid(geometry, OUTPUT_M, (c.x - 0.012, c.y - 0.012, c.x + 0.012, c.y + 0.012))
    from_url = backscatter(constant_burst, "IW1", "VV", 4, str(path), grid, noise=False, chunk=48)
    fine = utm_geobox((c.x - 0.04, c.y - 0.04, c.x + 0.04, c.y + 0.04), OUTPUT_M / FACTOR, str(grid.crs))
    x, y = np.meshgrid(flat_dem(fine).x.values, flat_dem(fine).y.values)
    plon, plat = Transformer.from_crs(str(grid.crs), "EPSG:4326", always_xy=True).transform(x, y)
    ellipsoidal = 300.0 + 400.0 * np.exp(-(((plon - c.x) * 95e3) ** 2 + ((plat - c.y) * 111e3) ** 2) / (2 * 600.0**2))
    ellipsoidal = ellipsoidal + geoid_undulation(plon, plat)
    direct = backscatter(
        constant_burst,
        "IW1",
        "VV",
        4,
        flat_dem(fine, ellipsoidal).odc.assign_crs(grid.crs),
        grid,
        noise=False,
        chunk=48,
    )
    a, b = from_url.gamma0_rtc.values, direct.gamma0_rtc.values
    flat = backscatter(
        constant_burst, "IW1", "VV", 4, flat_dem(fine, 300.0).odc.assign_crs(grid.crs), grid, noise=False, chunk=48
    )
    relief = b - flat.gamma0_rtc.values
    print(
        f"\nRTC hill from a DEM URL (EGM96, N = {geoid_undulation(c.x, c.y):.1f} m) vs its ellipsoidal heights: "
        f"|d| max {np.nanmax(np.abs(a - b)):.3f} dB (median {np.nanmedian(np.abs(a - b)):.4f}); the hill changes "
        f"gamma0_rtc by {np.nanmin(relief):+.2f} … {np.nanmax(relief):+.2f} dB; "
        f"mask values {np.unique(direct.mask.values)}"
    )
    assert np.isfinite(a).mean() > 0.95 and np.isfinite(b).mean() > 0.95
    assert np.nanmedian(np.abs(a - b)) < 0.05
    assert np.nanmax(np.abs(relief)) > 1.0  # the hill is seen: the test would catch a DEM left out
    assert (from_url.mask.values == direct.mask.values).mean() > 0.99
    # Slopes of at most 22 deg under a 34 deg incidence: neither layover nor shadow anywhere.
    assert (direct.mask.values == 0).all()
