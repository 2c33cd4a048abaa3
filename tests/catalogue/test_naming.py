"""Product names: what they say, the key shared by re-processed copies, and annotations_urls placeholders."""

from __future__ import annotations

from geocube_ingest.catalogue.naming import format_pattern, name_info, placeholders
from geocube_ingest.payload import Constellation


def test_sentinel1_names() -> None:
    info = name_info("S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE")
    assert info.constellation == Constellation.SENTINEL1 and info.satellite == "SENTINEL1B"
    assert (info.product_type, info.mode, info.polarisations, info.absolute_orbit) == ("SLC", "IW", "VV VH", "26269")
    assert info.product_key == "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297"
    assert name_info("S1C_S4_GRDH_1SDH_20250118T171404_20250118T171421_000638_000538_4B8B").product_type == "GRD"


def test_sentinel2_names() -> None:
    old = name_info("S2A_MSIL1C_20220104T103431_N0301_R108_T32UNG_20220104T123507")
    new = name_info("S2A_MSIL1C_20220104T103431_N0510_R108_T32UNG_20240423T092858")
    assert old.product_key == new.product_key == "S2A_MSIL1C_20220104T103431_R108_T32UNG"
    assert (new.location, new.product_type, new.relative_orbit, new.satellite) == (
        "T32UNG",
        "S2MSI1C",
        "108",
        "SENTINEL2A",
    )


def test_landsat_names() -> None:
    info = name_info("LC09_L2SP_033032_20231008_20231017_02_T1")
    assert (info.constellation, info.location, info.product_type, info.satellite) == (
        Constellation.LANDSAT89,
        "033032",
        "L2SP",
        "LANDSAT09",
    )
    assert name_info("LE07_L2SP_033032_20231008_20231017_02_T1").constellation is None  # Landsat 7 is not 8/9


def test_placeholders_as_upstream() -> None:
    values = placeholders("S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768")
    pattern = "gs://bucket/{MISSION_ID}/{PRODUCT_TYPE}/{YEAR}/{MONTH}/{DAY}/{SCENE}.zip"
    assert format_pattern(pattern, values) == (
        "gs://bucket/S1A/SLC/2020/05/11/S1A_IW_SLC__1SDV_20200511T135117_20200511T135144_032518_03C421_7768.zip"
    )
    assert (values["ORBIT"], values["MISSION"], values["UNIQUE_ID"], values["TIME"]) == (
        "032518",
        "03C421",
        "7768",
        "135117",
    )
    s2 = placeholders("S2A_MSIL1C_20220104T103431_N0301_R108_T32UNG_20220104T123507")
    assert (s2["TILE"], s2["LATITUDE_BAND"], s2["GRID_SQUARE"], s2["GRANULE_ID"]) == ("32UNG", "32", "U", "NG")
