"""What the pages are served with: the shipped third-party files, the basemap setting, /docs and their policies.

The pages themselves run in Chromium in test_ui_browser.py; these checks are quick HTTP ones.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from geocube_ingest.api.app import UI_DIR
from geocube_ingest.settings import Settings
from tests.api.conftest import StartServer

VENDOR = UI_DIR / "vendor"
TOKEN = "page-assets-token"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workflow.db'}"


def _recorded_hashes() -> dict[str, str]:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    return {path: digest for digest, path in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, flags=re.MULTILINE)}


def test_vendored_files_are_the_published_ones() -> None:
    """Every file under vendor/ is listed in its README with the sha256 of the npm release; none is edited."""
    recorded = _recorded_hashes()
    shipped = {
        str(path.relative_to(VENDOR)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in VENDOR.rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert shipped == recorded
    for package in ("leaflet", "dompurify", "swagger-ui"):
        assert (VENDOR / package / "LICENSE").is_file()


def test_pages_reference_only_their_own_files() -> None:
    """No CDN: every script, stylesheet and image of the pages is a relative path to a shipped file."""
    docs_html = (UI_DIR.parent / "docs.html").read_text(encoding="utf-8")
    pages = {UI_DIR: (UI_DIR / "index.html").read_text(encoding="utf-8"), UI_DIR.parent: docs_html}
    for base, html in pages.items():
        found = re.findall(r'<(?:script|img)[^>]*\bsrc="([^"]+)"|<link[^>]*\bhref="([^"]+)"', html)
        references = [src or href for src, href in found]
        assert references
        for reference in references:
            assert "://" not in reference and not reference.startswith("//"), reference
            assert (base / reference).is_file(), reference


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "http(s) URL"),
        ("https://tiles.example.org/{z}/{x}.png", "missing {y}"),
        ("https://user:secret@tiles.example.org/{z}/{x}/{y}.png", "plain host name"),
        ("https://tiles.example.org;script-src */{z}/{x}/{y}.png", "plain host name"),
        ("https://{z}.example.org/{z}/{x}/{y}.png", "plain host name"),
    ],
)
def test_basemap_url_must_be_a_tile_template(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        Settings(api={"basemap_url": url})  # type: ignore[arg-type]


def test_basemap_reaches_the_page_and_its_policy(start_server: StartServer) -> None:
    server = start_server(
        api={
            "token": TOKEN,
            "basemap_url": "https://{s}.tile.example.org:8443/{z}/{x}/{y}.png",
            "basemap_attribution": "© Example",
        }
    )
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/page/config").status_code == 401  # a tile URL may carry a key: behind the token
        config = http.get("/page/config", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert config == {
            "basemap_url": "https://{s}.tile.example.org:8443/{z}/{x}/{y}.png",
            "basemap_attribution": "© Example",
        }
        page_policy = http.get("/ui/").headers["content-security-policy"]
        assert "img-src 'self' data: blob: https://*.tile.example.org:8443;" in page_policy
        assert "script-src 'self';" in page_policy
        assert http.get("/aoi/").headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_no_basemap_by_default(start_server: StartServer) -> None:
    server = start_server()
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/page/config").json() == {"basemap_url": None, "basemap_attribution": None}
        assert "img-src 'self' data: blob:;" in http.get("/ui/").headers["content-security-policy"]


def test_docs_page_is_open_and_the_schema_is_not(start_server: StartServer) -> None:
    server = start_server(api={"token": TOKEN})
    with httpx.Client(base_url=server.url) as http:
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "ui/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
        assert "script-src 'self';" in docs.headers["content-security-policy"]
        assert http.get("/ui/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
        assert http.get("/openapi.json").status_code == 401
        schema = http.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert "/docs" not in schema["paths"]
        assert schema["paths"]["/page/config"]["get"]["security"] == [{"HTTPBearer": []}]
