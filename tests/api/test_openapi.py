"""The OpenAPI schema is complete and true: schemathesis fuzzes every operation of the live server.

Checks: no 5xx, every status and content type is declared, every body matches its schema,
and invalid input is rejected. Runs with a token configured (so auth is part of the schema)
on an AOI holding real-looking data, on SQLite (the rules themselves are tested elsewhere).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from geocube_ingest.api import create_app
from geocube_ingest.settings import Settings
from geocube_ingest.workflow import Workflow
from tests.api.conftest import StartServer, ThreadedServer
from tests.api.demo import build_s1, build_s2

TOKEN = "schema-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workflow.db'}"


def _schema_document() -> dict:  # type: ignore[type-arg]
    """The app's schema, built without a database (the routes do not touch it to describe themselves)."""
    settings = Settings(api={"token": TOKEN})  # type: ignore[arg-type]
    return create_app(settings, Workflow("sqlite://", settings=settings, migrate=False)).openapi()


schema = schemathesis.openapi.from_dict(_schema_document())


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Iterator[str]:
    """One server for every operation (starting one per operation costs more than the checks)."""
    home = tmp_path_factory.mktemp("openapi")
    # /catalog/* never leaves the machine: an empty local catalogue answers any search that gets that far.
    catalogue = home / "catalogue.json"
    catalogue.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'workflow.db'}",
        api={"token": TOKEN},  # type: ignore[arg-type]
        catalogue={"providers": [{"name": "empty", "kind": "stac-static", "url": str(catalogue)}]},  # type: ignore[arg-type]
    )
    workflow = Workflow(settings=settings)
    build_s2(workflow)
    build_s1(workflow, fixtures_dir, dates=2)
    with ThreadedServer(create_app(settings, workflow)) as url:
        yield url


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case, live_url: str) -> None:
    # The token goes into the case itself, so the checks judge the request that was really sent
    # (a case generated without its required Authorization header is not "invalid" once it has one).
    case.headers = {**(case.headers or {}), **AUTH}
    case.call_and_validate(base_url=live_url, checks=CHECKS)


# The catalogue bodies once more, fuzzed longer (the examples and coverage phases ran above).
FUZZING_ONLY = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": False}, "examples": {"enabled": False}}}
)
catalog = schemathesis.openapi.from_dict(_schema_document(), config=FUZZING_ONLY).include(path_regex="^/catalog/")


@pytest.mark.slow
@catalog.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_catalog_bodies_from_the_schema(case: schemathesis.Case, live_url: str) -> None:
    """The multipart and JSON bodies the schema describes (payload, scenes and tiles files), generated
    valid and invalid. The readers accept upstream's older spellings besides, which no schema says,
    so invalid data being refused is checked by test_every_operation_conforms and test_trust.py."""
    case.headers = {**(case.headers or {}), **AUTH}
    case.call_and_validate(base_url=live_url, checks=[c for c in CHECKS if c is not negative_data_rejection])


def test_schema_names_every_route(start_server: StartServer) -> None:
    import httpx

    server = start_server()
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    expected = {
        "/": {"get"},
        "/catalog/scenes": {"get", "post"},
        "/catalog/tiles": {"get", "post"},
        "/catalog/aoi": {"post"},
        "/aoi/": {"get"},
        "/aoi/{aoi}": {"get", "post", "delete"},
        "/aoi/{aoi}/summary": {"get"},
        "/aoi/{aoi}/scene": {"post"},
        "/aoi/{aoi}/retry": {"put"},
        "/aoi/{aoi}/retry/force": {"put"},
        "/aoi/{aoi}/dot": {"get"},
        "/aoi/{aoi}/dot.svg": {"get"},
        "/aoi/{aoi}/scenes": {"get"},
        "/aoi/{aoi}/scenes/{status}": {"get"},
        "/aoi/{aoi}/tiles": {"get"},
        "/aoi/{aoi}/tiles/{status}": {"get"},
        "/aoi/{aoi}/roottiles": {"get"},
        "/aoi/{aoi}/leaftiles": {"get"},
        "/aoi/{aoi}/footprints": {"get"},
        "/scene/{scene_id}": {"get"},
        "/scene/{scene_id}/tiles": {"get"},
        "/scene/{scene_id}/events": {"get"},
        "/scene/{scene_id}/retry": {"put"},
        "/scene/{scene_id}/fail": {"put"},
        "/scene/{scene_id}/force/{status}": {"put"},
        "/scene/{scene_id}/data": {"put"},
        "/tile/{tile_id}": {"get"},
        "/tile/{tile_id}/events": {"get"},
        "/tile/{tile_id}/retry": {"put"},
        "/tile/{tile_id}/fail": {"put"},
        "/tile/{tile_id}/force/{status}": {"put"},
        "/tile/{tile_id}/data": {"put"},
        "/page/config": {"get"},
    }
    assert {path: set(ops) for path, ops in paths.items()} == expected
    document = httpx.get(f"{server.url}/openapi.json").json()
    tile = document["components"]["schemas"]["TileOut"]
    assert {"PreviousID", "ReferenceID", "RetryCountDown"} <= set(tile["properties"])
    # The seed's multipart fields, and the JSON form, are documented with their models.
    body = paths["/catalog/aoi"]["post"]["requestBody"]["content"]
    form = document["components"]["schemas"]["CatalogAoiForm"]
    assert set(form["properties"]) == {"area", "scenes", "tiles"} and form["required"] == ["area"]
    assert form["properties"]["area"]["allOf"] == [{"$ref": "#/components/schemas/PayloadDocument"}]
    assert body["multipart/form-data"]["encoding"]["area"] == {"contentType": "application/json"}
    payload = document["components"]["schemas"]["PayloadDocument"]
    assert {"name", "start_time", "scene_type", "tile_graph_name"} <= set(payload["required"])
    assert payload["properties"]["retry_count"]["maximum"] == 1000
    assert set(body) == {"multipart/form-data", "application/json"}
    responses = paths["/catalog/aoi"]["post"]["responses"]
    assert {"202", "400", "401", "404", "413", "415", "422", "502", "503"} <= set(responses)
    scenes = paths["/catalog/scenes"]["post"]["responses"]["200"]["content"]
    assert scenes == {"application/geo+json": {"schema": {"$ref": "#/components/schemas/CatalogScenesOut"}}}
