"""The web page in a real headless Chromium (Debian's), driven by Playwright.

Never `playwright install`: the browser is the system's /usr/bin/chromium. Screenshots go
to test-artifacts/ for people to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.conftest import RunningServer, StartServer
from tests.api.demo import build_s1, build_s2

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

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
    """A page that records console errors and refuses every request leaving the server."""

    def __init__(self, browser: Browser, server: RunningServer, size: tuple[int, int] = (1440, 1000)):
        self.context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        host = urlparse(server.url).netloc
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def guard(route: Any) -> None:
            if urlparse(route.request.url).netloc == host:
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

        # The map: one footprint per burst (most urgent acquisition on top) and the 6 scene outlines.
        expect(page.locator("#map path.fp.tile")).to_have_count(27)
        expect(page.locator("#map path.fp.scene")).to_have_count(6)
        expect(page.locator("#map .grat-label").first).to_be_visible()
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
        page.locator(f'#map path[data-key="tile-{root}"]').click()
        expect(drawer.locator("h3")).to_have_text(f"Tile #{root}")
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
