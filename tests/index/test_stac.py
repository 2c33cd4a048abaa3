"""STAC publishing: valid items and collection, readable by odc-stac and stackstac, pushed to a STAC API.

Validation here is offline: the STAC core schemas (Item, Collection 1.1.0) ship with pystac
and are checked with pystac's JSON-schema validator; the extension schemas (projection
v2.0.0, raster v1.1.0, eo v1.1.0) are not shipped by any installed package and cannot be
fetched without internet, so the extension fields are checked through pystac's extension
classes and by loading the items with odc-stac and stackstac.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import numpy as np
import odc.stac
import pystac
import pytest
import shapely
import stackstac
from pystac import STACObjectType
from pystac.extensions.eo import EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from pystac.validation.stac_validator import JsonSchemaSTACValidator

from geocube_ingest import storage
from geocube_ingest.errors import InvalidInput, TemporaryError
from geocube_ingest.index.base import DFormat, IndexedDataset, Instance, Record, ValueMapping, Variable
from geocube_ingest.index.embedded import EmbeddedIndex
from geocube_ingest.index.stac import Layer, build_item, collection_href, publish_collection, read_items
from geocube_ingest.settings import IndexSettings, Settings
from tests.index.conftest import new_record
from tests.index.layers import ALL, NDVI, RAIN, SIGMA0, LayerSpec, prepare, real_values, write_layer
from tests.index.stac_api import StacApi, running_stac_api
from tests.silent import Mode, silent_server

AOI = "Toulouse"


@dataclass
class Published:
    index: EmbeddedIndex
    settings: Settings
    records: list[str]
    reals: dict[tuple[str, str], np.ndarray]  # (record id, layer) → real values written
    collection: str


@pytest.fixture
def published(sqlite_index: EmbeddedIndex, settings: Settings) -> Published:
    index = sqlite_index
    instances = prepare(index)
    created = index.create_records(
        [
            new_record("S2A_MSIL1C_20220101", 1, {"constellation": "SENTINEL2", "cloudCoverPercentage": "12.5"}),
            new_record("S2B_MSIL1C_20220102", 2, {"constellation": "SENTINEL2"}),
        ]
    )
    root = Path(settings.resolved_storage_uri) / AOI
    reals: dict[tuple[str, str], np.ndarray] = {}
    datasets = []
    for seed, record in enumerate(created):
        folder = root / record.record.name / "tiles" / record.record.name
        for spec in ALL:
            real = real_values(spec, seed)
            reals[(record.id, spec.layer)] = real
            datasets.append(write_layer(folder, spec, real, record.id, instances[spec.layer]))
    index.index_datasets(datasets)
    result = publish_collection(index, AOI)
    assert len(result.items) == 2 and result.removed == [] and result.pushed == 0
    return Published(index, settings, [r.id for r in created], reals, result.collection)


def _item_json(published: Published, name: str) -> dict:
    path = Path(published.collection).parent / "items" / f"{name}.json"
    return json.loads(path.read_text())


def test_items_and_collection_are_valid_stac(published: Published) -> None:
    validator = JsonSchemaSTACValidator()
    collection_dict = json.loads(Path(published.collection).read_text())
    validator.validate_core(collection_dict, STACObjectType.COLLECTION, "1.1.0", href=published.collection)
    collection = pystac.Collection.from_file(published.collection)
    items = list(collection.get_items())
    assert sorted(i.id for i in items) == ["S2A_MSIL1C_20220101", "S2B_MSIL1C_20220102"]
    start, end = collection.extent.temporal.intervals[0]
    assert start is not None and start.isoformat() == "2022-01-01T10:30:00+00:00"
    assert end is not None and end.isoformat() == "2022-01-02T10:30:00+00:00"
    assert set(collection.item_assets) == {spec.key for spec in ALL}
    assert collection.item_assets[NDVI.key].title == "NDVI (S2)"
    west, south, east, north = collection.extent.spatial.bboxes[0]
    assert 1.26 < west < east < 1.29 and 43.6 < south < north < 43.62
    for item in items:
        validator.validate_core(item.to_dict(), STACObjectType.ITEM, "1.1.0", href=item.get_self_href())
        assert item.collection_id == AOI
        assert ProjectionExtension.has_extension(item) and RasterExtension.has_extension(item)
        assert set(item.assets) == {spec.key for spec in ALL}
        for spec in ALL:
            asset = item.assets[spec.key]
            assert asset.media_type == pystac.MediaType.COG and asset.roles == ["data"]
            proj = ProjectionExtension.ext(asset)
            assert proj.code == "EPSG:32631" and proj.shape == [48, 64]
            assert proj.bbox == [360000.0, 4829040.0, 361280.0, 4830000.0]
            raw = _item_json(published, item.id)["assets"][spec.key]
            assert (raw["proj:code"], raw["proj:epsg"]) == ("EPSG:32631", 32631)  # both, for every reader
            assert proj.transform == [20.0, 0.0, 360000.0, 0.0, -20.0, 4830000.0]
            band = RasterExtension.ext(asset).bands[0]  # type: ignore[index]
            fmt = spec.mapping.dformat
            assert str(band.data_type) == fmt.dtype and band.unit == (spec.unit or None)
            assert not EOExtension.has_extension(item) or EOExtension.ext(asset).bands is None  # not optical bands
            if np.isnan(fmt.nodata):
                assert asset.extra_fields["raster:bands"][0]["nodata"] == "nan"
            else:
                assert band.nodata == fmt.nodata
            if spec.exponent == 1:
                assert band.scale == pytest.approx(spec.mapping.scale)
                assert band.offset == pytest.approx(spec.mapping.offset)
            else:  # not a linear mapping: no scale/offset, the geocube fields say how
                assert band.scale is None and band.offset is None
                assert asset.extra_fields["geocube:exponent"] == 2.0
    first = next(i for i in items if i.id == "S2A_MSIL1C_20220101")
    second = next(i for i in items if i.id == "S2B_MSIL1C_20220102")
    assert EOExtension.has_extension(first) and EOExtension.ext(first).cloud_cover == 12.5
    assert not EOExtension.has_extension(second)
    assert first.properties["geocube:record_id"] == published.records[0]
    assert first.properties["constellation"] == "sentinel2"
    links = _links(published, first.id)  # as written: relative, so the folder can move
    assert sorted(link.rel for link in links) == ["collection", "parent", "root"]
    assert {link.href for link in links} == {"../collection.json"}


def _links(published: Published, name: str) -> list[pystac.Link]:
    return [pystac.Link.from_dict(link) for link in _item_json(published, name)["links"]]


# Sentinel-2 red, as ExtractS2Bands stores it, indexed as variable "Reflectance", instance "B04".
RED = LayerSpec("B04", "Reflectance", "float32,nan,0,1", "B04", "uint16,0,0,10000", 0, 1)


def test_an_optical_band_is_an_eo_band_odc_stac_loads_by_common_name(
    sqlite_index: EmbeddedIndex, settings: Settings
) -> None:
    instance = prepare(sqlite_index, (RED,))[RED.layer]
    record = sqlite_index.create_records([new_record("S2B_MSIL2A_20220105", 5, {"constellation": "SENTINEL2"})])[0]
    real = real_values(RED, seed=5)
    folder = Path(settings.resolved_storage_uri) / AOI / record.record.name / "tiles" / "T31TCJ"
    sqlite_index.index_datasets([write_layer(folder, RED, real, record.id, instance)])
    collection = publish_collection(sqlite_index, AOI).collection
    JsonSchemaSTACValidator().validate_core(
        json.loads(Path(collection).read_text()), STACObjectType.COLLECTION, "1.1.0"
    )
    (item,) = read_items(collection, settings)
    asset = item.assets[RED.key]
    (band,) = EOExtension.ext(asset).bands or []
    assert (band.name, band.common_name, band.center_wavelength) == ("B04", "red", 0.665)
    assert not EOExtension.has_extension(item) or EOExtension.ext(item).cloud_cover is None
    data = odc.stac.load([item], bands=["red"], chunks={})["red"].compute()  # the EO common name as an alias
    stored = data.values[0].astype("float64")
    values = np.where(stored == 0, np.nan, stored * 1e-4)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(real))
    assert np.nanmax(np.abs(values - real)) <= RED.tolerance()
    written = json.loads(Path(item.get_self_href() or "").read_text())
    stacked = stackstac.stack([written], assets=[RED.key], rescale=True, dtype="float64", fill_value=np.nan)
    assert stacked.common_name.item() == "red" and stacked.center_wavelength.item() == 0.665
    np.testing.assert_allclose(stacked.compute().values[0, 0], values, atol=1e-9)


def test_a_broken_item_fails_validation(published: Published) -> None:
    """The validator used above does reject what is not STAC."""
    document = _item_json(published, "S2A_MSIL1C_20220101")
    del document["properties"]["datetime"]
    with pytest.raises(pystac.STACValidationError):
        JsonSchemaSTACValidator().validate_core(document, STACObjectType.ITEM, "1.1.0")


def _expected(published: Published, spec: LayerSpec) -> np.ndarray:
    return np.stack([published.reals[(record, spec.layer)] for record in published.records])


@pytest.mark.parametrize("spec", [NDVI, SIGMA0], ids=lambda s: s.layer)
def test_odc_stac_reads_the_written_pixels(published: Published, spec: LayerSpec) -> None:
    items = read_items(published.collection, published.settings)
    data = odc.stac.load(items, bands=[spec.key], chunks={})[spec.key].compute()
    assert data.shape == (2, 48, 64)
    band = items[0].assets[spec.key].extra_fields["raster:bands"][0]
    raw = data.values.astype("float64")
    real = np.where(raw == band["nodata"], np.nan, raw * band["scale"] + band["offset"])
    expected = _expected(published, spec)
    np.testing.assert_array_equal(np.isnan(real), np.isnan(expected))
    assert np.nanmax(np.abs(real - expected)) <= spec.tolerance()


@pytest.mark.parametrize("spec", [NDVI, SIGMA0], ids=lambda s: s.layer)
def test_stackstac_reads_the_written_pixels(published: Published, spec: LayerSpec) -> None:
    # The documents as written (pystac drops the deprecated proj:epsg when it reads them).
    items = [_item_json(published, name) for name in ("S2A_MSIL1C_20220101", "S2B_MSIL1C_20220102")]
    data = stackstac.stack(items, assets=[spec.key], rescale=True, dtype="float64", fill_value=np.nan)
    values = data.sel(band=spec.key).compute().values
    assert values.shape == (2, 48, 64)
    expected = _expected(published, spec)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(expected))
    assert np.nanmax(np.abs(values - expected)) <= spec.tolerance()


def test_republishing_is_idempotent_and_removes_stale_items(published: Published, tmp_path: Path) -> None:
    index, settings = published.index, published.settings
    before = {p.name: p.read_text() for p in (Path(published.collection).parent / "items").iterdir()}
    again = publish_collection(index, AOI, settings=settings)
    assert {Path(h).name: Path(h).read_text() for h in again.items} == before and again.removed == []

    # A second burst of the first record (same instances, another tile folder): the record now
    # has one item per tile, and its former single item goes.
    record = published.records[0]
    instance = index.resolve_layers({"vv": {"variable": SIGMA0.variable, "instance": SIGMA0.instance}})["vv"]
    folder = Path(settings.resolved_storage_uri) / AOI / "S2A_MSIL1C_20220101" / "tiles" / "burst_2"
    index.index_datasets([write_layer(folder, SIGMA0, real_values(SIGMA0, 7), record, instance)])
    result = publish_collection(index, AOI, record_ids=[record], settings=settings)
    assert sorted(Path(h).name for h in result.items) == [
        "S2A_MSIL1C_20220101_1.json",
        "S2A_MSIL1C_20220101_burst_2.json",
    ]
    assert [Path(h).name for h in result.removed] == ["S2A_MSIL1C_20220101.json"]
    assert not Path(result.removed[0]).exists()
    ids = sorted(i.id for i in read_items(published.collection, settings))
    assert ids == ["S2A_MSIL1C_20220101_1", "S2A_MSIL1C_20220101_burst_2", "S2B_MSIL1C_20220102"]


def test_invalid_aoi_names_are_refused(published: Published) -> None:
    with pytest.raises(InvalidInput, match="invalid AOI name"):
        publish_collection(published.index, "../escape")
    assert collection_href(AOI, settings=published.settings) == published.collection


def test_publishing_to_object_storage_goes_through_storage(published: Published, tmp_path: Path) -> None:
    """Items are written with storage.put_bytes: a file:// URL root works like a path."""
    url = f"file://{tmp_path / 'other'}"
    result = publish_collection(published.index, AOI, storage_uri=url, settings=published.settings)
    assert result.items == []  # no dataset under that root
    document = json.loads(storage.read_bytes(result.collection, settings=published.settings))
    JsonSchemaSTACValidator().validate_core(document, STACObjectType.COLLECTION, "1.1.0")
    # The AOI's items stay where they were published: the links lead to them, not into this root.
    collection = pystac.Collection.from_dict(document)
    collection.set_self_href(result.collection)
    items = [link.get_absolute_href() or "" for link in collection.get_links(pystac.RelType.ITEM)]
    assert len(items) == 2 and all(Path(href).exists() for href in items)


# -- STAC API ----------------------------------------------------------------------------------


def _with_api(settings: Settings, url: str, token: str, **more: Any) -> Settings:
    values = {"stac_api_url": url, "stac_api_token": token, "stac_api_backoff_seconds": 0.01, **more}
    index = IndexSettings.model_validate({**settings.index.model_dump(), **values})
    return settings.model_copy(update={"index": index})


@pytest.fixture
def stac_api() -> Iterator[StacApi]:
    with running_stac_api(token="s3cret-token") as api:
        yield api


def test_items_are_pushed_to_a_stac_api(published: Published, stac_api: StacApi) -> None:
    settings = _with_api(published.settings, stac_api.url, "s3cret-token")
    stac_api.fail_next = 1  # one 503 first: retried
    result = publish_collection(published.index, AOI, settings=settings)
    assert result.pushed == 2
    assert set(stac_api.collections) == {AOI}
    assert sorted(stac_api.items[AOI]) == ["S2A_MSIL1C_20220101", "S2B_MSIL1C_20220102"]
    pushed = stac_api.items[AOI]["S2A_MSIL1C_20220101"]
    assert pushed["assets"][NDVI.key]["href"].endswith("/ndvi.tif")
    assert stac_api.posts == 3 and stac_api.puts == 0

    publish_collection(published.index, AOI, settings=settings)  # again: 409 then PUT
    assert stac_api.puts == 3
    assert len(stac_api.items[AOI]) == 2


def test_a_refused_push_names_the_problem_without_the_token(published: Published, stac_api: StacApi) -> None:
    settings = _with_api(published.settings, stac_api.url, "wrong-token")
    with pytest.raises(InvalidInput) as error:
        publish_collection(published.index, AOI, settings=settings)
    assert "HTTP 401" in str(error.value) and "wrong-token" not in str(error.value)


def test_an_unavailable_stac_api_is_a_temporary_error(published: Published, stac_api: StacApi) -> None:
    settings = _with_api(published.settings, stac_api.url, "s3cret-token")
    stac_api.fail_next = 10
    with pytest.raises(TemporaryError, match=r"HTTP 503.*gave up after 4 attempts"):
        publish_collection(published.index, AOI, settings=settings)
    assert stac_api.items == {}
    assert RAIN.key in _item_json(published, "S2A_MSIL1C_20220101")["assets"]


@pytest.mark.parametrize("retry_after", ["1", "date"])
def test_a_429_is_retried_after_the_servers_retry_after(
    published: Published, stac_api: StacApi, retry_after: str
) -> None:
    """Seconds or an HTTP date: the push waits at least that long (it used to retry at once)."""
    settings = _with_api(published.settings, stac_api.url, "s3cret-token")
    value = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True) if retry_after == "date" else "1"
    stac_api.fail_next, stac_api.fail_status, stac_api.fail_headers = 1, 429, {"Retry-After": value}
    started = time.monotonic()
    assert publish_collection(published.index, AOI, settings=settings).pushed == 2
    assert time.monotonic() - started >= 0.9  # not before the server said (an HTTP date has 1 s resolution)


def test_a_retry_after_beyond_the_longest_back_off_gives_up_at_once(published: Published, stac_api: StacApi) -> None:
    settings = _with_api(published.settings, stac_api.url, "s3cret-token", stac_api_backoff_max_seconds=5)
    stac_api.fail_next, stac_api.fail_status, stac_api.fail_headers = 5, 429, {"Retry-After": "3600"}
    with pytest.raises(TemporaryError, match="gave up after 1 attempt; the server asks to wait 3600 s") as caught:
        publish_collection(published.index, AOI, settings=settings)
    assert caught.value.retry_after == 3600
    assert stac_api.fail_next == 4


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["silent", "stall"])
def test_a_silent_stac_api_ends_the_push_in_a_temporary_error(published: Published, mode: Mode) -> None:
    """The push's timeout applies (1 s here): no answer, or an answer that stalls, is temporary."""
    with silent_server(mode) as server:
        settings = _with_api(published.settings, server.url(), "s3cret-token", stac_api_timeout_seconds=1.0)
        with pytest.raises(TemporaryError, match="STAC API POST /collections: ReadTimeout"):
            publish_collection(published.index, AOI, settings=settings)


def _dataset(instance: Instance, bands: int = 1, crs: str = "EPSG:32631") -> IndexedDataset:
    return IndexedDataset(
        id="d",
        record_id="r",
        instance_id=instance.id,
        uri=f"s3://bucket/a/{instance.name}.tif",
        bands=tuple(range(1, bands + 1)),
        mapping=ValueMapping(DFormat.parse("uint16,0,1,10000"), 0, 1),
        crs=crs,
        transform=(30.0, 0.0, 500000.0, 0.0, -30.0, 4800000.0),
        shape=(10, 20),
        footprint=shapely.box(1.0, 43.0, 1.1, 43.1),
    )


def test_which_layers_are_eo_bands() -> None:
    """A band of the record's sensor, or an EO common name, in the operator's names; nothing else."""
    fmt = DFormat.parse("float32,nan,0,1")
    b5, ndvi, rgb = Instance("i1", "B5"), Instance("i2", "L8"), Instance("i3", "v1")
    layers = {
        b5.id: Layer(Variable("v1", "Reflectance", fmt, instances=(b5,)), b5),
        ndvi.id: Layer(Variable("v2", "NDVI", fmt, instances=(ndvi,)), ndvi),
        rgb.id: Layer(Variable("v3", "Landsat/RGN", fmt, bands=("Red", "green", "nir"), instances=(rgb,)), rgb),
    }
    record = Record(
        "r", "LC08_L2SP_033032_20231008", datetime(2023, 10, 8, tzinfo=UTC), {"constellation": "LANDSAT"}, "a"
    )
    wkt = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
    datasets = [_dataset(b5), _dataset(ndvi, crs=wkt), _dataset(rgb, bands=3)]
    item = build_item(record, "x", datasets, layers, AOI)
    (nir,) = EOExtension.ext(item.assets["Reflectance_B5"]).bands or []
    assert (nir.name, nir.common_name, nir.center_wavelength) == ("B5", "nir08", 0.87)
    assert [b.common_name for b in EOExtension.ext(item.assets["Landsat/RGN_v1"]).bands or []] == [
        "red",
        "green",
        "nir",
    ]
    assert "eo:bands" not in item.assets["NDVI_L8"].extra_fields
    proj = ProjectionExtension.ext(item.assets["NDVI_L8"])
    assert proj.code is None and proj.wkt2 == wkt and "proj:epsg" not in item.assets["NDVI_L8"].extra_fields
    assert item.properties["constellation"] == "landsat" and "eo:cloud_cover" not in item.properties
