"""The map component's own document (``ui/wall_map/frontend``) in Chromium, fed render messages as
Streamlit would: a map with no delta feed (the dispatch page's) takes a payload whose cases changed
in place — same ids, same order, another state — as new (never keeping the old tooltips and colours),
and a payload that only moves the ring round the picked case without rebuilding its points."""
from __future__ import annotations

import pytest

from ui.wall_map import FRONTEND
from wall.frame import FILL, OUTLINE_STYLE, RING
from wall.live_map import HALO, PICK_RING, TOOLTIP_STYLE, pack

W, H = 700, 420


def _payload(state: str, pick=None) -> dict:
    return {
        "t0": 1_800_000_000, "view": {"longitude": 121.02, "latitude": 41.015, "zoom": 13.5, "pitch": 0, "bearing": 0},
        "origin": [121.0, 41.0], "unit": 1e-5,
        "outlines": "data:application/json,[]", "outlineStyle": {str(k): v for k, v in OUTLINE_STYLE.items()},
        "labels": [], "labelScale": 1, "font": "sans-serif",
        "grids": {"g": [[1000, 1000, 3000, 1000, 3000, 2500, 1000, 2500, 1000, 1000]], "c": [[30, 64, 175, 70]],
                  "t": ["网格 A 在办 2"]},
        "cases": {"i": [11, 12], "x": [1500, 2500], "y": [1700, 1700], "d": [3600, 7200], "w": [1800, 3600],
                  "g": [0, 0], "c": [0, 0]},
        "cats": ["暴露垃圾"], "detail": {"n": ["N11", "N12"], "s": [state, "处置中"], "e": ["", ""], "x": ["甲", "乙"]},
        "fill": {str(k): v for k, v in FILL.items()}, "ring": {str(k): v for k, v in RING.items()},
        "halo": HALO, "radius": 6, "caseLayer": "cases", "pick": pick, "pickColor": PICK_RING,
        "texts": {"overdue": "已超期"}, "tooltipStyle": TOOLTIP_STYLE,
    }


_RENDER = """([bytes, stamp]) => { window.postMessage({ type: "streamlit:render", args: {
  data: new Uint8Array(bytes), stamp, now: 1800000000, height: 400, select: true } }, "*"); }"""


def _render(page, data: dict, stamp: str) -> None:
    page.evaluate(_RENDER, [list(pack(data)), stamp])
    page.wait_for_function("(s) => window.__wall && window.__wall.stamp === s", arg=stamp, timeout=20_000)


@pytest.fixture
def component(browser):
    page = browser.new_page(viewport={"width": W, "height": H}, device_scale_factor=1)
    page.goto((FRONTEND / "index.html").as_uri())
    yield page
    page.close()


def test_a_case_changed_in_place_is_drawn_anew_and_a_pick_moves_only_the_ring(component):
    page = component
    first = _payload("处置中")
    _render(page, first, "a")
    assert "处置中" in page.evaluate("window.__wall.tooltipOf(11)")
    builds = page.evaluate("window.__wall.builds")
    # the same cases in the same order, case 11 now awaiting verification: a new drawing, not the old one kept
    _render(page, _payload("待核查"), "b")
    assert "待核查" in page.evaluate("window.__wall.tooltipOf(11)")
    assert page.evaluate("[window.__wall.builds, window.__wall.adopts]") == [builds + 1, 0]
    # a pick: the same cases, a ring round case 12 — the points are kept, the ring is drawn
    picked = _payload("待核查", pick=[2500, 1700])
    draws = page.evaluate("window.__wall.draws")
    _render(page, picked, "c")
    page.wait_for_function(f"window.__wall.draws > {draws} && window.__wall.pick !== null", timeout=20_000)
    assert page.evaluate("[window.__wall.builds, window.__wall.adopts]") == [builds + 1, 1]
    ring, point = page.evaluate("[window.__wall.pick, window.__wall.pxOf(12)]")
    assert abs(ring[0] - point[0]) < 0.5 and abs(ring[1] - point[1]) < 0.5, (ring, point)
    assert page.evaluate("document.body.dataset.error") is None


def test_the_view_pans_zooms_and_picks_without_a_library(browser):
    """view.js (deck.gl's controller until session 10): a drag pans, the wheel zooms round the pointer,
    two fingers zoom, a click on a case answers its id; the points follow every move."""
    ctx = browser.new_context(viewport={"width": W, "height": H}, device_scale_factor=1, has_touch=True)
    page = ctx.new_page()
    try:
        page.goto((FRONTEND / "index.html").as_uri())
        page.evaluate("""() => { window.__sent = [];
          window.addEventListener('message', (e) => { if (e.data && e.data.type === 'streamlit:setComponentValue') window.__sent.push(e.data.value); }); }""")
        _render(page, _payload("处置中"), "a")
        page.wait_for_function("window.__wall.pxOf(12) !== null", timeout=20_000)
        box = page.locator("#map").bounding_box()

        def at(case_id):
            x, y = page.evaluate(f"window.__wall.pxOf({case_id})")
            return box["x"] + 1 + x, box["y"] + 1 + y   # the map's 1-px border

        z0 = page.evaluate("window.__wall.view().zoom")
        # a click on case 12 answers its id (select), once
        page.mouse.click(*at(12))
        page.wait_for_function("window.__sent.length > 0", timeout=10_000)
        assert page.evaluate("window.__sent")[0]["i"] == 12
        # a drag pans: the case moves with the pointer
        x, y = at(12)
        page.mouse.move(x + 40, y + 40)
        page.mouse.down()
        page.mouse.move(x + 90, y + 60, steps=5)
        page.mouse.move(x + 140, y + 90, steps=5)
        page.mouse.up()
        page.wait_for_timeout(100)
        nx, ny = at(12)
        assert abs(nx - (x + 100)) < 1.5 and abs(ny - (y + 50)) < 1.5, ((x, y), (nx, ny))
        assert len(page.evaluate("window.__sent")) == 1   # a drag is no click
        # the wheel zooms in round the pointer: the case under it stays where it is
        page.mouse.move(nx, ny)
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(150)
        z1 = page.evaluate("window.__wall.view().zoom")
        assert z1 > z0 + 0.5, (z0, z1)
        wx, wy = at(12)
        assert abs(wx - nx) < 1.5 and abs(wy - ny) < 1.5, ((nx, ny), (wx, wy))
        # two fingers apart zoom in further
        cdp = ctx.new_cdp_session(page)
        cx, cy = box["x"] + W / 2, box["y"] + H / 2

        def touch(kind, d):
            pts = [] if kind == "touchEnd" else [{"x": cx - d, "y": cy, "id": 1}, {"x": cx + d, "y": cy, "id": 2}]
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": pts})

        touch("touchStart", 40)
        for d in (60, 80, 100, 120, 160):
            touch("touchMove", d)
        touch("touchEnd", 0)
        page.wait_for_timeout(150)
        z2 = page.evaluate("window.__wall.view().zoom")
        assert abs(z2 - (z1 + 2)) < 0.2, (z1, z2)   # fingers four times as far apart: two zoom levels
        assert page.evaluate("document.body.dataset.error") is None
    finally:
        ctx.close()
