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
