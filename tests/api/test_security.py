"""Token, CORS, body size limit and error hygiene of the real server."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.api.conftest import StartServer
from tests.processes import refused_port

TOKEN = "s3cr3t-token-for-tests"


@pytest.fixture
def database_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Security does not depend on the backend: SQLite only."""
    return f"sqlite:///{tmp_path / 'workflow.db'}"


def test_bearer_token_on_every_api_route(start_server: StartServer) -> None:
    server = start_server(api={"token": TOKEN})
    good = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/").status_code == 200  # health stays open
        assert http.get("/ui/").status_code == 200  # the page is static; it asks for the token
        for method, path in [
            ("GET", "/aoi/"),
            ("POST", "/aoi/A"),
            ("GET", "/aoi/A"),
            ("PUT", "/aoi/A/retry"),
            ("GET", "/scene/1"),
            ("PUT", "/tile/1/retry"),
            ("GET", "/openapi.json"),
        ]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                answer = http.request(method, path, headers=headers)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.headers["www-authenticate"] == "Bearer"
                assert TOKEN not in answer.text
        assert http.get("/aoi/").status_code == 401
        assert http.post("/aoi/A", headers=good).status_code == 204
        assert http.get("/aoi/", headers=good).json() == [{"ID": "A", "status": "NEW"}]
        schema = http.get("/openapi.json", headers=good).json()
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert TOKEN not in repr(server.settings)


def test_no_token_configured_means_no_auth(start_server: StartServer) -> None:
    server = start_server()
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert httpx.get(f"{server.url}/aoi/").status_code == 200


def test_cors_only_for_configured_origins(start_server: StartServer) -> None:
    server = start_server(api={"cors_origins": ["https://ops.example.org"]})
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"}
    allowed = httpx.options(f"{server.url}/aoi/A/retry", headers={"Origin": "https://ops.example.org", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://ops.example.org"
    other = httpx.options(f"{server.url}/aoi/A/retry", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
    plain = httpx.get(f"{server.url}/aoi/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers


def test_request_body_limit(start_server: StartServer) -> None:
    server = start_server(api={"max_upload_bytes": 2048})
    assert httpx.post(f"{server.url}/aoi/A").status_code == 204
    big = {"source_id": "S1", "data": {"blob": "x" * 5000}, "tiles": {"b1": {}}}
    answer = httpx.post(f"{server.url}/aoi/A/scene", json=big)
    assert answer.status_code == 413
    assert "larger than 2048 bytes" in answer.json()["detail"]

    # A chunked body (no Content-Length) is cut off once it passes the limit.
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"source_id": "S1", "data": {"blob": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}, "tiles": {"b1": {}}}'

    chunked = httpx.post(f"{server.url}/aoi/A/scene", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert httpx.get(f"{server.url}/aoi/A/scenes").json() == []
    small = {"source_id": "S1", "data": {}, "tiles": {"b1": {}}}
    assert httpx.post(f"{server.url}/aoi/A/scene", json=small).status_code == 200


def test_internal_errors_hide_details(start_server: StartServer, database_url: str) -> None:
    server = start_server()
    assert httpx.post(f"{server.url}/aoi/A").status_code == 204
    engine = create_engine(database_url)
    with engine.begin() as connection:  # a broken database: the scene table is gone
        connection.execute(text("ALTER TABLE scene RENAME TO scene_gone"))
    engine.dispose()
    answer = httpx.get(f"{server.url}/aoi/A/scenes")
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal server error (see the server log)"}
    assert "Traceback" not in answer.text and "sqlite" not in answer.text.lower()


def test_health_reports_an_unreachable_database() -> None:
    from geocube_ingest.api import create_app
    from geocube_ingest.settings import Settings
    from geocube_ingest.workflow import Workflow
    from tests.api.conftest import ThreadedServer

    settings = Settings()
    with refused_port() as port:  # a port where nothing listens
        workflow = Workflow(f"postgresql://nobody@127.0.0.1:{port}/none", settings=settings, migrate=False)
        with ThreadedServer(create_app(settings, workflow)) as url:
            answer = httpx.get(f"{url}/", timeout=30)
    assert answer.status_code == 503
    assert answer.json() == {"detail": "workflow database unreachable"}


def test_page_headers_forbid_outside_assets(start_server: StartServer) -> None:
    server = start_server()
    page = httpx.get(f"{server.url}/ui/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert httpx.get(f"{server.url}/ui", follow_redirects=True).status_code == 200
    api = httpx.get(f"{server.url}/aoi/")
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert api.headers["x-content-type-options"] == "nosniff"
