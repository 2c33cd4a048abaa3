"""A static STAC catalogue or ItemCollection (local or over HTTP) read with pystac and filtered in Python."""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest

from geocube_ingest.catalogue import SearchUnsupported, search_scenes
from tests.catalogue.conftest import fixture_items, settings_with
from tests.catalogue.helpers import s2_payload
from tests.catalogue.servers import StaticFiles

ITEMS = "earth_search/itemcollection_sentinel-2-c1-l2a_T13TDE_10items.json"
WINDOW = {"start_time": "2024-03-30T00:00:00Z", "end_time": "2024-04-25T00:00:00Z"}


def test_item_collection_file(fixtures_dir: Path) -> None:
    settings = settings_with({"name": "archive", "kind": "stac-static", "url": str(fixtures_dir / "stac" / ITEMS)})
    area = s2_payload(
        **WINDOW,
        scene_type={"constellation": "S2", "parameters": {"producttype": "L2A", "cloudcoverpercentage": "[0 TO 20]"}},
    )
    result = search_scenes(area, settings=settings)
    assert result.provider == "archive"
    assert [round(float(s.tags["cloudCoverPercentage"]), 2) for s in result.scenes] == [0.12, 11.95, 0.88, 0.04]
    page = search_scenes(area, settings=settings, page=1, limit=3)
    assert len(page.scenes) == 1 and page.next is False


@pytest.mark.filterwarnings("ignore:Could not parse bucket:UserWarning")
def test_catalog_tree_over_http(serve, fixtures_dir: Path, tmp_path: Path) -> None:
    catalog = pystac.Catalog("archive", "recorded items")
    for item in fixture_items(fixtures_dir, ITEMS):
        item.pop("links")
        catalog.add_item(pystac.Item.from_dict(item))
    catalog.normalize_hrefs(str(tmp_path / "catalog"))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    server = serve(StaticFiles(tmp_path))
    settings = settings_with(
        {
            "name": "archive",
            "kind": "stac-static",
            "url": f"{server.url}/catalog/catalog.json",
            "options": {"collections": {"sentinel2": {"S2MSI2A": "sentinel-2-c1-l2a"}}},
        }
    )
    result = search_scenes(s2_payload(**WINDOW), settings=settings, page=0, limit=4)
    assert len(result.scenes) == 4 and result.next is True
    assert all(s.tags["productType"] == "S2MSI2A" for s in result.scenes)
    fetched = {r.path for r in server.requests if r.method == "GET"}
    assert len(fetched) == 11 and "/catalog/catalog.json" in fetched  # the catalog and its 10 items


def test_a_mapped_collection_missing_the_product_type(fixtures_dir: Path) -> None:
    settings = settings_with(
        {
            "name": "archive",
            "kind": "stac-static",
            "url": str(fixtures_dir / "stac" / ITEMS),
            "options": {"collections": {"sentinel2": {"S2MSI2A": "sentinel-2-c1-l2a"}}},
        }
    )
    with pytest.raises(SearchUnsupported, match="archive has no SENTINEL2 collection for producttype 'S2MSI1C'"):
        search_scenes(s2_payload(scene_type={"constellation": "S2"}), settings=settings)


def test_missing_or_wrong_files(tmp_path: Path) -> None:
    settings = settings_with({"name": "archive", "kind": "stac-static", "url": str(tmp_path / "none.json")})
    with pytest.raises(SearchUnsupported, match="archive: no STAC file at"):
        search_scenes(s2_payload(), settings=settings)
    (tmp_path / "odd.json").write_text(json.dumps({"type": "Thing"}))
    settings = settings_with({"name": "archive", "kind": "stac-static", "url": str(tmp_path / "odd.json")})
    with pytest.raises(Exception, match="is a 'Thing', not a STAC catalog"):
        search_scenes(s2_payload(), settings=settings)
