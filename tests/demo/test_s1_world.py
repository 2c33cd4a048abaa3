"""The demo's Sentinel-1 world: names and ids as ESA's, and a GRD time series ingested end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from geocube_ingest.catalogue import list_tiles, search_scenes
from geocube_ingest.catalogue.naming import name_info
from geocube_ingest.demo import s1_world
from geocube_ingest.demo.s1_manifest import parse_manifest, product_name, repeat_pass, unique_id
from geocube_ingest.demo.world import DemoWorld, overrides
from geocube_ingest.errors import InvalidInput
from geocube_ingest.index import get_index, open_cube
from geocube_ingest.payload import Payload
from geocube_ingest.pipeline import ingest
from geocube_ingest.settings import Settings, get_settings
from geocube_ingest.status import Status

GRD = "S1A_IW_GRDH_1SDV_20210809T173953_20210809T174018_039156_049F13_6FF8"


def manifests(fixtures_dir: Path) -> dict[str, bytes]:
    products = sorted((fixtures_dir / "s1_safe").glob("*.SAFE"))
    assert len(products) >= 5
    return {p.name.removesuffix(".SAFE"): (p / "manifest.safe").read_bytes() for p in products}


def test_names_and_unique_ids_are_esas(fixtures_dir: Path) -> None:
    # GRD and SLC, IW and stripmap, S1A/B/C: the name and its CRC id come out of the manifest.
    for name, manifest in manifests(fixtures_dir).items():
        assert unique_id(manifest) == name[-4:]
        assert product_name(manifest) == name


def test_a_repeat_pass_is_the_same_slice_a_cycle_later(fixtures_dir: Path) -> None:
    manifest = manifests(fixtures_dir)[GRD]
    assert repeat_pass(manifest, 0) == manifest
    first, later = parse_manifest(manifest), parse_manifest(repeat_pass(manifest, 2))
    assert later.start - first.start == timedelta(days=24) and later.stop - first.stop == timedelta(days=24)
    assert (later.relative_orbit, later.orbit_pass) == (first.relative_orbit, first.orbit_pass) == (59, "ASCENDING")
    assert later.absolute_orbit == first.absolute_orbit + 350 and later.cycle == first.cycle + 2
    assert later.footprint.equals(first.footprint) and later.datatake > first.datatake
    name = product_name(repeat_pass(manifest, 2))
    info = name_info(name)
    assert name.startswith("S1A_IW_GRDH_1SDV_20210902T173953_20210902T174018_039506_")
    assert info.absolute_orbit == "39506" and name[-4:] == unique_id(repeat_pass(manifest, 2)) != GRD[-4:]
    with pytest.raises(InvalidInput, match="cycles"):
        repeat_pass(manifest, -1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return s1_world.build(tmp_path_factory.mktemp("s1-world"))


def test_catalogue_finds_one_tile_per_grd(world: DemoWorld) -> None:
    settings = get_settings().with_overrides(overrides(world))
    payload = Payload.parse(world.payload)
    scenes = search_scenes(payload, settings=settings).scenes
    assert [s.date.date().isoformat() for s in scenes] == ["2021-08-09", "2021-08-21", "2021-09-02", "2021-09-14"]
    tags = scenes[0].tags
    assert (tags["constellation"], tags["productType"], tags["relativeOrbit"]) == ("SENTINEL1", "GRD", "59")
    assert scenes[0].source_id == GRD
    tiles = list_tiles(payload, scenes, settings=settings)
    assert [t.source_id for t in tiles] == [s.source_id for s in scenes]  # GRD products are not split


def test_grd_time_series_end_to_end(world: DemoWorld, database_url: str, tmp_path: Path) -> None:
    settings = get_settings().with_overrides(
        {
            **overrides(world),
            "database_url": database_url,
            "storage_uri": str(tmp_path / "storage"),
            "work_dir": str(tmp_path / "work"),
        }
    )
    s1_world.prepare_index(get_index(settings))
    report = ingest(world.payload, settings=settings)
    assert report.summary.status == Status.DONE and report.summary.tiles.done == 4
    cubes = {pol: _cube(settings, pol) for pol in ("VV", "VH")}
    assert cubes["VV"].sizes["time"] == 4 and cubes["VV"].rio.crs.to_epsg() == 32631  # UTM of the scene centre
    for n, when in enumerate(cubes["VV"].time.values):
        for pol, cube in cubes.items():
            truth = s1_world.backscatter_db(_datetime(when), pol)
            measured = float(np.nanmedian(cube.values[n]))
            # Calibration (DN² / sigma²) and dB survive download, warp and the int16 dformat.
            assert abs(measured - float(np.median(truth))) < 1.0, (pol, when, measured)


def _cube(settings: Settings, polarisation: str) -> xr.DataArray:
    return open_cube("Sigma0dB", polarisation, collection=s1_world.AOI_NAME, settings=settings).compute()


def _datetime(value: np.datetime64) -> datetime:
    return datetime.fromtimestamp(value.astype("datetime64[s]").astype(int), tz=UTC)
