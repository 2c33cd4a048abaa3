"""The embedded index on SQLite and PostgreSQL: names, layers, records, datasets."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from geocube_ingest.errors import Conflict, InvalidInput, NotFound
from geocube_ingest.index.base import (
    TAG_PROCESSING_DATE,
    DatasetToIndex,
    DFormat,
    Index,
    NewRecord,
    processing_date_tag,
    record_batch,
    record_tags,
)
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.settings import Settings
from tests.index.conftest import new_record, write_cog

UINT16 = DFormat.parse("uint16,0,1,65535")


def _layer(index: EmbeddedIndex, variable: str = "Sigma0VV", instance: str = "RNKell") -> str:
    index.create_variable(variable, "float32,nan,-40,10", unit="dB", exist_ok=True)
    return index.instantiate(variable, instance, exist_ok=True).id


def test_is_an_index(index: EmbeddedIndex) -> None:
    assert isinstance(index, Index)


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["NDVI", "S2/reflectance/B04", "a-b:c_d", "x1"])
def test_valid_variable_names(index: EmbeddedIndex, name: str) -> None:
    assert index.create_variable(name, "uint8,0,0,255").name == name


@pytest.mark.parametrize("name", ["", "with space", "a/", "/a", "a//b", "é", "a.b", "a*"])
def test_invalid_variable_names_are_refused(index: EmbeddedIndex, name: str) -> None:
    with pytest.raises(InvalidInput, match="invalid variable name"):
        index.create_variable(name, "uint8,0,0,255")
    assert index.list_variables() == []


@pytest.mark.parametrize("name", ["", "a/b", "with space", "a.b"])
def test_invalid_instance_names_are_refused(index: EmbeddedIndex, name: str) -> None:
    index.create_variable("NDVI", "float32,nan,-1,1")
    with pytest.raises(InvalidInput, match="invalid instance name"):
        index.instantiate("NDVI", name)
    assert index.variable("NDVI").instances == ()


def test_bad_dformat_and_resampling_are_refused(index: EmbeddedIndex) -> None:
    with pytest.raises(InvalidInput, match="min must be below max"):
        index.create_variable("A", "uint8,0,10,1")
    with pytest.raises(InvalidInput, match="unknown data type"):
        index.create_variable("A", "uint7,0,0,1")
    with pytest.raises(InvalidInput, match="unknown resampling"):
        index.create_variable("A", "uint8,0,0,1", resampling="sharpest")
    with pytest.raises(InvalidInput, match="must be unique"):
        index.create_variable("A", "uint8,0,0,1", bands=["R", "R"])
    assert index.list_variables() == []


# -- variables and instances --------------------------------------------------------------------


def test_variables_and_instances(index: EmbeddedIndex) -> None:
    created = index.create_variable(
        "S2/B04", "uint16,0,0,10000", bands=["red"], unit="reflectance", description="B04", resampling="near"
    )
    assert str(created.dformat) == "uint16,0,0,10000"
    with pytest.raises(Conflict, match="already exists"):
        index.create_variable("S2/B04", "uint16,0,0,10000")
    assert index.create_variable("S2/B04", "uint8,0,0,1", exist_ok=True).id == created.id

    first = index.instantiate("S2/B04", "L1C", {"processor": "sen2cor"})
    with pytest.raises(Conflict):
        index.instantiate("S2/B04", "L1C")
    assert index.instantiate("S2/B04", "L1C", {"processor": "sen2cor"}, exist_ok=True) == first
    assert index.instantiate("S2/B04", "L1C", exist_ok=True) == first
    with pytest.raises(Conflict, match="other metadata"):
        index.instantiate("S2/B04", "L1C", {"processor": "other"}, exist_ok=True)
    with pytest.raises(NotFound, match="variable 'missing'"):
        index.instantiate("missing", "L1C")

    variable = index.variable("S2/B04")
    assert variable.bands == ("red",)
    assert variable.unit == "reflectance"
    assert variable.resampling.value == "near"
    assert variable.instance("L1C") == first
    assert index.variable_of_instance(first.id)[0].name == "S2/B04"
    with pytest.raises(NotFound):
        index.variable("S2/B05")


def test_list_variables_pattern_treats_underscore_literally(index: EmbeddedIndex) -> None:
    for name in ("S2_B04", "S2xB04", "S1_VV"):
        index.create_variable(name, "uint8,0,0,255")
    assert [v.name for v in index.list_variables("S2_*")] == ["S2_B04"]
    assert [v.name for v in index.list_variables("S?_*")] == ["S1_VV", "S2_B04"]
    assert [v.name for v in index.list_variables()] == ["S1_VV", "S2_B04", "S2xB04"]


# -- layers ------------------------------------------------------------------------------------


def test_resolve_layers_by_names_and_by_id(index: EmbeddedIndex) -> None:
    vv = _layer(index, "Sigma0VV", "RNKell")
    vh = _layer(index, "Sigma0VH", "RNKell")
    resolved = index.resolve_layers(
        {
            "sigma0_VV": {"variable": "Sigma0VV", "instance": "RNKell"},
            "sigma0_VH": {"instance_id": vh},
        }
    )
    assert resolved == {"sigma0_VV": vv, "sigma0_VH": vh}


def test_missing_layers_are_all_named_and_nothing_is_created(index: EmbeddedIndex) -> None:
    _layer(index, "Sigma0VV", "RNKell")
    before = index.counts()
    with pytest.raises(NotFound) as error:
        index.resolve_layers(
            {
                "ok": {"variable": "Sigma0VV", "instance": "RNKell"},
                "no_instance": {"variable": "Sigma0VV", "instance": "Other"},
                "no_variable": {"variable": "Coherence", "instance": "RNKell"},
                "no_id": {"instance_id": "00000000-0000-0000-0000-000000000000"},
            }
        )
    message = str(error.value)
    assert "no_instance (Sigma0VV:Other)" in message
    assert "no_variable (Coherence:RNKell)" in message
    assert "no_id (instance id 00000000-0000-0000-0000-000000000000)" in message
    assert " ok " not in message
    assert index.counts() == before


def test_resolve_layers_accepts_the_payload_model(index: EmbeddedIndex) -> None:
    from geocube_ingest.payload import LayerRef as PayloadLayer

    layer = _layer(index)
    assert index.resolve_layers({"vv": PayloadLayer(variable="Sigma0VV", instance="RNKell")}) == {"vv": layer}
    with pytest.raises(InvalidInput, match="needs variable and instance"):
        index.resolve_layers({"vv": {"variable": "Sigma0VV"}})


# -- records --------------------------------------------------------------------------------------


def test_records_are_reused_when_name_time_and_tags_match(index: EmbeddedIndex) -> None:
    tags = record_tags({"constellation": "SENTINEL2", "uuid": "u1"}, {"area": "Denmark"}, ["S0"], ["S0"])
    first = index.create_records([new_record("S2A_1", 1, tags), new_record("S2A_2", 2, tags)])
    assert [r.created for r in first] == [True, True]

    again = index.create_records(
        [
            new_record("S2A_1", 1, {**tags, TAG_PROCESSING_DATE: "2024-01-01 00:00:00"}),  # processingDate ignored
            new_record("S2A_2", 2, {**tags, "extra": "1"}),  # other tags: another record
            new_record("S2A_1", 3, tags),  # other time: another record
        ]
    )
    assert again[0].id == first[0].id and not again[0].created
    assert again[1].created and again[1].id != first[1].id
    assert again[2].created and again[2].id != first[0].id
    assert index.counts()["records"] == 4


def test_record_tags_helper_follows_upstream() -> None:
    tags = record_tags({"area": "catalogue"}, {"area": "payload", "project": "x"}, ["B", "A", "A"], [])
    assert tags == {
        "area": "catalogue",  # catalogue tags win
        "project": "x",
        "previous_scenes": '["A", "B"]',
        "reference_scenes": "[]",
    }
    assert processing_date_tag(datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)) == {
        TAG_PROCESSING_DATE: "2024-05-06 07:08:09"
    }


def test_footprints_are_deduplicated(index: EmbeddedIndex) -> None:
    square = "POLYGON ((1 43, 2 43, 2 44, 1 44, 1 43))"
    same_square = "POLYGON ((2 43, 2 44, 1 44, 1 43, 2 43))"  # same shape, other start and direction
    created = index.create_records(
        [new_record("A", 1, footprint=square), new_record("B", 2, footprint=same_square), new_record("C", 3)]
    )
    assert created[0].record.aoi_id == created[1].record.aoi_id != created[2].record.aoi_id


def test_record_batch_deletes_what_it_created_when_the_post_fails(index: EmbeddedIndex) -> None:
    kept = index.create_records([new_record("S2A_1", 1)])[0]
    with (
        pytest.raises(RuntimeError, match="workflow down"),
        record_batch(index, [new_record("S2A_1", 1), new_record("S2A_2", 2), new_record("S2A_3", 3)]) as results,
    ):
        assert [r.created for r in results] == [False, True, True]
        raise RuntimeError("workflow down")
    assert [r.id for r in index.find_records()] == [kept.id]

    with record_batch(index, [new_record("S2A_2", 2)]) as results:
        pass
    assert {r.name for r in index.find_records()} == {"S2A_1", "S2A_2"}


def test_records_with_datasets_are_never_deleted(index: EmbeddedIndex, tmp_path: Path) -> None:
    layer = _layer(index)
    records = index.create_records([new_record("A", 1), new_record("B", 2)])
    path = write_cog(tmp_path / "a.tif", np.ones((16, 16), "uint16"), nodata=0)
    index.index_datasets([DatasetToIndex(str(path), records[0].id, layer, UINT16, -40, 10)])
    with pytest.raises(Conflict, match="indexed datasets"):
        index.delete_records([records[0].id, records[1].id])
    assert len(index.find_records()) == 2
    assert index.delete_records([records[1].id]) == 1
    assert index.delete_records([]) == 0


def test_add_records_tags(index: EmbeddedIndex) -> None:
    records = index.create_records([new_record("A", 1), new_record("B", 2)])
    ids = [r.id for r in records]
    assert index.add_records_tags(ids, processing_date_tag()) == 2
    assert index.add_records_tags(ids[:1], {"quality": "good"}) == 1
    assert index.add_records_tags(ids[:1], {"quality": "good"}) == 0  # nothing changed
    found = index.find_records(tags={"quality": "good"})
    assert [r.id for r in found] == ids[:1]
    assert TAG_PROCESSING_DATE in found[0].tags
    # The record still matches its creation tags (processingDate is not part of its identity).
    assert index.create_records([new_record("B", 2)])[0].id == ids[1]


def test_adding_tags_that_make_two_records_identical_is_refused(index: EmbeddedIndex) -> None:
    a, _ = index.create_records([new_record("A", 1, {"k": "1"}), new_record("A", 1, {"k": "1", "x": "2"})])
    with pytest.raises(Conflict, match="duplicate"):
        index.add_records_tags([a.id], {"x": "2"})
    assert index.find_records(ids=[a.id])[0].tags == {"k": "1"}


def test_find_records(index: EmbeddedIndex) -> None:
    west = "POLYGON ((0 40, 1 40, 1 41, 0 41, 0 40))"
    # An L shape whose bounding box covers the query point but whose area does not.
    ell = "POLYGON ((2 40, 6 40, 6 41, 3 41, 3 44, 2 44, 2 40))"
    index.create_records(
        [
            new_record("S2A_T31TCJ_1", 1, {"constellation": "SENTINEL2", "cloud": "10"}, west),
            new_record("S2B_T31TCJ_2", 2, {"constellation": "SENTINEL2", "cloud": "80"}, ell),
            new_record("S1A_IW_3", 3, {"constellation": "SENTINEL1"}, ell),
        ]
    )
    assert [r.name for r in index.find_records(name="S2?_T31TCJ_*")] == ["S2A_T31TCJ_1", "S2B_T31TCJ_2"]
    assert [r.name for r in index.find_records(tags={"constellation": "SENTINEL2", "cloud": "8*"})] == ["S2B_T31TCJ_2"]
    assert [r.name for r in index.find_records(start=datetime(2022, 1, 2), end=datetime(2022, 1, 2, 23))] == [
        "S2B_T31TCJ_2"
    ]
    assert [r.name for r in index.find_records(footprint="POINT (0.5 40.5)")] == ["S2A_T31TCJ_1"]
    assert index.find_records(footprint="POINT (5 43)") == []  # in the L's bbox, not in the L
    assert len(index.find_records(footprint="POINT (2.5 43)")) == 2
    assert [r.name for r in index.find_records(limit=1)] == ["S2A_T31TCJ_1"]
    record = index.find_records(name="S1A_IW_3")[0]
    assert record.time == datetime(2022, 1, 3, 10, 30, tzinfo=UTC)
    assert record.footprint is not None and record.footprint.equals(index.find_records(name="S2B*")[0].footprint)


def test_bad_records_are_refused_and_nothing_is_created(index: EmbeddedIndex) -> None:
    with pytest.raises(InvalidInput, match="footprint"):
        index.create_records([new_record("A", 1), new_record("B", 2, footprint="POLYGON ((")])
    with pytest.raises(InvalidInput, match="longitude/latitude"):
        index.create_records([new_record("A", 1, footprint="POLYGON ((0 0, 500000 0, 500000 1, 0 0))")])
    with pytest.raises(InvalidInput, match="record name"):
        index.create_records([NewRecord(" ", datetime(2022, 1, 1, tzinfo=UTC), {}, "POINT (0 0)")])
    assert index.counts()["records"] == 0


def test_concurrent_ingestions_share_records(index: EmbeddedIndex) -> None:
    """Two posts of the same scenes at once: one record each, the other post reuses it."""
    batch = [new_record(f"S{i}", 1 + i % 20, {"n": str(i)}) for i in range(30)]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            results.append([r.id for r in index.create_records(batch)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results[0] == results[1] == results[2]
    assert index.counts()["records"] == 30


# -- datasets --------------------------------------------------------------------------------------


@pytest.fixture
def ready(index: EmbeddedIndex, tmp_path: Path) -> tuple[EmbeddedIndex, str, str, Path]:
    layer = _layer(index)
    record = index.create_records([new_record("S1A_IW_1", 1)])[0].id
    stored = np.arange(1, 16 * 16 + 1, dtype="uint16").reshape(16, 16)
    path = write_cog(tmp_path / "storage" / "vv.tif", stored, nodata=0)
    return index, record, layer, path


def test_indexing_twice_is_a_no_op(ready: tuple[EmbeddedIndex, str, str, Path]) -> None:
    index, record, layer, path = ready
    dataset = DatasetToIndex(str(path), record, layer, UINT16, -40, 10, layer="sigma0_VV")
    index.index_datasets([dataset, dataset])
    index.index_datasets([dataset])
    stored = index.datasets()
    assert len(stored) == 1
    assert index.counts()["containers"] == 1
    found = stored[0]
    assert (found.uri, found.record_id, found.instance_id, found.bands) == (str(path), record, layer, (1,))
    assert found.crs == "EPSG:32631"
    assert found.shape == (16, 16)
    assert found.transform == (20.0, 0.0, 360000.0, 0.0, -20.0, 4830000.0)
    assert 1.26 < found.footprint.centroid.x < 1.27 and 43.60 < found.footprint.centroid.y < 43.61
    assert found.mapping.real_min == -40 and found.mapping.real_max == 10


def test_a_conflicting_dataset_is_refused(ready: tuple[EmbeddedIndex, str, str, Path]) -> None:
    index, record, layer, path = ready
    index.index_datasets([DatasetToIndex(str(path), record, layer, UINT16, -40, 10)])
    with pytest.raises(Conflict, match=r"real_max 10.0 \(indexed\) vs 20.0"):
        index.index_datasets([DatasetToIndex(str(path), record, layer, UINT16, -40, 20)])
    with pytest.raises(Conflict, match="dformat"):
        index.index_datasets([DatasetToIndex(str(path), record, layer, DFormat.parse("uint16,0,0,1000"), -40, 10)])
    with pytest.raises(Conflict, match="given twice"):
        index.index_datasets(
            [
                DatasetToIndex(str(path), record, layer, UINT16, -40, 10, exponent=2),
                DatasetToIndex(str(path), record, layer, UINT16, -40, 10, exponent=3),
            ]
        )
    stored = index.datasets()
    assert len(stored) == 1 and stored[0].mapping.real_max == 10 and stored[0].mapping.exponent == 1


def test_the_file_is_checked_at_index_time(ready: tuple[EmbeddedIndex, str, str, Path], tmp_path: Path) -> None:
    index, record, layer, path = ready
    with pytest.raises(InvalidInput, match="the dformat says int16, the file holds uint16"):
        index.index_datasets([DatasetToIndex(str(path), record, layer, DFormat.parse("int16,0,1,100"), -40, 10)])
    with pytest.raises(InvalidInput, match=r"band\(s\) 2 requested, the file has 1"):
        index.index_datasets([DatasetToIndex(str(path), record, layer, UINT16, -40, 10, bands=(2,))])
    not_raster = tmp_path / "notes.tif"
    not_raster.write_text("not a raster")
    with pytest.raises(InvalidInput, match="not a readable raster"):
        index.index_datasets([DatasetToIndex(str(not_raster), record, layer, UINT16, -40, 10)])
    with pytest.raises(InvalidInput, match="not a readable raster"):
        index.index_datasets([DatasetToIndex(str(tmp_path / "missing.tif"), record, layer, UINT16, -40, 10)])
    with pytest.raises(NotFound, match="unknown record nope, instance nada"):
        index.index_datasets([DatasetToIndex(str(path), "nope", "nada", UINT16, -40, 10)])
    with pytest.raises(InvalidInput, match="exponent must be positive"):
        index.index_datasets([DatasetToIndex(str(path), record, layer, UINT16, -40, 10, exponent=0)])
    with pytest.raises(InvalidInput, match=r"2 band\(s\) given, the variable has 1"):
        index.index_datasets([DatasetToIndex(str(path), record, layer, UINT16, -40, 10, bands=(1, 1))])
    assert index.datasets() == []
    assert index.counts()["containers"] == 0


def test_shares_a_database_with_the_workflow(database_url: str, settings: Settings) -> None:
    """Own tables (index_*) and own Alembic history: both components migrate the same database."""
    from sqlalchemy import inspect

    from geocube_ingest.workflow import Workflow

    Workflow(database_url, settings=settings)
    index = EmbeddedIndex(database_url, settings=settings)
    tables = set(inspect(index.engine).get_table_names())
    assert {"aoi", "scene", "tile", "alembic_version_workflow", "alembic_version_index"} <= tables
    assert {"index_aoi", "index_record", "index_variable", "index_instance", "index_dataset"} <= tables
    index.create_records([new_record("A", 1)])
    assert index.counts()["records"] == 1
