"""A reload keeps the sign-in (migration 0031, accounts.sessions): a grid worker's phone that
opened its camera app, a video wall after a network blip, ``?lang=en`` — each a new Streamlit
session, which asked for the password again until session 14 (two reviews found it). Signing out
ends it: a reload then asks again, and the old cookie signs nobody in."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import wait_drawn

OPEN_TILE = ".st-key-kpi-open [data-testid=stMetricValue]"


def _signed_out(page) -> None:
    expect(page.get_by_label(re.compile("^(用户名|Username)$"))).to_be_visible(timeout=60_000)


def test_a_reload_keeps_the_sign_in_and_signing_out_ends_it(page, login, app_url):
    login(page, "uit_command")
    expect(page.locator(OPEN_TILE)).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "gridgov_session")
    assert cookie["sameSite"] == "Strict" and cookie["expires"] == -1  # a session cookie
    page.reload()
    wait_drawn(page)
    expect(page.locator(OPEN_TILE)).to_be_visible(timeout=60_000)
    expect(page.get_by_label("用户名")).to_have_count(0)
    page.goto(app_url + "/?lang=en")  # another address of the app: the same sign-in
    wait_drawn(page)
    expect(page.locator(OPEN_TILE)).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Sign out").click()
    _signed_out(page)
    page.reload()
    _signed_out(page)
    # the old token, set again by hand, is revoked: nobody is signed in by it
    page.context.add_cookies([{**cookie}])
    page.reload()
    _signed_out(page)


def test_a_grid_workers_phone_page_survives_a_reload(page, login, app_url):
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "uit_worker", path="/report")
    expect(page.get_by_role("heading", name="网格上报")).to_be_visible(timeout=60_000)
    page.reload()
    wait_drawn(page)
    expect(page.get_by_role("heading", name="网格上报")).to_be_visible(timeout=60_000)
    expect(page.get_by_label("用户名")).to_have_count(0)
