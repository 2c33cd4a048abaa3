"""The payload model (SPEC section 3): every shape people write, every field checked."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from geocube_ingest.errors import PayloadError
from geocube_ingest.payload import Constellation, Payload, cloud_cover_range

SQUARE = [[[9.8, 54.9], [10.1, 54.9], [10.1, 55.1], [9.8, 55.1], [9.8, 54.9]]]

# Upstream's Jupyter/data/DenmarkDemoS2.json shape: extra keys at the top level of a Feature.
SEED: dict[str, Any] = {
    "name": "DenmarkDemoS2",
    "type": "Feature",
    "geometry": {"type": "MultiPolygon", "coordinates": [SQUARE]},
    "start_time": "2022-01-01T00:00:00.000Z",
    "end_time": "2022-01-12T23:00:00.000Z",
    "scene_type": {"constellation": "sentinel2", "parameters": {"cloudcoverpercentage": "[0 TO 80]"}},
    "scene_graph_name": "CopyProductToStorage",
    "tile_graph_name": "library/graph/ExtractS2Bands.json",
    "graph_config": {},
    "layers": {"B01": {"variable": "B01", "instance": "raw"}},
    "record_tags": {"source": "tutorial", "provider": "geocube-ingester", "area": "Denmark"},
    "is_retriable": True,
    "retry_count": 1,
}


def changed(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED)
    for key, value in fields.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def problems(body: Any) -> list[tuple[str, str]]:
    with pytest.raises(PayloadError) as error:
        Payload.parse(body)
    return error.value.problems


def test_seed_shape() -> None:
    p = Payload.parse(SEED)
    assert p.name == p.aoi == "DenmarkDemoS2"
    assert p.constellation == Constellation.SENTINEL2
    assert p.start_time.isoformat() == "2022-01-01T00:00:00+00:00"
    assert p.scene_type.effective_parameters() == {"producttype": "L1C", "cloudcoverpercentage": "[0 TO 80]"}
    assert p.layers["B01"].instance == "raw" and p.retry_count == 1 and p.is_retriable
    assert p.shape.bounds == (9.8, 54.9, 10.1, 55.1)


def test_upstream_s1_payload() -> None:
    body = changed(
        scene_type={
            "constellation": "sentinel1",
            "parameters": {"producttype": "SLC", "polarisationmode": "VV VH", "relativeorbitnumber": "44"},
        },
        graph_config={"projection": "EPSG:32632", "snap_cpu_parallelism": 8},
    )
    p = Payload.parse(body)
    assert p.constellation == Constellation.SENTINEL1
    assert p.scene_type.effective_parameters()["sensoroperationalmode"] == "IW"
    assert p.graph_config["snap_cpu_parallelism"] == "8"  # numbers become strings, as upstream's map[string]string


@pytest.mark.parametrize("spelling", ["sentinel-1", "Sentinel1", "SENTINEL_1", "s1"])
def test_constellation_spellings(spelling: str) -> None:
    body = changed(scene_type={"constellation": spelling})
    assert Payload.parse(body).constellation == Constellation.SENTINEL1


def test_keys_in_properties() -> None:
    body = {
        "type": "Feature",
        "geometry": SEED["geometry"],
        "properties": {k: v for k, v in SEED.items() if k not in ("type", "geometry")},
    }
    assert Payload.parse(body).name == "DenmarkDemoS2"


def test_feature_collection_is_merged() -> None:
    other = [[[12.0, 55.0], [12.2, 55.0], [12.2, 55.2], [12.0, 55.2], [12.0, 55.0]]]
    body = {k: v for k, v in SEED.items() if k not in ("type", "geometry")}
    body.update(
        type="FeatureCollection",
        features=[
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": SQUARE}},
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": other}},
        ],
    )
    p = Payload.parse(body)
    assert p.geometry["type"] == "MultiPolygon" and len(p.shape.geoms) == 2


def test_bare_geometry_and_wkt() -> None:
    bare = {k: v for k, v in SEED.items() if k not in ("type", "geometry")}
    assert Payload.parse({**bare, "type": "Polygon", "coordinates": SQUARE}).shape.area > 0
    wkt = "POLYGON ((9.8 54.9, 10.1 54.9, 10.1 55.1, 9.8 55.1, 9.8 54.9))"
    assert Payload.parse({**bare, "wkt": wkt}).shape.bounds == (9.8, 54.9, 10.1, 55.1)


def test_text_bytes_and_files(tmp_path: Path) -> None:
    text = json.dumps(SEED)
    path = tmp_path / "payload.json"
    path.write_text(text)
    assert Payload.parse(text) == Payload.parse(text.encode()) == Payload.parse(path)


def test_round_trip() -> None:
    p = Payload.parse(SEED)
    assert Payload.parse(p.to_json()) == p
    assert Payload.parse(json.loads(json.dumps(p.to_json()))) == p


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (changed(colour="blue"), "colour", "unknown field"),
        (changed(name=None), "name", "required field is missing"),
        (changed(name="a b"), "name", "only letters"),
        (changed(end_time="2021-01-01T00:00:00Z"), "", "start_time"),
        (changed(start_time="yesterday"), "start_time", "not an RFC 3339"),
        (changed(scene_type={"constellation": "modis"}), "scene_type.constellation", "unknown constellation"),
        (
            changed(scene_type={"constellation": "s2", "parameters": {"bogus": "1"}}),
            "scene_type.parameters",
            "unknown filter 'bogus'",
        ),
        (
            changed(scene_type={"constellation": "s2", "parameters": {"cloudcoverpercentage": "<30"}}),
            "scene_type.parameters",
            "[MIN TO MAX]",
        ),
        (
            changed(scene_type={"constellation": "s2", "parameters": {"cloudcoverpercentage": "[50 TO 20]"}}),
            "scene_type.parameters",
            "MIN <= MAX",
        ),
        (
            changed(scene_type={"constellation": "s1", "parameters": {"relativeorbitnumber": "forty"}}),
            "scene_type.parameters",
            "orbit",
        ),
        (changed(geometry={"type": "Point", "coordinates": [10, 55]}), "geometry", "Point is not allowed"),
        (
            changed(
                geometry={
                    "type": "Polygon",
                    "coordinates": [[[500000, 6000000], [500100, 6000000], [500100, 6000100], [500000, 6000000]]],
                }
            ),
            "geometry",
            "EPSG:4326",
        ),
        (
            changed(geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
            "geometry",
            "invalid geometry",
        ),
        (changed(geometry=None), "geometry", "required"),
        (changed(retry_count=-1), "retry_count", "greater than or equal"),
        (changed(layers={"B01": {"variable": "B01"}}), "layers.B01", "needs variable and instance"),
        (changed(layers={"B01": {"variable": "B01", "instance": "x", "instance_id": "y"}}), "layers.B01", "not both"),
        (changed(scene_graph_name=""), "scene_graph_name", "at least 1"),
        (changed(page=-1), "page", "greater than or equal"),
    ],
)
def test_errors_name_the_field(body: dict[str, Any], field: str, reason: str) -> None:
    found = problems(body)
    assert any(f == field and reason in r for f, r in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(changed(name="bad name", colour="x", retry_count=-2))
    assert {f for f, _ in found} == {"name", "colour", "retry_count"}


@pytest.mark.parametrize(
    ("source", "reason"),
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object"), (Path("/nonexistent.json"), "cannot read")],
)
def test_unreadable_documents(source: Any, reason: str) -> None:
    assert reason in str(problems(source))


def test_geojson_members_are_not_fields() -> None:
    body = changed(id="feature-1", bbox=[9.8, 54.9, 10.1, 55.1])
    assert Payload.parse(body).name == "DenmarkDemoS2"


def test_conflicting_properties() -> None:
    body = changed(properties={"name": "Other"})
    assert problems(body) == [("name", "given both at the top level and in properties with different values")]


def test_cloud_cover_range() -> None:
    assert cloud_cover_range("[0 TO 30]") == (0.0, 30.0)
    assert cloud_cover_range(" [2.5 to 99.5] ") == (2.5, 99.5)
