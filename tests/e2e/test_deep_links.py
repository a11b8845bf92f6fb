"""A deep link opened first on a freshly started server, signed out, shows the sign-in and
nothing of the page.

Because ``pages/`` sits beside ``app.py``, Streamlit runs ``pages/<key>.py`` directly for the
first visitor of a new server process who opens ``/<key>`` (its old multipage mode, left only
when some run calls ``st.navigation``). ``ui.frame.ensure_frame`` hands such a run to the frame.
Only the first visitor of a process is affected, so every page gets a server of its own.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from db.config import test_database_url
from tests.e2e.conftest import fresh_app, offline_page, wait_drawn
from tests.ui.district import PASSWORD
from ui.frame import PAGES

# what a drawn page would show: maps, tables, KPI tiles, charts, tabs, forms other than sign-in
PAGE_PARTS = ("[data-testid=stDeckGlJsonChart]", 'iframe[title="ui.wall_map.wall_map"]', "[data-testid=stDataFrame]", "[data-testid=stMetric]",
              "[data-testid=stVegaLiteChart]", "[data-testid=stTabs]", "[data-testid=stSidebarNav]")


@pytest.mark.parametrize("key", sorted(k for k, (path, _, _) in PAGES.items() if path.exists()))
def test_first_visitor_of_a_fresh_server_opening_a_page_signed_out_sees_only_the_sign_in(browser, key):
    leaks: list[str] = []
    with fresh_app(test_database_url()) as url, offline_page(browser, leaks) as page:
        page.goto(f"{url}/{key}")
        # a cold server (first run imports geopandas) can take a while
        expect(page.get_by_label("用户名")).to_be_visible(timeout=60_000)
        wait_drawn(page)
        expect(page.get_by_label("密码")).to_be_visible()
        expect(page.get_by_role("button", name="登录")).to_be_visible()
        assert page.locator("[data-testid=stForm]").count() == 1               # the sign-in form only
        for part in PAGE_PARTS:
            assert page.locator(part).count() == 0, (key, part)
        assert page.locator("[data-testid=stAlert]").count() == 0        # no "not allowed" either
        assert page.url.rstrip("/").endswith(f"/{key}")                   # the link survives sign-in
    assert leaks == [], f"requests left localhost: {leaks}"


def test_signing_in_after_such_a_deep_link_opens_that_page_in_the_frame(browser, e2e_db):
    leaks: list[str] = []
    with fresh_app(test_database_url()) as url, offline_page(browser, leaks) as page:
        page.goto(f"{url}/account")
        expect(page.get_by_label("用户名")).to_be_visible(timeout=60_000)
        page.get_by_label("用户名").fill("uit_command")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_label("用户名")).to_have_count(0, timeout=60_000)
        wait_drawn(page)
        expect(page.get_by_role("heading", name="我的账号")).to_be_visible()
        expect(page.get_by_text("uit_command")).to_be_visible()
        expect(page.locator("[data-testid=stSidebarNav]")).to_be_visible()   # the frame's navigation
        assert page.url.rstrip("/").endswith("/account")
    assert leaks == [], f"requests left localhost: {leaks}"
