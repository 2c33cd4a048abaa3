"""The payload's catalogue filters: parsing, per-provider translation, local re-check, refinement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import shapely

from geocube_ingest.catalogue.filters import (
    Filters,
    cql2_filter,
    filename_matches,
    odata_conditions,
    stac_conditions,
    stac_query,
)
from geocube_ingest.catalogue.models import CatalogueScene
from geocube_ingest.catalogue.refine import refine
from geocube_ingest.errors import PayloadError
from geocube_ingest.payload import Constellation, Payload


def filters(constellation: str, **parameters: str) -> Filters:
    document: dict[str, Any] = {
        "name": "f",
        "wkt": "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))",
        "start_time": "2022-01-01T00:00:00Z",
        "end_time": "2022-02-01T00:00:00Z",
        "scene_type": {"constellation": constellation, "parameters": parameters},
        "scene_graph_name": "CopyProductToStorage",
        "tile_graph_name": "Pass",
    }
    return Filters.from_payload(Payload.parse(document))


def test_sentinel1_defaults_and_full_product_types() -> None:
    default = filters("sentinel1")
    assert (default.product_type, default.polarisations, default.mode) == ("SLC", frozenset({"VV", "VH"}), "IW")
    full = filters("sentinel1", producttype="EW_GRDM_1S", sensoroperationalmode="", polarisationmode="HH&HV")
    assert (full.product_type, full.mode, full.polarisations) == ("GRD", "EW", frozenset({"HH", "HV"}))
    assert filters("s1", relativeorbitnumber="71, 117", platformname="Sentinel-1B").relative_orbits == (71, 117)
    assert filters("s1", platformname="S1B").platform == "B"
    assert filters("s1", producttype="EW_SLC__1S").mode == "EW"  # over the default IW
    assert filters("s1", platformname="Sentinel-1").platform is None


def test_sentinel2_and_landsat() -> None:
    assert filters("sentinel2").product_type == "S2MSI1C"
    assert filters("sentinel2", producttype="S2MSI2A", cloudcoverpercentage="[0 TO 30]").cloud_cover == (0, 30)
    assert filters("landsat89").product_type is None
    assert filters("landsat89", producttype="l2sp", platformname="LANDSAT_9").platform == "9"


@pytest.mark.parametrize(
    ("constellation", "parameters", "message"),
    [
        ("sentinel1", {"cloudcoverpercentage": "[0 TO 10]"}, "cloudcoverpercentage: does not apply to SENTINEL1"),
        ("sentinel2", {"polarisationmode": "VV"}, "polarisationmode: does not apply to SENTINEL2"),
        ("sentinel2", {"sensoroperationalmode": "IW"}, "sensoroperationalmode: does not apply to SENTINEL2"),
        ("sentinel2", {"producttype": "L3Z"}, "producttype: 'L3Z' is not a Sentinel-2 product type (L1C, L2A)"),
        ("sentinel1", {"producttype": "XYZ"}, "is not a Sentinel-1 product type (SLC, GRD, RAW, OCN)"),
        ("sentinel1", {"polarisationmode": "VV XX"}, "'VV XX': expected VV, VH, HH, HV"),
        ("sentinel1", {"sensoroperationalmode": "ZZ"}, "'ZZ' is not a Sentinel-1 mode"),
        (
            "sentinel1",
            {"producttype": "EW_SLC__1S", "sensoroperationalmode": "IW"},
            "'EW_SLC__1S' contradicts mode 'IW'",
        ),
        ("sentinel2", {"platformname": "Landsat-8"}, "'Landsat-8' is not a SENTINEL2 platform"),
        ("landsat89", {"platformname": "Landsat-7"}, "'Landsat-7' is not Landsat 8 or 9"),
    ],
)
def test_filters_that_cannot_apply_are_named(constellation: str, parameters: dict[str, str], message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        filters(constellation, **parameters)
    assert message in str(caught.value)
    assert str(caught.value).startswith("invalid payload: scene_type.parameters.")


def test_stac_translation() -> None:
    wanted = filters("sentinel2", cloudcoverpercentage="[5 TO 40]", relativeorbitnumber="108")
    conditions = stac_conditions(wanted, ("cloud_cover",))
    assert stac_query(conditions) == {"eo:cloud_cover": {"gte": 5.0, "lte": 40.0}}
    both = stac_conditions(wanted, ("cloud_cover", "relative_orbit"))
    assert cql2_filter(both)["args"][-1] == {"op": "=", "args": [{"property": "sat:relative_orbit"}, 108]}
    radar = stac_conditions(filters("sentinel1", relativeorbitnumber="1,2"), ("relative_orbit", "mode"))
    assert stac_query(radar) == {"sat:relative_orbit": {"in": [1, 2]}, "sar:instrument_mode": {"eq": "IW"}}


def test_odata_translation_quotes_values() -> None:
    clauses = odata_conditions(filters("sentinel2", filename="*O'Brien*"))
    assert clauses[-1] == "contains(Name,'O''Brien')"
    assert odata_conditions(filters("sentinel1", sensoroperationalmode=""))[1] == "contains(Name,'_SLC')"


def scene(name: str, **tags: str) -> CatalogueScene:
    return CatalogueScene(name, datetime(2022, 1, 4, tzinfo=UTC), shapely.box(0, 0, 1, 1), tags=tags)


S1 = "S1A_IW_SLC__1SDV_20220104T170557_20220104T170624_041314_04E951_F1F1"


def test_results_are_checked_locally() -> None:
    wanted = filters("sentinel1", relativeorbitnumber="117", platformname="S1A", filename="S1A_IW_SLC*")
    good = scene(S1, productType="SLC", polarisationMode="VV VH", relativeOrbit="117", satellite="SENTINEL1A")
    assert wanted.matches(good)
    assert wanted.mismatch(scene(S1, productType="GRD", polarisationMode="VV VH")) == "productType 'GRD'"
    assert wanted.mismatch(scene(S1, productType="SLC", polarisationMode="VV")) == "polarisationMode 'VV'"
    assert wanted.mismatch(scene(S1, productType="SLC", polarisationMode="VV VH", relativeOrbit="71")) == (
        "relativeOrbit '71'"
    )
    s2 = "S2A_MSIL1C_20220104T103431_N0510_R108_T32UNG_20240423T092858"
    assert wanted.mismatch(scene(s2)) == "constellation SENTINEL2"
    cloudy = filters("sentinel2", cloudcoverpercentage="[0 TO 30]")
    assert cloudy.matches(scene(s2, productType="S2MSI1C", cloudCoverPercentage="29.9"))
    assert not cloudy.matches(scene(s2, productType="S2MSI1C", cloudCoverPercentage="30.1"))
    assert not cloudy.matches(scene(s2, productType="S2MSI1C"))  # unknown cover cannot be said to be in range
    landsat = filters("landsat89", producttype="L2", platformname="Landsat 9")
    assert landsat.constellation == Constellation.LANDSAT89
    assert landsat.matches(scene("LC09_L2SP_033032_20231008_20231017_02_T1", productType="L2SP", satellite="LANDSAT09"))
    assert not landsat.matches(
        scene("LC08_L2SP_033032_20231008_20231017_02_T1", productType="L2SP", satellite="LANDSAT08")
    )


def test_filename_patterns() -> None:
    assert filename_matches("S1A_IW_SLC*", S1) and filename_matches("*.SAFE", S1)
    assert filename_matches("041314", S1) and not filename_matches("S1B_*", S1)


def test_refine_keeps_the_newest_reprocessing_drops_outside_and_sorts() -> None:
    old = scene(
        "S2A_MSIL1C_20220104T103431_N0301_R108_T32UNG_20220104T123507", ingestionDate="2022-01-04T12:35:07.000000Z"
    )
    new = scene(
        "S2A_MSIL1C_20220104T103431_N0510_R108_T32UNG_20240423T092858", ingestionDate="2024-04-23T09:28:58.000000Z"
    )
    early = scene("S2A_MSIL1C_20220101T103431_N0510_R108_T32UNG_20240423T092858")
    early.date = datetime(2022, 1, 1, tzinfo=UTC)
    away = scene("S2B_MSIL1C_20220104T103431_N0510_R108_T33UNG_20240423T092858")
    away.footprint = shapely.box(10, 10, 11, 11)
    s1_old = scene(S1, ingestionDate="2022-01-04T20:00:00.000000Z")
    s1_new = scene(S1[:-4] + "AAAA", ingestionDate="2022-01-05T20:00:00.000000Z")
    aoi = shapely.box(0.5, 0.5, 2, 2)
    kept = refine([new, away, old, s1_new, early, s1_old], aoi)
    assert [s.source_id for s in kept] == [early.source_id, s1_new.source_id, new.source_id]
