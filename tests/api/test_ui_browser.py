"""The web page in a real headless Chromium (Debian's), driven by Playwright.

Never `playwright install`: the browser is the system's /usr/bin/chromium. Screenshots go
to test-artifacts/ for people to look at.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.conftest import RunningServer, StartServer
from tests.api.demo import build_s1, build_s2

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUTSIDE = "http://outside.invalid"
# The API answers from a thread of this busy test process: on a loaded CI machine 5 s is short.
expect.set_options(timeout=20_000)
# Markup that runs code (or loads from outside) wherever it is not treated as text.
# Source ids may not hold '/' or '\\' (docs/security.md): markup that needs neither.
HOSTILE_SCENE = '<script>window.pwned = 1<img src=x onerror="window.pwned = 1">'
HOSTILE_TILE = 'javascript:window.pwned = 1;<svg onload="window.pwned = 1">'
HOSTILE_MESSAGE = '<iframe src="javascript:window.pwned = 1"></iframe><b onmouseover="window.pwned = 1">x</b>'

pytestmark = pytest.mark.slow
DASH = "\u2013"  # the pager writes ranges with an en dash


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workflow.db'}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("Chromium is required for the page tests: apt-get install -y chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Watched:
    """A page that records console errors and dialogs, and refuses every request leaving the server
    (or the other 127.0.0.1 servers named in `allowed`): the page must work offline."""

    def __init__(
        self,
        browser: Browser,
        server: RunningServer,
        size: tuple[int, int] = (1440, 1000),
        allowed: tuple[str, ...] = (),
    ):
        self.context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.dialogs: list[str] = []
        hosts = {urlparse(server.url).netloc, *(urlparse(url).netloc for url in allowed)}
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def guard(route: Any) -> None:
            if urlparse(route.request.url).netloc in hosts:
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()

        self.page.route("**/*", guard)

    def close(self) -> None:
        self.context.close()


def _retryable_tile(server: RunningServer, aoi: str) -> int:
    for tile in server.workflow.tiles(aoi, "RETRY"):
        previous = server.workflow.tile(tile.previous_id) if tile.previous_id else None
        if tile.scene_status.value == "DONE" and (previous is None or previous.status.value == "DONE"):
            return tile.id
    raise AssertionError("no retryable tile in the demo")


def test_operator_loads_an_aoi_and_retries_a_tile(
    browser: Browser, start_server: StartServer, fixtures_dir: Path, artifacts: Path
) -> None:
    server = start_server()
    s1 = build_s1(server.workflow, fixtures_dir)
    build_s2(server.workflow)
    summary = server.workflow.summary(s1.name)
    watched = Watched(browser, server)
    page = watched.page
    try:
        page.goto(f"{server.url}/ui/")
        expect(page.locator(".aoi-item")).to_have_count(2)
        page.locator(".aoi-item", has_text=s1.name).click()
        expect(page.locator("#aoi-name")).to_contain_text(s1.name)

        # Counts as the workflow has them.
        tiles_card = page.locator("#tile-counts")
        expect(tiles_card.locator(".counts-total")).to_contain_text(str(summary.tiles.total))
        for status in ("new", "pending", "done", "retry", "failed"):
            cell = tiles_card.locator(f".count.c-{status.upper()} b")
            expect(cell).to_have_text(str(getattr(summary.tiles, status)))
        expect(page.locator("#scene-counts .counts-total")).to_contain_text(str(summary.scenes.total))

        # The map: one footprint per burst (most urgent acquisition on top) and the 6 scene outlines,
        # on a graticule; no basemap is configured, so no tile is asked for.
        expect(page.locator("#map path.fp.tile")).to_have_count(27)
        expect(page.locator("#map path.fp.scene")).to_have_count(6)
        expect(page.locator("#map path.fp.tile.f-RETRY")).to_have_count(1)
        expect(page.locator("#map .grat-label").first).to_be_visible()
        expect(page.locator("#map .leaflet-control-scale-line")).to_contain_text("km")
        expect(page.locator("#map img")).to_have_count(0)
        page.select_option("#map-date", "2020-05-23")
        expect(page.locator("#map path.fp.tile")).to_have_count(27)
        expect(page.locator("#map path.fp.tile.f-RETRY")).to_have_count(1)
        expect(page.locator("#map path.fp.scene")).to_have_count(1)
        page.select_option("#map-date", "")

        # The dependency graph: every tile, and each scene as a box.
        expect(page.locator("#graph svg g.node")).to_have_count(summary.tiles.total)
        expect(page.locator("#graph svg g.cluster")).to_have_count(summary.scenes.total)
        page.screenshot(path=str(artifacts / "ui-aoi-s1.png"))

        # Retry a RETRY tile from its details, after confirming.
        tile_id = _retryable_tile(server, s1.name)
        page.locator(".chip", has_text="RETRY").click()
        expect(page.locator("#table-body tr")).to_have_count(summary.tiles.retry)
        row = page.locator(f'#table-body tr[data-key="tile-{tile_id}"]')
        expect(row).to_contain_text("RETRY")
        row.locator("td.src").click()
        drawer = page.locator("#drawer")
        expect(drawer.locator(".drawer-title .badge")).to_have_text("RETRY")
        expect(drawer.locator(".message")).to_contain_text("GDAL read error")
        page.screenshot(path=str(artifacts / "ui-drawer-retry.png"))
        drawer.locator('[data-action="retry"]').click()
        dialog = page.locator("#confirm")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(f"Retry tile #{tile_id}?")
        page.screenshot(path=str(artifacts / "ui-confirm.png"))
        page.locator("#confirm-ok").click()
        expect(drawer.locator(".drawer-title .badge")).to_have_text("PENDING")
        expect(page.locator(".toast.ok")).to_contain_text(f"tile #{tile_id} is now PENDING")
        expect(drawer.locator(".timeline li").first).to_contain_text("api")
        assert server.workflow.tile(tile_id).status.value == "PENDING"
        expect(tiles_card.locator(".count.c-RETRY b")).to_have_text(str(summary.tiles.retry - 1))
        page.screenshot(path=str(artifacts / "ui-after-retry.png"))

        # Map footprints and graph nodes open their tile.
        root = s1.tile_ids[0]
        page.select_option("#map-date", "2020-05-11")
        footprint = page.locator(f'#map path[data-key="tile-{root}"]')
        footprint.hover()
        expect(page.locator(".fp-tip")).to_contain_text(server.workflow.tile(root).source_id)
        footprint.click()
        expect(drawer.locator("h3")).to_have_text(f"Tile #{root}")
        expect(footprint).to_have_class(re.compile(r"\bsel\b"))
        page.keyboard.press("Escape")  # the details cover the graph on this screen width
        expect(drawer).to_be_hidden()
        page.locator("#graph-fit").click()
        page.locator(f'#graph [id="gv-tile-{tile_id}"]').click()
        expect(drawer.locator("h3")).to_have_text(f"Tile #{tile_id}")
        expect(page.locator(f'#graph [id="gv-tile-{tile_id}"]')).to_have_class("node tile st-PENDING sel")

        assert not watched.outside, f"the page asked for outside resources: {watched.outside}"
        assert not watched.errors, f"console errors: {watched.errors}"
    finally:
        watched.close()


def test_retry_button_in_the_table_and_cancel(browser: Browser, start_server: StartServer, artifacts: Path) -> None:
    server = start_server()
    s2 = build_s2(server.workflow)
    first, second, *_ = (t.id for t in server.workflow.tiles(s2.name, "RETRY"))
    watched = Watched(browser, server)
    page = watched.page
    try:
        page.goto(f"{server.url}/ui/#/aoi/{s2.name}")
        row = page.locator(f'#table-body tr[data-key="tile-{first}"]')
        expect(row.locator(".badge")).to_have_text("RETRY")

        # Cancelling changes nothing.
        row.locator('[data-action="retry"]').click()
        page.locator('#confirm button[value="cancel"]').click()
        expect(page.locator("#confirm")).not_to_be_visible()
        assert server.workflow.tile(first).status.value == "RETRY"

        row.locator('[data-action="retry"]').click()
        page.locator("#confirm-ok").click()
        expect(row.locator(".badge")).to_have_text("PENDING")
        expect(row.locator('[data-action="retry"]')).to_have_count(0)
        assert server.workflow.tile(first).status.value == "PENDING"

        # Force sets any status.
        row.locator('[data-action="force"]').click()
        page.select_option("#confirm-status", "NEW")
        page.locator("#confirm-ok").click()
        expect(row.locator(".badge")).to_have_text("NEW")

        # A refused transition shows the server's reason and changes nothing.
        server.workflow.force("scene", server.workflow.tile(second).scene_id, "PENDING")
        other = page.locator(f'#table-body tr[data-key="tile-{second}"]')
        other.locator('[data-action="retry"]').click()
        page.locator("#confirm-ok").click()
        expect(page.locator(".toast.error")).to_contain_text(f"cannot retry tile {second}: its scene")
        expect(other.locator(".badge")).to_have_text("RETRY")
        page.screenshot(path=str(artifacts / "ui-aoi-s2.png"))
        assert not watched.outside, watched.outside
        # The browser logs the refused request itself; the page adds no error of its own.
        assert [e for e in watched.errors if "status of 403" not in e] == []
    finally:
        watched.close()


def test_token_is_asked_once_and_kept_for_the_tab(browser: Browser, start_server: StartServer, artifacts: Path) -> None:
    server = start_server(api={"token": "page-token-42"})
    build_s2(server.workflow)
    watched = Watched(browser, server)
    page = watched.page
    try:
        page.goto(f"{server.url}/ui/")
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible()
        page.screenshot(path=str(artifacts / "ui-token.png"))
        page.fill("#token-input", "page-token-42")
        dialog.locator('button[value="ok"]').click()
        expect(page.locator(".aoi-item")).to_have_count(1)
        assert page.evaluate("sessionStorage.getItem('geocube-ingest-token')") == "page-token-42"
        page.reload()
        expect(page.locator(".aoi-item")).to_have_count(1)
        expect(dialog).not_to_be_visible()
        # 401 answers before the token was typed are expected; nothing else.
        assert all("401" in error for error in watched.errors), watched.errors
    finally:
        watched.close()


def test_tables_are_paged_by_the_server(browser: Browser, start_server: StartServer, fixtures_dir: Path) -> None:
    """The page asks for 50 rows at a time (`page`/`limit`), never for a whole list of tiles."""
    server = start_server()
    s1 = build_s1(server.workflow, fixtures_dir)
    order = [t.id for t in server.workflow.tiles(s1.name)]
    total = len(order)
    watched = Watched(browser, server)
    page = watched.page
    lists: list[str] = []
    page.on("request", lambda r: lists.append(r.url) if "/tiles" in urlparse(r.url).path else None)
    try:
        page.goto(f"{server.url}/ui/#/aoi/{s1.name}")
        pager = page.locator("#pager")
        rows = page.locator("#table-body tr")
        expect(pager).to_contain_text(f"1{DASH}50 of {total}")
        expect(rows).to_have_count(50)
        expect(rows.first).to_have_attribute("data-key", f"tile-{order[0]}")

        pager.locator('[data-page="1"]').click()
        expect(pager).to_contain_text(f"51{DASH}100 of {total}")
        expect(rows.first).to_have_attribute("data-key", f"tile-{order[50]}")
        assert "page=1" in page.url

        last = (total - 1) // 50
        for number in range(2, last + 1):
            pager.locator("button", has_text="Next").click()
            expect(pager).to_contain_text(f"{number * 50 + 1}{DASH}")
        expect(pager).to_contain_text(f"{last * 50 + 1}{DASH}{total} of {total}")
        expect(rows).to_have_count(total - last * 50)
        expect(pager.locator("button", has_text="Next")).to_be_disabled()
        pager.locator("button", has_text="Previous").click()
        expect(pager).to_contain_text(f"{(last - 1) * 50 + 1}{DASH}{last * 50} of {total}")

        # A status filter starts again at its first page.
        page.locator(".chip", has_text="DONE").click()
        done = [t.id for t in server.workflow.tiles(s1.name, "DONE")]
        expect(pager).to_contain_text(f"1{DASH}{min(50, len(done))} of {len(done)}")
        expect(rows.first).to_have_attribute("data-key", f"tile-{done[0]}")

        assert lists, "the table asked for no tiles"
        for url in lists:
            query = urlparse(url).query
            assert "limit=50" in query, f"a whole list was asked for: {url}"
        assert not watched.outside, watched.outside
        assert not watched.errors, watched.errors
    finally:
        watched.close()


def _live_markup(page: Page, selector: str) -> dict[str, list[str]]:
    """What, under `selector`, could run code or load something: elements, event handlers, script links, styles."""
    return page.evaluate(
        """(selector) => {
          const LIVE = /^(script|iframe|foreignobject|image|img|style|use|animate|set)$/i;
          const all = [...document.querySelector(selector).querySelectorAll("*")];
          const attributes = all.flatMap((node) => [...node.attributes].map((a) => [a.name, a.value]));
          const URL_ATTRIBUTE = /^(.*href|src|action|formaction|to|from|values)$/i;
          const scripted = ([name, value]) => URL_ATTRIBUTE.test(name) && !/^https?:/.test(value);
          return {
            elements: all.map((n) => n.localName).filter((n) => LIVE.test(n)),
            handlers: attributes.filter(([name]) => /^on/i.test(name)).map(([name]) => name),
            links: attributes.filter(scripted).map(([n, v]) => `${n}=${v}`),
            styles: selector === "#graph" ? attributes.filter(([name]) => name === "style").map(([, v]) => v) : [],
          };
        }""",
        selector,
    )


def _hostile_svg(tile_id: int) -> str:
    """A dot.svg answer as an attacker on the wire would write it: the node the page needs, plus every trick."""
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg width="200pt" height="100pt" viewBox="0 0 200 100" xmlns="http://www.w3.org/2000/svg"
 xmlns:xlink="http://www.w3.org/1999/xlink" onload="window.pwned = 1">
<script>window.pwned = 1</script>
<style>@import url("{OUTSIDE}/style.css");</style>
<g id="graph0" class="graph">
<g id="gv-tile-{tile_id}" class="node tile st-NEW" onclick="window.pwned = 1"><title>t{tile_id}</title>
<a xlink:href="javascript:window.pwned = 1" xlink:title="tile {tile_id}">
<polygon fill="#eef0f3" stroke="#8a94a6" points="10,10 190,10 190,90 10,90"/>
<text x="100" y="55" text-anchor="middle" style="fill: red">hostile tile</text></a></g>
<image href="{OUTSIDE}/pixel.png" width="10" height="10"/>
<use href="{OUTSIDE}/sprite.svg#x"/>
<foreignObject width="100" height="100">
<iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:window.pwned = 1"></iframe></foreignObject>
<animate attributeName="href" to="javascript:window.pwned = 1"/>
</g></svg>"""


def test_hostile_names_messages_and_svg_run_nothing(
    browser: Browser, start_server: StartServer, artifacts: Path
) -> None:
    """Markup in the API's data is shown as text; a hostile dot.svg answer is sanitised by DOMPurify."""
    server = start_server()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/aoi/Hostile").status_code == 204
        scene = {
            "source_id": HOSTILE_SCENE,
            "data": {"uuid": "u-hostile", "date": "2022-01-04T10:34:31Z", "graph_name": "Pass"},
            "tiles": {HOSTILE_TILE: {"wkt": "POLYGON ((9 55, 10 55, 10 56, 9 56, 9 55))"}},
            "wkt": "POLYGON ((8.9 54.9, 10.1 54.9, 10.1 56.1, 8.9 56.1, 8.9 54.9))",
        }
        created = http.post("/aoi/Hostile/scene", json=scene)
        assert created.status_code == 200, created.text
        [tile] = http.get(f"/scene/{created.json()['id']}/tiles").json()
        forced = http.put(f"/tile/{tile['id']}/force/FAILED", params={"message": HOSTILE_MESSAGE})
        assert forced.status_code == 200, forced.text
    watched = Watched(browser, server)
    page = watched.page
    try:
        page.goto(f"{server.url}/ui/#/aoi/Hostile")
        node = page.locator(f'#graph [id="gv-tile-{tile["id"]}"]')
        expect(node).to_contain_text("javascript:")  # the label, as text
        expect(page.locator("#graph svg g.cluster")).to_contain_text("<script>")
        footprint = page.locator(f'#map path[data-key="tile-{tile["id"]}"]')
        footprint.hover()
        expect(page.locator(".fp-tip")).to_contain_text(HOSTILE_TILE)
        expect(page.locator(".fp-tip")).to_contain_text(HOSTILE_MESSAGE)
        node.click()
        expect(page.locator("#drawer .message")).to_contain_text(HOSTILE_MESSAGE)
        page.screenshot(path=str(artifacts / "ui-hostile-data.png"))
        for part in ("#graph", "#map", "#table-body", "#drawer"):
            assert _live_markup(page, part) == {"elements": [], "handlers": [], "links": [], "styles": []}, part

        assert not watched.errors, f"console errors (a CSP refusal means markup got through): {watched.errors}"

        # Whatever the server (or something on the wire) sends as the graph, DOMPurify keeps the drawing only.
        hostile = _hostile_svg(tile["id"])
        page.route("**/dot.svg", lambda route: route.fulfill(body=hostile, content_type="image/svg+xml"))
        page.keyboard.press("Escape")
        page.reload()
        expect(node).to_contain_text("hostile tile")
        expect(page.locator("#graph svg")).to_have_count(1)
        assert _live_markup(page, "#graph") == {"elements": [], "handlers": [], "links": [], "styles": []}
        node.click()
        expect(page.locator("#drawer h3")).to_have_text(f"Tile #{tile['id']}")

        assert page.evaluate("window.pwned") is None
        assert not watched.dialogs, watched.dialogs
        assert not watched.outside, f"the page asked for outside resources: {watched.outside}"
        # Chromium reports the CSP refusals of handlers and styles met while DOMPurify parses the text
        # in its inert document; nothing else may be logged.
        assert all("Content Security Policy" in error for error in watched.errors), watched.errors
    finally:
        watched.close()


@pytest.fixture
def tile_server() -> Iterator[tuple[str, list[str]]]:
    """A basemap on 127.0.0.1: every tile is one flat SVG image; the paths asked for are recorded."""
    asked: list[str] = []
    image = b'<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256">'
    image += b'<rect width="256" height="256" fill="#dfe9d6"/></svg>'

    class Tiles(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/svg+xml")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_basemap_from_the_settings(
    browser: Browser, start_server: StartServer, tile_server: tuple[str, list[str]], artifacts: Path
) -> None:
    tiles, asked = tile_server
    attribution = '© <a href="https://example.org/terms">Test tiles</a>'
    server = start_server(api={"basemap_url": f"{tiles}/{{z}}/{{x}}/{{y}}.svg", "basemap_attribution": attribution})
    s2 = build_s2(server.workflow)
    watched = Watched(browser, server, allowed=(tiles,))
    page = watched.page
    try:
        page.goto(f"{server.url}/ui/#/aoi/{s2.name}")
        expect(page.locator("#map path.fp.tile")).to_have_count(len(s2.tile_ids))
        expect(page.locator("#map img.leaflet-tile-loaded").first).to_be_visible()
        expect(page.locator("#map .leaflet-control-attribution a", has_text="Test tiles")).to_have_count(1)
        page.screenshot(path=str(artifacts / "ui-basemap.png"))
        assert asked and all(re.fullmatch(r"/\d+/\d+/\d+\.svg", path) for path in asked), asked
        assert not watched.outside, watched.outside
        assert not watched.errors, f"console errors (the CSP must let the basemap in): {watched.errors}"
    finally:
        watched.close()


def test_docs_lists_the_operations_offline(browser: Browser, start_server: StartServer, artifacts: Path) -> None:
    """/docs is Swagger UI from the package's files; the schema stays behind the token, which the page asks for."""
    server = start_server(api={"token": "docs-token"})
    build_s2(server.workflow)
    operations = sum(len(methods) for methods in server.app.openapi()["paths"].values())
    watched = Watched(browser, server)
    page = watched.page
    try:
        page.goto(f"{server.url}/docs")
        expect(page.locator("#token-form")).to_be_visible()
        page.fill("#token-input", "docs-token")
        page.locator("#token-form button").click()
        expect(page.locator(".opblock")).to_have_count(operations)
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("geocube-ingest workflow server")
        page.screenshot(path=str(artifacts / "docs.png"))

        # The token is already in Swagger's Authorize: "Try it out" works at once.
        listing = page.locator(".opblock-get", has=page.locator('[data-path="/aoi/"]'))
        listing.locator(".opblock-summary").click()
        listing.locator(".try-out__btn").click()
        listing.locator(".execute").click()
        expect(listing.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
        expect(listing.locator(".live-responses-table")).to_contain_text("DenmarkDemoS2")

        assert not watched.outside, f"/docs asked for outside resources: {watched.outside}"
        # 401 answers before the token was typed are expected; nothing else.
        assert all("401" in error for error in watched.errors), watched.errors
    finally:
        watched.close()
