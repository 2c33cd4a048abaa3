"""Reading layers back: open_cube gives the real values the processing computed, with the right time axis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dask.array
import numpy as np
import pytest

from geocube_ingest.errors import NotFound
from geocube_ingest.index.cube import open_cube
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.index.stac import publish_collection
from geocube_ingest.settings import Settings
from tests.index.conftest import new_record
from tests.index.layers import ALL, NDVI, SIGMA0, LayerSpec, prepare, real_values, write_layer

AOI = "Occitanie"
DAYS = (9, 3, 6)  # indexed out of order on purpose


@dataclass
class Ingested:
    index: EmbeddedIndex
    settings: Settings
    records: dict[int, str]  # day → record id
    reals: dict[tuple[int, str], np.ndarray]  # (day, layer) → real values


@pytest.fixture
def ingested(sqlite_index: EmbeddedIndex, settings: Settings) -> Ingested:
    """Three acquisitions, every layer of the graphs computed, stored, indexed and published."""
    index = sqlite_index
    instances = prepare(index)
    records: dict[int, str] = {}
    reals: dict[tuple[int, str], np.ndarray] = {}
    for day in DAYS:
        tags = {"constellation": "SENTINEL2", "orbit": "even" if day % 2 == 0 else "odd"}
        created = index.create_records([new_record(f"S2A_202201{day:02d}", day, tags)])[0]
        records[day] = created.id
        folder = Path(settings.resolved_storage_uri) / AOI / created.record.name / "tiles" / created.record.name
        datasets = []
        for spec in ALL:
            real = real_values(spec, seed=day)
            reals[(day, spec.layer)] = real
            datasets.append(write_layer(folder, spec, real, created.id, instances[spec.layer]))
        index.index_datasets(datasets)
    publish_collection(index, AOI)
    return Ingested(index, settings, records, reals)


def _check(cube_values: np.ndarray, expected: np.ndarray, spec: LayerSpec) -> None:
    np.testing.assert_array_equal(np.isnan(cube_values), np.isnan(expected))
    assert np.nanmax(np.abs(cube_values - expected)) <= spec.tolerance()


def test_open_cube_over_three_records(ingested: Ingested) -> None:
    cube = open_cube(NDVI.variable, NDVI.instance, index=ingested.index)
    assert cube.dims == ("time", "y", "x")
    assert isinstance(cube.data, dask.array.Array)  # lazy until computed
    times = [np.datetime64(datetime(2022, 1, day, 10, 30), "ns") for day in sorted(DAYS)]
    assert list(cube.time.values) == times
    assert cube.shape == (3, 48, 64)
    assert cube.attrs["variable"] == "NDVI" and cube.attrs["instance"] == "S2"
    assert float(cube.x[0]) == 360010.0 and float(cube.y[0]) == 4829990.0  # pixel centres
    values = cube.compute().values
    for position, day in enumerate(sorted(DAYS)):
        _check(values[position], ingested.reals[(day, NDVI.layer)], NDVI)


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.layer)
def test_open_cube_gives_back_the_computed_real_values(ingested: Ingested, spec: LayerSpec) -> None:
    """Every layer of the graphs, whatever its stored format (uint8, int16, float32, exponent 2)."""
    cube = open_cube(spec.variable, spec.instance, index=ingested.index).compute()
    assert cube.dtype == np.float32
    assert cube.attrs["units"] == spec.unit
    expected = np.stack([ingested.reals[(day, spec.layer)] for day in sorted(DAYS)])
    _check(cube.values, expected, spec)


def test_selecting_records_tags_and_time(ingested: Ingested) -> None:
    by_records = open_cube(SIGMA0.variable, SIGMA0.instance, records=[ingested.records[9]], index=ingested.index)
    assert by_records.sizes["time"] == 1
    _check(by_records.compute().values[0], ingested.reals[(9, SIGMA0.layer)], SIGMA0)

    by_tags = open_cube(SIGMA0.variable, SIGMA0.instance, tags={"orbit": "odd"}, index=ingested.index)
    assert [str(t)[:10] for t in by_tags.time.values] == ["2022-01-03", "2022-01-09"]

    by_time = open_cube(
        SIGMA0.variable,
        SIGMA0.instance,
        start=datetime(2022, 1, 4, tzinfo=UTC),
        end=datetime(2022, 1, 9, 10, 30, tzinfo=UTC),
        index=ingested.index,
    )
    assert [str(t)[:10] for t in by_time.time.values] == ["2022-01-06", "2022-01-09"]


def test_from_the_published_collection_without_the_database(ingested: Ingested) -> None:
    via_index = open_cube(NDVI.variable, NDVI.instance, index=ingested.index).compute()
    via_collection = open_cube(NDVI.variable, NDVI.instance, collection=AOI, settings=ingested.settings).compute()
    np.testing.assert_array_equal(via_index.values, via_collection.values)


def test_another_grid(ingested: Ingested) -> None:
    cube = open_cube(NDVI.variable, NDVI.instance, crs="EPSG:32631", resolution=40, index=ingested.index)
    assert cube.shape == (3, 24, 32)
    bbox = (1.266, 43.603, 1.274, 43.608)
    clipped = open_cube(NDVI.variable, NDVI.instance, bbox=bbox, index=ingested.index)
    assert clipped.sizes["x"] < 64 and clipped.sizes["y"] < 48


def test_records_indexed_with_different_mappings(sqlite_index: EmbeddedIndex, settings: Settings) -> None:
    """Each dataset keeps its own real_min/real_max: values stay right when they differ."""
    instance = prepare(sqlite_index, (SIGMA0,))[SIGMA0.layer]
    narrow = LayerSpec(**{**SIGMA0.__dict__, "real_min": -30.0, "real_max": 0.0})
    expected = []
    for day, spec in ((1, SIGMA0), (2, narrow)):
        record = sqlite_index.create_records([new_record(f"S1A_{day}", day)])[0]
        real = real_values(spec, seed=day)
        expected.append(real)
        folder = Path(settings.resolved_storage_uri) / AOI / record.record.name / "tiles" / "t1"
        sqlite_index.index_datasets([write_layer(folder, spec, real, record.id, instance)])
    publish_collection(sqlite_index, AOI)
    cube = open_cube(SIGMA0.variable, SIGMA0.instance, index=sqlite_index).compute()
    _check(cube.values[0], expected[0], SIGMA0)
    _check(cube.values[1], expected[1], narrow)


def test_nothing_to_read(ingested: Ingested) -> None:
    with pytest.raises(NotFound, match="no published item has the layer NDVI_L8"):
        open_cube("NDVI", "L8", index=ingested.index)
    with pytest.raises(NotFound):
        open_cube(NDVI.variable, NDVI.instance, tags={"orbit": "none"}, index=ingested.index)
    with pytest.raises(NotFound, match="no STAC document"):
        open_cube(NDVI.variable, NDVI.instance, collection="Elsewhere", settings=ingested.settings)
