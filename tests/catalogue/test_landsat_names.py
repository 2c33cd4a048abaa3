"""Landsat scenes are known by their full Collection 2 product id whichever catalogue lists them.

Real items (tests/catalogue/data/landsat, README there): a Planetary Computer API item (no
processing date in its id), Earth Search's recorded search (likewise), USGS stac-server and
USGS static items (`_SR` suffix / full id), and the item stactools-landsat writes (the code
Planetary Computer's ingestion runs) for the scene of the USGS static item.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box

from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.naming import landsat_product_id, name_info
from geocube_ingest.catalogue.providers.stac_items import scene_from_item
from geocube_ingest.catalogue.refine import drop_reprocessed
from geocube_ingest.payload import Constellation
from tests.catalogue.servers import load_cassette

LANDSAT = Path(__file__).parent / "data" / "landsat"


def item(name: str) -> dict[str, Any]:
    return json.loads((LANDSAT / name).read_text())


def earth_search_item(fixtures_dir: Path) -> dict[str, Any]:
    cassette = load_cassette(fixtures_dir / "stac/cassettes/earth_search_v1_search_s2l2a_landsat_point.yaml")
    for interaction in cassette:
        for feature in json.loads(interaction["response"]["body"]["string"]).get("features", []):
            if feature["id"].startswith("LC08"):
                return dict(feature)
    raise AssertionError("the recorded Earth Search answer has no Landsat item")


def via_ids(entry: dict[str, Any]) -> set[str]:
    """The USGS item ids a PC / Earth Search item links to (`via`), without USGS's `_SR`/`_ST`."""
    hrefs = [link["href"] for link in entry["links"] if link["rel"] == "via" and "landsatlook" in link["href"]]
    return {href.rsplit("/", 1)[1].removesuffix("_SR").removesuffix("_ST") for href in hrefs}


def test_planetary_computer_item_gets_its_processing_date_back() -> None:
    """PC's id leaves out the processing date; its asset hrefs and `via` links carry the full id."""
    pc = item("pc_LC09_L2SP_089090_20240417_02_T1.json")
    scene, constellation = scene_from_item(pc, "planetary_computer")
    assert scene.source_id == "LC09_L2SP_089090_20240417_20240418_02_T1"
    assert {scene.source_id} == via_ids(pc)  # the USGS items of the same product, named by PC itself
    assert constellation == Constellation.LANDSAT89
    assert scene.tags["sourceID"] == scene.source_id and scene.uuid == pc["id"]  # the item id still fetches it
    assert (scene.tags["satellite"], scene.tags["productType"], scene.tags["relativeOrbit"]) == (
        "LANDSAT09",
        "L2SP",
        "89",
    )


def test_earth_search_item_gets_its_processing_date_back(fixtures_dir: Path) -> None:
    es = earth_search_item(fixtures_dir)
    assert es["id"] == "LC08_L2SP_033032_20231008_02_T1"
    scene, _ = scene_from_item(es, "earth_search")
    assert scene.source_id == "LC08_L2SP_033032_20231008_20231017_02_T1"
    assert {scene.source_id} == via_ids(es)
    assert scene.tags["ingestionDate"] == "2023-10-17T16:22:27.000000Z"  # landsat:product_generated


def test_earth_search_processing_date_alone_restores_the_id(fixtures_dir: Path) -> None:
    """Without hrefs that spell it, Earth Search's `landsat:product_generated` gives the processing date."""
    es = earth_search_item(fixtures_dir)
    bare = {**es, "assets": {}, "links": [], "properties": dict(es["properties"])}
    del bare["properties"]["earthsearch:payload_id"]
    assert scene_from_item(bare, "earth_search")[0].source_id == "LC08_L2SP_033032_20231008_20231017_02_T1"


def test_usgs_items_lose_their_product_family_suffix() -> None:
    usgs = item("usgs_LE07_L2SP_044033_20210329_20210424_02_T1_SR.json")
    scene, constellation = scene_from_item(usgs, "usgs")
    assert scene.source_id == "LE07_L2SP_044033_20210329_20210424_02_T1"
    assert constellation is None  # Landsat 7 is not a Landsat 8/9 scene, but its name is still the product id


def test_one_scene_from_usgs_and_the_planetary_computer_code_is_one_scene() -> None:
    """The same product as the USGS static item (full id) and as stactools-landsat writes it for PC (no date)."""
    usgs, _ = scene_from_item(item("usgs_static_LC08_L2SP_047027_20201204_20210313_02_T1_SR_stac.json"), "usgs")
    stactools_item = item("stactools_LC08_L2SP_047027_20201204_02_T1.json")
    pc_like, _ = scene_from_item(stactools_item, "planetary_computer")
    assert usgs.source_id == pc_like.source_id == "LC08_L2SP_047027_20201204_20210313_02_T1"
    assert via_ids(stactools_item) == {usgs.source_id}
    assert name_info(usgs.source_id).product_key == name_info(pc_like.source_id).product_key
    assert len(drop_reprocessed([usgs, pc_like])) == 1


def test_usgs_sr_and_st_items_of_one_product_are_one_scene(fixtures_dir: Path) -> None:
    """USGS lists one product twice (landsat-c2l2-sr and -st): the ids PC and Earth Search link to."""
    for entry in (item("pc_LC09_L2SP_089090_20240417_02_T1.json"), earth_search_item(fixtures_dir)):
        hrefs = [link["href"].rsplit("/", 1)[1] for link in entry["links"] if link["rel"] == "via"]
        assert {h[-3:] for h in hrefs} == {"_SR", "_ST"}
        assert len({landsat_product_id(h) for h in hrefs}) == 1


def test_landsat_product_ids() -> None:
    full = "LC08_L2SP_028030_20200114_20200824_02_T1"
    assert landsat_product_id(full) == landsat_product_id(f"{full}_SR") == landsat_product_id(f"{full}_ST") == full
    evidence = ["https://x/LC08_L2SP_028030_20200115_20200824_02_T1_B4.TIF", f"https://x/{full}/{full}_MTL.json"]
    assert landsat_product_id("LC08_L2SP_028030_20200114_02_T1", evidence) == full  # another day's id is no evidence
    assert landsat_product_id("LC08_L2SP_028030_20200114_02_T1", ["nothing"]) == "LC08_L2SP_028030_20200114_02_T1"
    assert landsat_product_id("S2A_MSIL1C_20220104T103431_N0301_R108_T32UNG_20220104T123507", evidence).startswith(
        "S2A"
    )


def test_reprocessed_landsat_products_keep_the_newest() -> None:
    when = datetime(2020, 1, 14, tzinfo=UTC)
    scenes = [
        CatalogueScene(name, when, box(0, 0, 1, 1), tags={"ingestionDate": stamp})
        for name, stamp in (
            ("LC08_L2SP_028030_20200114_20200824_02_T1", "2020-08-24T00:00:00.000000Z"),
            ("LC08_L2SP_028030_20200114_20210101_02_T1", "2021-01-01T00:00:00.000000Z"),
        )
    ]
    assert [s.source_id for s in drop_reprocessed(scenes)] == ["LC08_L2SP_028030_20200114_20210101_02_T1"]


@pytest.mark.parametrize("suffix", ["_SR", "_ST"])
def test_the_dedup_key_ignores_the_family_suffix(suffix: str) -> None:
    full = "LC09_L2SP_089090_20240417_20240418_02_T1"
    assert name_info(full + suffix).product_key == name_info(full).product_key == "LC09_L2SP_089090_20240417"
