"""The Geocube adapter, against a stand-in of the Airbus client with its method names and behaviours."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from types import ModuleType

import pytest

from geocube_ingest.errors import Conflict, InvalidInput, NotFound, RetriableError
from geocube_ingest.index.base import DatasetToIndex, DFormat, Index, processing_date_tag, record_batch
from geocube_ingest.index.factory import get_index
from geocube_ingest.index.geocube_adapter import GeocubeIndex
from geocube_ingest.settings import IndexSettings, Settings
from tests.index import fake_geocube
from tests.index.conftest import new_record


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> fake_geocube.Server:
    return fake_geocube.install(monkeypatch)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def geocube(server: fake_geocube.Server, sleeps: list[float]) -> GeocubeIndex:
    settings = Settings(
        index=IndexSettings.model_validate(
            {"backend": "geocube", "geocube_server": "127.0.0.1:8080", "geocube_token": "k3y"}
        )
    )
    index = get_index(settings)
    assert isinstance(index, GeocubeIndex) and isinstance(index, Index)
    assert index.client.api_key == "k3y" and index.client.uri == "127.0.0.1:8080"
    index._sleep = sleeps.append
    return index


def _layer(geocube: GeocubeIndex) -> str:
    geocube.create_variable("Sigma0VV", "float32,nan,-50,10", unit="dB", exist_ok=True)
    return geocube.instantiate("Sigma0VV", "RNKell", {"graph": "S1Backscatter"}, exist_ok=True).id


def test_without_the_client_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "geocube", None)
    settings = Settings(index=IndexSettings.model_validate({"backend": "geocube", "geocube_server": "h:1"}))
    with pytest.raises(InvalidInput, match="Airbus Geocube Python client"):
        get_index(settings)


def test_the_unrelated_pypi_geocube_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "geocube", ModuleType("geocube"))  # no Client: not Airbus's
    with pytest.raises(InvalidInput, match="unrelated project"):
        get_index(Settings(index=IndexSettings.model_validate({"backend": "geocube", "geocube_server": "h:1"})))


def test_a_server_address_is_required(server: fake_geocube.Server) -> None:
    with pytest.raises(InvalidInput, match="geocube_server"):
        get_index(Settings(index=IndexSettings.model_validate({"backend": "geocube"})))


def test_variables_and_layers(geocube: GeocubeIndex) -> None:
    created = geocube.create_variable("Sigma0VV", "float32,nan,-50,10", unit="dB", resampling="near")
    assert created.dformat.same_as(DFormat.parse("float32,nan,-50,10")) and created.unit == "dB"
    with pytest.raises(Conflict):
        geocube.create_variable("Sigma0VV", "float32,nan,-50,10")
    assert geocube.create_variable("Sigma0VV", "uint8,0,0,1", exist_ok=True).id == created.id
    instance = geocube.instantiate("Sigma0VV", "RNKell", {"graph": "x"})
    with pytest.raises(Conflict):
        geocube.instantiate("Sigma0VV", "RNKell")
    assert geocube.instantiate("Sigma0VV", "RNKell", {"graph": "x"}, exist_ok=True) == instance
    assert [v.name for v in geocube.list_variables("Sigma*")] == ["Sigma0VV"]
    assert geocube.variable("Sigma0VV").instance("RNKell") == instance

    assert geocube.resolve_layers(
        {"vv": {"variable": "Sigma0VV", "instance": "RNKell"}, "vv2": {"instance_id": instance.id}}
    ) == {"vv": instance.id, "vv2": instance.id}
    with pytest.raises(NotFound) as error:
        geocube.resolve_layers(
            {
                "a": {"variable": "Sigma0VV", "instance": "Other"},
                "b": {"variable": "Coherence", "instance": "x"},
                "c": {"instance_id": "nope"},
            }
        )
    assert all(part in str(error.value) for part in ("a (Sigma0VV:Other)", "b (Coherence:x)", "c (instance id nope)"))
    with pytest.raises(NotFound):
        geocube.variable("Coherence")


def test_records_are_reused_aois_shared_and_rolled_back(geocube: GeocubeIndex, server: fake_geocube.Server) -> None:
    first = geocube.create_records([new_record("S1A_1", 1, {"k": "1"}), new_record("S1A_2", 2, {"k": "1"})])
    assert [r.created for r in first] == [True, True]
    assert len(server.aois) == 1  # same footprint: the AOI id was taken from ALREADY_EXISTS
    geocube.add_records_tags([first[0].id], processing_date_tag())
    again = geocube.create_records([new_record("S1A_1", 1, {"k": "1"}), new_record("S1A_1", 1, {"k": "2"})])
    assert again[0].id == first[0].id and not again[0].created  # processingDate ignored
    assert again[1].created
    assert again[0].record.time == datetime(2022, 1, 1, 10, 30, tzinfo=UTC)

    with (
        pytest.raises(RuntimeError),
        record_batch(geocube, [new_record("S1A_1", 1, {"k": "1"}), new_record("S1A_3", 3)]),
    ):
        raise RuntimeError("post failed")
    assert sorted(r.name for r in geocube.find_records()) == ["S1A_1", "S1A_1", "S1A_2"]
    assert [r.name for r in geocube.find_records(name="S1A_2")] == ["S1A_2"]
    assert len(geocube.find_records(tags={"k": "1"})) == 2
    assert geocube.find_records(footprint="POINT (50 50)") == []
    assert len(geocube.find_records(ids=[first[1].id])) == 1


def test_indexing_is_managed_idempotent_and_retried(
    geocube: GeocubeIndex, server: fake_geocube.Server, sleeps: list[float]
) -> None:
    instance = _layer(geocube)
    record = geocube.create_records([new_record("S1A_1", 1)])[0].id
    fmt = DFormat.parse("int16,-32768,-30000,30000")
    datasets = [
        DatasetToIndex("s3://bucket/AOI/S1A_1/tiles/b1/vv.tif", record, instance, fmt, -50, 10),
        DatasetToIndex("s3://bucket/AOI/S1A_1/tiles/b2/vv.tif", record, instance, fmt, -50, 10, exponent=2.0),
    ]
    server.fail_index = 2  # the server drops the first two calls
    geocube.index_datasets(datasets)
    assert sleeps == [15.0, 15.0]
    assert set(server.containers) == {d.uri for d in datasets}
    container = server.containers[datasets[1].uri]
    assert container.managed is True
    dataset = container.datasets[0]
    assert (dataset.min_out, dataset.max_out, dataset.exponent, dataset.bands) == (-50.0, 10.0, 2.0, [1])
    assert dataset.dformat == fake_geocube.DataFormat("int16", -30000.0, 30000.0, -32768.0)

    geocube.index_datasets(datasets)  # ALREADY_EXISTS: success
    assert len(server.containers) == 2

    with pytest.raises(Conflict, match="records have datasets"):
        geocube.delete_records([record])
    assert len(geocube.find_records()) == 1


def test_indexing_gives_up_after_three_tries(
    geocube: GeocubeIndex, server: fake_geocube.Server, sleeps: list[float]
) -> None:
    instance = _layer(geocube)
    record = geocube.create_records([new_record("S1A_1", 1)])[0].id
    server.fail_index = 5
    dataset = DatasetToIndex("gs://b/x.tif", record, instance, DFormat.parse("uint8,0,1,255"), 0, 1)
    with pytest.raises(RetriableError, match="after 3 tries"):
        geocube.index_datasets([dataset])
    assert sleeps == [15.0, 15.0]
    assert server.containers == {}


def test_unknown_record_is_not_retried(geocube: GeocubeIndex, sleeps: list[float]) -> None:
    instance = _layer(geocube)
    dataset = DatasetToIndex("gs://b/x.tif", "missing", instance, DFormat.parse("uint8,0,1,255"), 0, 1)
    with pytest.raises(NotFound):
        geocube.index_datasets([dataset])
    assert sleeps == []
