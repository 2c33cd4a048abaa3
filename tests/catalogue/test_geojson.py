"""Upstream's scenes/tiles GeoJSON: written as the seeds show it, read back after hand edits, errors named."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import shapely

from geocube_ingest.catalogue import scenes_from_geojson, scenes_to_geojson, tiles_from_geojson, to_workflow
from geocube_ingest.catalogue.dates import parse_datetime, rfc3339
from geocube_ingest.catalogue.models import TileRef
from geocube_ingest.errors import FieldError, InvalidInput
from tests.catalogue.helpers import s2_payload, s2_scene

# The example scene of seeds/run-a-payload.md, as a person would paste it into a scenes file.
SEED_SCENE = {
    "aoi": "DenmarkDemoS2",
    "data": {
        "date": "2022-01-04T10:34:31Z",
        "graph_config": {},
        "graph_name": "CopyProductToStorage",
        "is_retriable": True,
        "record_id": "",
        "storage_uri": "",
        "uuid": "875f96fb-e591-4bcf-8202-fada69733e26",
    },
    "id": 0,
    "source_id": "S2A_MSIL1C_20220104T103431_N0510_R108_T32UNG_20240423T092858",
    "tags": {
        "area": "Denmark",
        "cloudCoverPercentage": "50.9439586971957",
        "constellation": "SENTINEL2",
        "ingestionDate": "2022-01-04T10:34:31.000000Z",
        "orbit": "34139",
        "orbitDirection": "",
        "productType": "S2MSI1C",
        "provider": "geocube-ingester",
        "relativeOrbit": "108",
        "satellite": "SENTINEL2A",
        "source": "tutorial",
        "sourceID": "S2A_MSIL1C_20220104T103431_N0510_R108_T32UNG_20240423T092858",
        "uuid": "875f96fb-e591-4bcf-8202-fada69733e26",
    },
    "wkt": "POLYGON ((8.999680177 55.89488809,8.999687664 54.95909887,10.71398549 54.94701782,10.7572757 55.93320247,"
    "9.0247385 55.94555573,8.999680177 55.89488809))",
}


def test_the_seed_scene_reads_and_writes_back_identically() -> None:
    document = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": None, "properties": SEED_SCENE}],
    }
    [scene] = scenes_from_geojson(json.dumps(document))
    assert scene.source_id == SEED_SCENE["source_id"] and scene.uuid == SEED_SCENE["data"]["uuid"]
    assert scene.date == datetime(2022, 1, 4, 10, 34, 31, tzinfo=UTC)
    written = scenes_to_geojson([scene])["features"][0]
    props = written["properties"]
    expected = dict(SEED_SCENE, data={**SEED_SCENE["data"], "metadata": {}})
    assert {k: v for k, v in props.items() if k != "wkt"} == {k: v for k, v in expected.items() if k != "wkt"}
    assert shapely.from_wkt(props["wkt"]).equals(shapely.from_wkt(SEED_SCENE["wkt"]))
    assert written["geometry"]["type"] == "Polygon"


def test_hand_edits_survive_a_round_trip() -> None:
    scenes = [s2_scene(datetime(2024, 1, d, 17, 49, 9, tzinfo=UTC)) for d in (1, 11, 21)]
    document = json.loads(json.dumps(scenes_to_geojson(scenes, s2_payload())))
    del document["features"][1]  # a scene removed by hand
    first = document["features"][0]["properties"]
    first["tags"]["checked"] = "yes"
    first["data"]["graph_config"] = {"resolution": 20}  # a number where a string is expected
    first["data"]["instances_id"] = {"B04": "7b2cb808"}  # an extra key of upstream's data
    first["data"]["is_retriable"] = False
    read = scenes_from_geojson(document)
    assert [s.source_id for s in read] == [scenes[0].source_id, scenes[2].source_id]
    assert read[0].tags["checked"] == "yes" and read[0].graph_config == {"resolution": "20"}
    assert read[0].extra == {"instances_id": {"B04": "7b2cb808"}} and read[0].data["instances_id"] == {
        "B04": "7b2cb808"
    }
    assert read[0].is_retriable is False and read[0].aoi == "Front-Range"
    assert read[0].footprint.equals(scenes[0].footprint)


def test_footprint_from_geometry_when_wkt_is_removed() -> None:
    document = scenes_to_geojson([s2_scene(datetime(2024, 1, 1, tzinfo=UTC))])
    document["features"][0]["properties"]["wkt"] = ""
    [scene] = scenes_from_geojson(document)
    assert scene.footprint.equals(shapely.box(-106, 39.6, -104.8, 40.6))


def test_every_bad_field_is_named() -> None:
    good = scenes_to_geojson([s2_scene(datetime(2024, 1, 1, tzinfo=UTC))])["features"][0]
    bad_date = json.loads(json.dumps(good))
    bad_date["properties"]["data"]["date"] = "yesterday"
    no_id = json.loads(json.dumps(good))
    del no_id["properties"]["source_id"]
    bad_wkt = json.loads(json.dumps(good))
    bad_wkt["properties"]["wkt"] = "POLYGON ((1 2"
    with pytest.raises(FieldError) as caught:
        scenes_from_geojson({"type": "FeatureCollection", "features": [good, bad_date, no_id, bad_wkt, 7]})
    assert caught.value.problems == [
        ("features[1].properties.data.date", "'yesterday' is not an RFC 3339 date-time"),
        ("features[2].properties.source_id", "required, a non-empty string"),
        ("features[3].properties.wkt", "invalid WKT"),
        ("features[4]", "expected a Feature with properties"),
    ]
    with pytest.raises(FieldError, match="not valid JSON"):
        scenes_from_geojson("{")
    with pytest.raises(FieldError, match="expected a GeoJSON FeatureCollection"):
        scenes_from_geojson({"type": "Feature"})


def test_upstreams_older_tiles_file_is_read() -> None:
    """Spellings of upstream's Jupyter/data/tiles.json (`Tags`, `GeometryWKT`, `Tiles`, `Previous`...)."""
    tile = {
        "AnxTime": 8979,
        "Data": {"graph_name": "S1BackscatterCoherence", "swath_id": "IW1", "tile_nr": 5},
        "Date": "2019-01-15T17:01:06.242Z",
        "GeometryWKT": "POLYGON((8.958549 54.768456, 8.897949 54.932804, 10.386796 55.1026, 10.441226 54.93797, "
        "8.958549 54.768456))",
        "ID": 0,
        "Previous": {
            "Date": "2019-01-09T17:00:22.843Z",
            "SceneID": "S1B_IW_SLC__1SDV_20190109T170022_20190109T170050_014420_01AD7C_C531",
            "SourceID": "A44_IW1_8979",
        },
        "Reference": None,
        "SceneID": "S1A_IW_SLC__1SDV_20190115T170106_20190115T170133_025491_02D361_7F7C",
        "SourceID": "A44_IW1_8979",
    }
    props = {
        "GeometryWKT": "POLYGON ((8.600693 55.724159,12.718431 56.141888,13.149502 54.523949,9.197164 54.111019,"
        "8.600693 55.724159))",
        "Tags": {"constellation": "SENTINEL1", "relativeOrbit": "44"},
        "Tiles": [tile],
        "aoi": "DenmarkDemo",
        "data": {"date": "2019-01-15T17:01:06.242Z", "graph_name": "S1Preprocessing", "instances_id": None},
        "id": 0,
        "source_id": "S1A_IW_SLC__1SDV_20190115T170106_20190115T170133_025491_02D361_7F7C",
    }
    [read] = tiles_from_geojson({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props}]})
    assert read.source_id == "A44_IW1_8979" and read.data["tile_nr"] == 5
    assert read.previous == TileRef(
        tile["Previous"]["SceneID"], "A44_IW1_8979", parse_datetime("2019-01-09T17:00:22.843Z")
    )
    assert read.reference is None and read.scene is not None and read.scene.tags["relativeOrbit"] == "44"
    assert read.scene.tiles == {"A44_IW1_8979": {"swath_id": "IW1", "tile_nr": 5}}


def test_to_workflow_checks_tiles_against_scenes() -> None:
    scene = s2_scene(datetime(2024, 1, 1, tzinfo=UTC))
    tiles_doc = {
        "type": "FeatureCollection",
        "features": [],
        "relinks": [
            {
                "SourceID": "T13TDE",
                "SceneID": scene.source_id,
                "Date": rfc3339(scene.date),
                "previous": {"SourceID": "T13TDE", "SceneID": "S2B_OLD", "Date": None},
                "reference": None,
            }
        ],
    }
    [relink_tile] = tiles_from_geojson(tiles_doc)
    assert relink_tile.ingested
    new_scenes, relinks = to_workflow(s2_payload(), [scene], [relink_tile])
    assert new_scenes == [] and relinks[0].previous.scene == "S2B_OLD" and relinks[0].reference is None
    orphan = tiles_from_geojson(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {
                        "source_id": "S2X",
                        "data": {"date": "2024-01-01T00:00:00Z"},
                        "tiles": [{"SourceID": "T1", "SceneID": "S2X"}],
                    },
                }
            ],
        }
    )
    with pytest.raises(InvalidInput, match="tiles refer to scenes that are not given: S2X"):
        to_workflow(s2_payload(), [scene], orphan)
