"""Browser tests: the real app (``streamlit run app.py``) in Debian's Chromium, fully offline.

Fixtures for any page's end-to-end test:

- ``e2e_db``: the test district of ``tests/ui/district.py`` with one account per role
  (password ``PASSWORD``) and a mix of cases, committed, removed again afterwards.
- ``app_url``: the app served on a free localhost port against the test database;
  ``fresh_app(url)``: a fresh server of one's own (a context manager).
- ``page``: a fresh browser page (``offline_page(browser, requests)``: one for another server).
  Every request that is not for localhost is aborted and counted; a test that caused one fails (a CDN, tile server or font host would show up here).
- ``login(page, username)``: sign in and wait for the first page to be drawn.
- ``wait_drawn(page)``, ``map_point(page, view, lon, lat)``, ``hover_text(page, x, y)``.
- ``PANEL_FORM``: a case panel's action form (not the search box's form).
- ``WALL_MAP``: the wall's map (the component ui/wall_map, an iframe); ``wall_frame(page)``: its
  document, where its canvas, its tooltip (``hover_text(page, x, y, WALL_MAP)``) and its test
  hook ``window.__wall`` live.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from bench.browser import CHROMIUM, CHROMIUM_ARGS, serve_app, stop_app
from db.config import TIME_ZONE, test_database_url
from tests.ui.district import PASSWORD, committed_test_district

ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
SHOTS = ROOT / "var" / "e2e"  # screenshots for a person to look at (var/ is git-ignored)
WALL_MAP = 'iframe[title="ui.wall_map.wall_map"]'
# A case panel's action form: any form but the case desks' search by number (ui.case_view.case_search)
PANEL_FORM = "[data-testid=stForm]:not(:has(.st-key-dispatch-search, .st-key-dq-search))"


@pytest.fixture(scope="package")
def e2e_db(engine):
    """The test district with one account per role and a state mix of cases, committed."""
    with committed_test_district(engine) as world:
        yield world


@contextmanager
def fresh_app(database_url: str) -> Iterator[str]:
    """A server of one's own (so its first visitor is the first of the server); its URL."""
    proc, url = serve_app(database_url, log_prefix="gridgov-e2e-")
    try:
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="package")
def app_url(e2e_db):
    """``streamlit run app.py`` on a free port, against the test database; stopped afterwards."""
    proc, url = serve_app(test_database_url(), log_prefix="gridgov-e2e-")
    yield url
    stop_app(proc)


@pytest.fixture(scope="package")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def external_requests() -> list[str]:
    return []


@contextmanager
def offline_page(browser, external_requests: list[str], **context_options) -> Iterator[Page]:
    """A page in a fresh browser context; requests leaving localhost are aborted and recorded.
    ``context_options`` go to Playwright's ``new_context`` (a phone's viewport, a geolocation …)."""
    options = {"viewport": {"width": 1600, "height": 1000}, "locale": "zh-CN", "timezone_id": TIME_ZONE,
               **context_options}
    context = browser.new_context(**options)

    def gate(route):
        if urlparse(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            external_requests.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def page(browser, app_url, external_requests) -> Page:
    """A page in a fresh context on ``app_url``'s server; a request leaving localhost fails the test."""
    with offline_page(browser, external_requests) as pg:
        yield pg
    assert external_requests == [], f"requests left localhost: {external_requests}"


def wait_drawn(page: Page, timeout: float = 30_000) -> None:
    """Connected, and the script has finished at least once (it flips while live updates run).
    Room for a loaded machine: a run of a page there can take longer than expect's 5 s."""
    expect(page.locator("[data-test-connection-state=CONNECTED]")).to_have_count(1, timeout=timeout)
    expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=timeout)


@pytest.fixture
def login(app_url):
    def sign_in(page: Page, username: str, password: str = PASSWORD, path: str = "/") -> Page:
        page.goto(app_url + path)
        # a cold server (first run imports geopandas, builds the outline file) can take a while
        expect(page.get_by_label("用户名")).to_be_visible(timeout=60_000)
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(password)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_label("用户名")).to_have_count(0, timeout=60_000)
        wait_drawn(page)
        return page

    return sign_in


def map_point(page: Page, view: dict, lon: float, lat: float, chart: str = "[data-testid=stDeckGlJsonChart]"):
    """Screen position of (lon, lat) on a deck.gl map showing ``view`` (no pitch, no bearing)."""
    def world(x, y):
        scale = 512 * 2 ** view["zoom"]
        return scale * (x + 180) / 360, scale * (1 - math.log(math.tan(math.pi / 4 + math.radians(y) / 2)) / math.pi) / 2

    box = page.locator(chart).first.bounding_box()
    cx, cy = world(view["longitude"], view["latitude"])
    px, py = world(lon, lat)
    return box["x"] + box["width"] / 2 + (px - cx), box["y"] + box["height"] / 2 + (py - cy)


def hover_text(page: Page, x: float, y: float, frame: str | None = None) -> str:
    """The deck.gl tooltip's text after hovering (x, y); '' if nothing is picked there.
    ``frame``: the iframe the map is drawn in (a component such as ``WALL_MAP``)."""
    page.mouse.move(x - 3, y - 3)
    page.mouse.move(x, y)
    page.wait_for_timeout(250)
    tip = (page.frame_locator(frame) if frame else page).locator(".deck-tooltip")
    return tip.inner_text() if tip.count() and tip.is_visible() else ""


def wall_frame(page: Page):
    """The wall map's document (a Playwright Frame), once its deck has drawn."""
    expect(page.frame_locator(WALL_MAP).locator("canvas").first).to_be_visible(timeout=60_000)
    frame = page.locator(WALL_MAP).first.element_handle(timeout=60_000).content_frame()  # a rerun may remount it
    frame.wait_for_function("window.__wall && window.__wall.builds > 0", timeout=60_000)
    return frame
