"""STAC API providers through pystac-client against local servers holding recorded Earth Search, Planetary
Computer and CDSE answers: queries sent, tags, paging, retries and errors."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

import pytest

from geocube_ingest.catalogue import CatalogueUnavailable, SearchFailed, SearchUnsupported, search_scenes
from tests.catalogue.conftest import settings_with
from tests.catalogue.helpers import s2_payload

# s2_payload's area and scene type over the recorded window of the local APIs.
payload = partial(
    s2_payload, name="Test", start_time="2024-03-30T00:00:00Z", end_time="2024-04-25T00:00:00Z", is_retriable=False
)


def searches(api) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in api.server.requests if r.path.endswith("/search")]


def test_earth_search_sends_the_query_extension_and_checks_results(earth_search) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base})
    area = payload(
        scene_type={"constellation": "S2", "parameters": {"producttype": "L2A", "cloudcoverpercentage": "[0 TO 30]"}}
    )
    result = search_scenes(area, settings=settings)
    [body] = searches(earth_search)
    assert body["collections"] == ["sentinel-2-c1-l2a"]
    assert body["query"] == {"eo:cloud_cover": {"gte": 0.0, "lte": 30.0}}
    assert body["datetime"] == "2024-03-30T00:00:00Z/2024-04-25T00:00:00Z"
    assert body["intersects"]["type"] == "Polygon"
    covers = sorted(float(s.tags["cloudCoverPercentage"]) for s in result.scenes)
    assert covers == [0.044906, 0.118322, 0.881778, 11.954951, 22.001417]
    assert result.provider == "earth-search" and result.next is False


def test_earth_search_tags_name_and_metadata(earth_search) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base})
    area = payload(
        wkt="POLYGON ((-21 62.9, -20.8 62.9, -20.8 63, -21 63, -21 62.9))",
        start_time="2024-02-06T00:00:00Z",
        end_time="2024-02-07T00:00:00Z",
        scene_type={"constellation": "sentinel-2", "parameters": {"producttype": "L1C"}},
    )
    [scene] = search_scenes(area, settings=settings).scenes
    assert scene.source_id == "S2B_MSIL1C_20240206T131259_N0510_R081_T27VWK_20240206T133903"
    assert scene.uuid == "S2B_27VWK_20240206_0_L1C"
    assert scene.tags == {
        "sourceID": scene.source_id,
        "uuid": "S2B_27VWK_20240206_0_L1C",
        "constellation": "SENTINEL2",
        "satellite": "SENTINEL2B",
        "orbit": "36143",
        "relativeOrbit": "81",
        "orbitDirection": "",
        "productType": "S2MSI1C",
        "ingestionDate": "2024-02-06T13:39:03.000000Z",
        "cloudCoverPercentage": "9.93604802923519",
    }
    assert scene.metadata["collection"] == "sentinel-2-l1c"
    assert scene.metadata["stac_item"].endswith("/collections/sentinel-2-l1c/items/S2B_27VWK_20240206_0_L1C")
    assert set(scene.metadata["assets"]) >= {"red", "nir", "granule_metadata"}


def test_recorded_pages_are_followed_by_their_next_tokens(cloudcover_replay) -> None:
    """Earth Search's two recorded /search pages: page 1 is reached through page 0's recorded `next` token."""
    settings = settings_with({"preset": "earth-search", "url": cloudcover_replay.server.url + "/v1"})
    area = payload(
        wkt="POLYGON ((-61 -61, -38 -61, -38 -4, -61 -4, -61 -61))",
        start_time="2025-07-31T00:00:00Z",
        end_time="2025-08-01T00:00:00Z",
    )
    first = search_scenes(area, settings=settings, page=0, limit=10)
    # S1 GRD and L1C items of the page are not what was asked; c1-l2a and l2a copies of a product are one scene.
    assert [s.tags["sourceID"][-22:-16] for s in first.scenes] == ["T24MVV", "T24MUV", "T20EPT"]  # by date
    assert first.next is True
    cloudcover_replay.server.reset_counters()
    second = search_scenes(area, settings=settings, page=1, limit=10)
    tiles = [s.source_id.split("_")[5] for s in second.scenes]
    assert sorted(tiles) == ["T24MUA", "T24MVV", "T24MWV", "T24MXV"]
    assert second.next is True  # the recorded second page has a next link and 115912758 matches
    bodies = [r.json() for r in cloudcover_replay.server.requests if r.method == "POST"]
    assert bodies[1]["next"] == "2025-07-31T13:03:25.899000Z,S2B_T24MVV_20250731T130245_L2A,sentinel-2-c1-l2a"


def test_paging_with_the_local_api(earth_search) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base})
    pages = [search_scenes(payload(), settings=settings, page=p, limit=3) for p in range(4)]
    assert [len(p.scenes) for p in pages] == [3, 3, 3, 1]
    assert [p.next for p in pages] == [True, True, True, False]
    names = [s.source_id for p in pages for s in p.scenes]
    assert len(set(names)) == 10
    everything = search_scenes(payload(), settings=settings)
    assert sorted(names) == sorted(s.source_id for s in everything.scenes)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_temporary_errors_are_retried(earth_search, status: int) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base}, max_retries=3)
    earth_search.server.fail(status, times=2, path="/search")
    result = search_scenes(payload(), settings=settings)
    assert len(result.scenes) == 10
    assert len([r for r in earth_search.server.requests if r.path.endswith("/search")]) == 3


@pytest.mark.parametrize(
    ("status", "max_retries", "error", "message", "tries"),
    [
        pytest.param(400, 3, SearchFailed, "earth-search: HTTP 400", 1, id="other-client-errors-are-not-retried"),
        pytest.param(503, 1, CatalogueUnavailable, "HTTP 503", 2, id="retries-exhausted-is-temporary"),
    ],
)
def test_failed_searches(
    earth_search, status: int, max_retries: int, error: type[Exception], message: str, tries: int
) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base}, max_retries=max_retries)
    earth_search.server.fail(status, times=10, path="/search")
    with pytest.raises(error) as caught:
        search_scenes(payload(), settings=settings)
    assert message in str(caught.value)
    assert len(searches(earth_search)) == tries


def test_the_next_provider_answers_when_one_is_down(earth_search) -> None:
    settings = settings_with(
        {"name": "down", "kind": "stac", "url": "http://127.0.0.1:9/v1"},
        {"preset": "earth-search", "url": earth_search.base},
        max_retries=0,
    )
    result = search_scenes(payload(), settings=settings)
    assert result.provider == "earth-search" and len(result.scenes) == 10


def test_errors_of_every_provider_are_reported_together(earth_search, planetary_computer) -> None:
    settings = settings_with(
        {"name": "down", "kind": "stac", "url": "http://127.0.0.1:9/v1"},
        {"preset": "earth-search", "url": earth_search.base},
        {"preset": "planetary-computer", "url": planetary_computer.base},
        max_retries=0,
    )
    earth_search.server.fail(500, times=5, path="/search")
    planetary_computer.server.fail(401, times=5, path="/search")
    with pytest.raises(CatalogueUnavailable) as caught:
        search_scenes(payload(), settings=settings)
    message = str(caught.value)
    assert message.startswith("no catalogue provider answered: down: ")
    assert "; earth-search: HTTP 500" in message and "; planetary-computer: HTTP 401" in message
    assert [name for name, _ in caught.value.errors] == ["down", "earth-search", "planetary-computer"]


def test_a_product_type_without_collection_is_an_error_naming_it(earth_search) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base})
    area = payload(scene_type={"constellation": "sentinel1", "parameters": {"producttype": "SLC"}})
    with pytest.raises(SearchUnsupported) as caught:
        search_scenes(area, settings=settings)
    assert "earth-search has no SENTINEL1 collection for producttype 'SLC' (it has: GRD)" in str(caught.value)
    assert searches(earth_search) == []


def test_planetary_computer_gets_cql2_and_its_spellings_are_normalised(planetary_computer) -> None:
    settings = settings_with({"preset": "planetary-computer", "url": planetary_computer.base})
    area = payload(
        start_time="2024-08-20T00:00:00Z",
        end_time="2024-08-30T00:00:00Z",
        scene_type={
            "constellation": "sentinel2",
            "parameters": {"producttype": "L2A", "cloudcoverpercentage": "[0 TO 60]"},
        },
    )
    result = search_scenes(area, settings=settings)
    [body] = searches(planetary_computer)
    assert body["filter-lang"] == "cql2-json"
    assert body["filter"] == {
        "op": "and",
        "args": [
            {"op": ">=", "args": [{"property": "eo:cloud_cover"}, 0.0]},
            {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 60.0]},
        ],
    }
    [scene] = result.scenes  # the 2024-08-25 item (48.7 %); 2024-08-23 has 66.8 %
    assert scene.source_id == "S2B_MSIL2A_20240825T173909_N0511_R098_T13TDE_20240825T215747"
    assert scene.tags["satellite"] == "SENTINEL2B" and scene.tags["relativeOrbit"] == "98"
    assert scene.tags["orbitDirection"] == "DESCENDING"


def test_planetary_computer_sentinel1_grd(planetary_computer) -> None:
    settings = settings_with({"preset": "planetary-computer", "url": planetary_computer.base})
    area = payload(
        wkt="POLYGON ((-66 -61, -64 -61, -64 -59, -66 -59, -66 -61))",
        start_time="2022-05-05T00:00:00Z",
        end_time="2022-05-06T00:00:00Z",
        scene_type={
            "constellation": "sentinel1",
            "parameters": {"producttype": "GRD", "sensoroperationalmode": "EW", "polarisationmode": "HH"},
        },
    )
    result = search_scenes(area, settings=settings)
    [body] = searches(planetary_computer)
    assert body["filter"] == {"op": "=", "args": [{"property": "sar:instrument_mode"}, "EW"]}
    [scene] = result.scenes
    assert scene.tags["polarisationMode"] == "HH" and scene.tags["relativeOrbit"] == "135"
    assert scene.tags["orbit"] == "43082" and scene.tags["sliceNumber"] == "3"
    assert scene.tags["satellite"] == "SENTINEL1A" and scene.tags["productType"] == "GRD"


def test_cdse_stac_sentinel1_slc_lists_its_annotation_assets(cdse_stac) -> None:
    settings = settings_with({"preset": "cdse-stac", "url": cdse_stac.base})
    area = payload(
        wkt="POLYGON ((-90 20, -86 20, -86 23, -90 23, -90 20))",
        start_time="2025-01-03T00:00:00Z",
        end_time="2025-01-05T00:00:00Z",
        scene_type={"constellation": "sentinel1", "parameters": {"relativeorbitnumber": "165"}},
    )
    result = search_scenes(area, settings=settings)
    [body] = searches(cdse_stac)
    assert body["collections"] == ["sentinel-1-slc"]
    [scene] = result.scenes
    assert scene.source_id == "S1A_IW_SLC__1SDV_20250104T000000_20250104T000027_057287_070C52_C1A6"
    assert scene.tags["orbitDirection"] == "ASCENDING" and scene.tags["polarisationMode"] == "VV VH"
    assert scene.tags["orbit"] == "57287" and scene.tags["productType"] == "SLC"
    assert len(scene.metadata["annotations"]) == 6  # 3 swaths x 2 polarisations
    assert all("/annotation/" in href for href in scene.metadata["annotations"])


def test_unusable_items_are_reported_not_fatal(serve, fixtures_dir, earth_search_landing) -> None:
    from tests.catalogue.conftest import fixture_items
    from tests.catalogue.servers import StacApi

    items = fixture_items(
        fixtures_dir, "planetary_computer/item_sentinel-1-rtc_S1A_IW_GRDH_1SDV_20191215T003835_rtc.json"
    )
    good = fixture_items(fixtures_dir, "earth_search/itemcollection_sentinel-2-c1-l2a_T13TDE_10items.json")
    items[0]["collection"] = "sentinel-2-c1-l2a"
    items[0]["properties"]["datetime"] = "2024-04-01T00:00:00Z"
    api = StacApi([*items, *good], landing=earth_search_landing)
    serve(api)
    # The test server cannot place a projected geometry either: search without intersects through a static copy.
    api.matching = lambda body: [*items, *good]  # type: ignore[method-assign]
    result = search_scenes(payload(), settings=settings_with({"preset": "earth-search", "url": api.base}))
    assert len(result.scenes) == 10
    assert result.warnings == [
        "earth-search: skipped item S1A_IW_GRDH_1SDV_20191215T003835_20191215T003904_030352_0378DC_rtc: "
        "bbox [602280.0, 1325600.0, 885640.0, 1569800.0] is not in longitude/latitude and there is no geometry"
    ]


def test_credentials_reach_the_api_and_never_the_logs(earth_search, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_with({"preset": "earth-search", "url": earth_search.base, "token": "t0ps3cret"})
    with caplog.at_level(logging.DEBUG):
        search_scenes(payload(), settings=settings)
    assert all(r.headers.get("Authorization") == "Bearer t0ps3cret" for r in earth_search.server.requests)
    assert "t0ps3cret" not in caplog.text
    assert "POST" in caplog.text  # pystac-client did log its requests
