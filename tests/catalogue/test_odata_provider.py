"""The Copernicus Data Space OData provider through httpx, against recorded CDSE and Creodias pages."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from geocube_ingest.catalogue import CatalogueUnavailable, SearchFailed, SearchUnsupported, search_scenes
from tests.catalogue.conftest import settings_with
from tests.catalogue.helpers import area_payload
from tests.catalogue.servers import ODataReplay

payload = partial(
    area_payload,
    name="Mariana",
    wkt="POLYGON ((142 13, 144 13, 144 15, 142 15, 142 13))",
    start_time="2020-08-08T00:00:00Z",
    end_time="2020-08-16T00:00:00Z",
    scene_type={"constellation": "sentinel2"},
)


def odata(serve, pages: dict[int, Any]) -> tuple[ODataReplay, Any]:
    replay = ODataReplay(pages)
    server = serve(replay)
    settings = settings_with({"preset": "cdse-odata", "url": server.url + "/odata/v1"})
    return replay, settings


def test_sentinel2_page_filter_and_tags(serve, odata_pages) -> None:
    replay, settings = odata(serve, odata_pages(skip2="cdse/products_s2msi1c_expand_attributes_assets_top2_skip2.json"))
    result = search_scenes(payload(), settings=settings, page=1, limit=2)
    [request] = replay.server.requests
    assert request.param("$top") == "2" and request.param("$skip") == "2"
    assert request.param("$expand") == "Attributes" and request.param("$orderby") == "ContentDate/Start asc"
    odata_filter = request.param("$filter")
    assert odata_filter.startswith("Collection/Name eq 'SENTINEL-2' and ")
    assert (
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')" in odata_filter
    )
    assert (
        "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON ((142 13, 144 13, 144 15, 142 15, 142 13))')"
        in odata_filter
    )
    assert odata_filter.endswith(
        "ContentDate/Start ge 2020-08-08T00:00:00Z and ContentDate/Start le 2020-08-16T00:00:00Z"
    )
    assert result.next is True  # the recorded page has an @odata.nextLink
    assert [s.source_id for s in result.scenes] == ["S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"]
    scene = result.scenes[0]  # T55PBR (146-147 E) misses the AOI
    assert scene.uuid == "05edf2bb-d103-49f1-a677-9e474138d84f"
    assert scene.tags == {
        "sourceID": scene.source_id,
        "uuid": scene.uuid,
        "constellation": "SENTINEL2",
        "satellite": "SENTINEL2A",
        "orbit": "26783",
        "relativeOrbit": "45",
        "orbitDirection": "",
        "productType": "S2MSI1C",
        "ingestionDate": "2023-04-13T21:25:05.000000Z",
        "cloudCoverPercentage": "95.136736479015",
    }
    assert scene.metadata["download_link"] == f"{replay.server.url}/odata/v1/Products({scene.uuid})/$value"
    assert scene.metadata["checksums"]["MD5"] == "923ac4992d90b57d41e7ace4d9d90757"
    assert scene.metadata["size"] == 224105657 and scene.metadata["md5"] == "923ac4992d90b57d41e7ace4d9d90757"


def test_sentinel1_filters(serve, odata_pages) -> None:
    replay, settings = odata(
        serve, odata_pages(skip10="creodias/products_s1_grd_expand_attributes_count_top10_skip10.json")
    )
    area = payload(
        wkt="POLYGON ((-106 27, -102 27, -102 30, -106 30, -106 27))",
        start_time="2014-10-04T00:00:00Z",
        end_time="2014-10-05T00:00:00Z",
        scene_type={
            "constellation": "sentinel-1",
            "parameters": {
                "producttype": "GRD",
                "polarisationmode": "VV",
                "relativeorbitnumber": "153, 154",
                "platformname": "Sentinel-1A",
                "filename": "S1A_IW_GRDH_*",
            },
        },
    )
    result = search_scenes(area, settings=settings, page=1, limit=10)
    odata_filter = replay.server.requests[0].param("$filter")
    assert (
        "att/OData.CSC.StringAttribute/Value eq 'IW_GRDH_1S' or att/OData.CSC.StringAttribute/Value eq 'IW_GRDM_1S'"
        in odata_filter
    )
    assert "att/Name eq 'polarisationChannels' and att/OData.CSC.StringAttribute/Value eq 'VV')" in odata_filter
    assert "att/Name eq 'operationalMode' and att/OData.CSC.StringAttribute/Value eq 'IW')" in odata_filter
    assert (
        "att/Name eq 'relativeOrbitNumber' and (att/OData.CSC.IntegerAttribute/Value eq 153 or "
        "att/OData.CSC.IntegerAttribute/Value eq 154))" in odata_filter
    )
    assert "att/Name eq 'platformSerialIdentifier' and att/OData.CSC.StringAttribute/Value eq 'A')" in odata_filter
    assert "startswith(Name,'S1A_IW_GRDH_')" in odata_filter
    scenes = result.scenes
    assert scenes and all(s.tags["relativeOrbit"] == "153" for s in scenes)
    first = scenes[0]
    assert first.tags["polarisationMode"] == "VV" and first.tags["orbitDirection"] == "ASCENDING"
    assert first.tags["productType"] == "GRD" and first.tags["satellite"] == "SENTINEL1A"
    assert first.tags["sliceNumber"] and first.tags["ingestionDate"].endswith("Z")
    assert [s.date for s in scenes] == sorted(s.date for s in scenes)
    assert result.next is True


def test_listing_everything_follows_next_links(serve, odata_pages) -> None:
    replay, settings = odata(
        serve,
        odata_pages(
            skip0="cdse/products_sentinel-1_aux_count_page1.json", skip10="cdse/products_sentinel-1_aux_page5_last.json"
        ),
    )
    area = payload(scene_type={"constellation": "sentinel1"})
    result = search_scenes(area, settings=settings)
    skips = [r.param("$skip") for r in replay.server.requests]
    assert skips == ["0", "10"]  # the second request is the recorded nextLink, rewritten to this server
    assert replay.server.requests[1].param("$count") == "true"
    # 17 AUX products: no footprint, so none of them meets the AOI.
    assert result.scenes == [] and result.next is False


def test_temporary_errors_are_retried_with_backoff(serve, odata_pages) -> None:
    replay, settings = odata(serve, odata_pages(skip2="cdse/products_s2msi1c_expand_attributes_assets_top2_skip2.json"))
    replay.server.fail(503, times=1)
    replay.server.fail(429, times=1, headers={"Retry-After": "0"})
    result = search_scenes(payload(), settings=settings, page=1, limit=2)
    assert len(result.scenes) == 1
    assert len(replay.server.requests) == 3


def test_client_errors_are_not_retried(serve, odata_pages) -> None:
    replay, settings = odata(serve, odata_pages(skip2="cdse/products_s2msi1c_expand_attributes_assets_top2_skip2.json"))
    replay.server.fail(400, times=3)
    with pytest.raises(SearchFailed, match=r"cdse-odata: HTTP 400"):
        search_scenes(payload(), settings=settings, page=1, limit=2)
    assert len(replay.server.requests) == 1


def test_unreachable_is_temporary(odata_pages) -> None:
    settings = settings_with({"preset": "cdse-odata", "url": "http://127.0.0.1:9/odata/v1"}, max_retries=1)
    with pytest.raises(CatalogueUnavailable, match="cdse-odata: ConnectError"):
        search_scenes(payload(), settings=settings)


def test_landsat_is_not_in_the_odata_catalogue(serve) -> None:
    replay, settings = odata(serve, {})
    with pytest.raises(SearchUnsupported, match="cdse-odata: no LANDSAT89 collection"):
        search_scenes(payload(scene_type={"constellation": "landsat89"}), settings=settings)
    assert replay.server.requests == []
