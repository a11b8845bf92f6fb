"""The planner's map editor component alone, in Debian's Chromium with every non-localhost request
blocked: the map draws offline (Leaflet and Terra Draw served by the app itself), and what the
planner does on the map comes back as the op ``planning.drafts.apply_edit`` takes — a split line,
a dragged shared vertex, a merge, a new grid — never as edited whole shapes.

The page is ``tests/e2e/planner_editor_app.py`` (two fixed squares A001 | A002 side by side, 0.01°
each, from 120.00 E 30.00 N); the planner page's own browser test drives the real back end.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bench.browser import serve_app, stop_app
from ui.grid_editor import vendor_missing
from tests.e2e.conftest import offline_page, wait_drawn

APP = Path(__file__).with_name("planner_editor_app.py")
FRAME = "iframe[title='ui.grid_editor.grid_editor']"


@pytest.fixture(scope="module")
def editor_url():
    assert not vendor_missing(), f"run scripts/bootstrap.sh first: {vendor_missing()} missing"
    proc, url = serve_app(None, script=APP, log_prefix="gridgov-editor-")
    yield url
    stop_app(proc)


@pytest.fixture
def editor(browser, editor_url, external_requests):
    """``editor(mode)``: the page open in that mode, the map drawn; returns (page, frame, at) where
    ``at(lon, lat)`` is the screen position of a coordinate on the editor's map."""
    pages = []

    def open_in(mode: str):
        cm = offline_page(browser, external_requests)
        pg = cm.__enter__()
        pages.append(cm)
        pg.goto(f"{editor_url}/?mode={mode}")
        expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=30_000)
        expect(pg.frame_locator(FRAME).locator("body[data-ready='1']")).to_have_count(1, timeout=30_000)
        frame = next(f for f in pg.frames if "grid_editor" in f.url)
        expect(pg.frame_locator(FRAME).locator("path.leaflet-interactive")).to_have_count(2)

        def at(lon: float, lat: float) -> tuple[float, float]:
            box = pg.locator(FRAME).bounding_box()
            x, y = frame.evaluate("([lat, lon]) => { const p = editorMap.latLngToContainerPoint([lat, lon]);"
                                  " const r = editorMap.getContainer().getBoundingClientRect();"
                                  " return [r.x + p.x, r.y + p.y] }", [lat, lon])
            return box["x"] + x, box["y"] + y

        return pg, frame, at

    yield open_in
    for cm in pages:
        cm.__exit__(None, None, None)
    assert external_requests == [], f"requests left localhost: {external_requests}"


def _ops(pg) -> list[dict]:
    """The ops the page received (it shows them as JSON), once the rerun they caused is drawn."""
    wait_drawn(pg)
    return json.loads(pg.locator("[data-testid=stCode]").inner_text())


def test_the_map_draws_offline_from_local_files(editor, editor_url):
    pg, frame, _ = editor("select")
    # the libraries are the pinned ones, served beside the component by the app itself
    assert frame.evaluate("() => L.version") == "1.9.4"
    assert frame.evaluate("() => typeof terraDraw.TerraDraw") == "function"
    for name in ("leaflet.js", "terra-draw.umd.js", "terra-draw-leaflet-adapter.umd.js"):
        with urllib.request.urlopen(f"{editor_url}/component/ui.grid_editor.grid_editor/vendor/{name}") as r:
            assert r.status == 200
    # no tile layer at all: the background is blank, every drawn thing is vector
    assert frame.evaluate("() => document.querySelectorAll('.leaflet-tile').length") == 0
    # the context: the community outline with its label, the open case as a point
    expect(pg.frame_locator(FRAME).locator(".lbl", has_text="测试社区")).to_have_count(1)
    # the legend, under the map, says what each colour means in the page's language
    legend = pg.frame_locator(FRAME).locator("[data-test=legend]")
    for words in ("图例", "本草稿中新增的网格", "本草稿中撤销的网格", "未结案件", "问题：错误（不能发布）", "参考图层"):
        expect(legend).to_contain_text(words)
    assert "Legend" not in legend.inner_text()
    expect(legend.locator(".legend-row")).to_have_count(10)
    # it is inside the frame's height (the frame grows to hold it) and under the map, not over it
    geo = frame.evaluate("() => { const m = document.getElementById('map').getBoundingClientRect();"
                         " const l = document.getElementById('legend').getBoundingClientRect();"
                         " return [m.bottom, l.top, l.bottom, window.innerHeight] }")
    assert geo[0] <= geo[1] and geo[2] <= geo[3], geo


def test_a_split_line_comes_back_as_the_split_op(editor):
    pg, frame, at = editor("split")
    for lon, lat in [(120.005, 29.998), (120.005, 30.012)]:
        pg.mouse.click(*at(lon, lat))
        pg.wait_for_timeout(200)
    pg.mouse.click(*at(120.005, 30.012))  # the last point again ends the line
    expect(pg.locator("[data-testid=stCode]")).to_contain_text("split")
    (op,) = _ops(pg)
    assert op["op"] == "split" and op["code"] == "A001"
    (x0, y0), (x1, y1) = op["line"]
    assert abs(x0 - 120.005) < 2e-5 and abs(x1 - 120.005) < 2e-5
    assert y0 < 30.0 < 30.01 < y1
    # coordinates rounded to 6 decimals: a small payload
    assert all(len(str(c).split(".")[1]) <= 6 for pt in op["line"] for c in pt)


def test_a_dragged_shared_vertex_comes_back_as_move_vertex(editor):
    pg, frame, at = editor("move_vertex")
    # (120.01, 30.0) is a corner of both squares: one handle, one op; the server moves it in both
    handles = pg.frame_locator(FRAME).locator(".vx")
    expect(handles).to_have_count(6)
    pg.wait_for_timeout(300)  # let Leaflet settle before reading screen positions
    x, y = at(120.01, 30.0)
    tx, ty = at(120.011, 30.001)
    pg.mouse.move(x, y)
    pg.mouse.down()
    pg.mouse.move((x + tx) / 2, (y + ty) / 2, steps=5)
    pg.mouse.move(tx, ty, steps=5)
    pg.mouse.up()
    expect(pg.locator("[data-testid=stCode]")).to_contain_text("move_vertex")
    (op,) = _ops(pg)
    assert op["op"] == "move_vertex" and op["from"] == [120.01, 30.0]
    assert abs(op["to"][0] - 120.011) < 5e-5 and abs(op["to"][1] - 30.001) < 5e-5


def test_merge_and_select_and_a_new_grid(editor):
    pg, frame, at = editor("merge")
    button = pg.frame_locator(FRAME).locator("#merge-go")
    expect(button).to_be_disabled()
    pg.mouse.click(*at(120.005, 30.005))
    pg.mouse.click(*at(120.015, 30.005))
    expect(button).to_contain_text("(2)")
    button.click()
    expect(pg.locator("[data-testid=stCode]")).to_contain_text("merge")
    assert _ops(pg) == [{"op": "merge", "codes": ["A001", "A002"]}]

    pg, frame, at = editor("add")
    corners = [(120.012, 30.002), (120.018, 30.002), (120.018, 30.008), (120.012, 30.008)]
    for lon, lat in corners + corners[:1]:  # clicking the first corner again closes the polygon
        pg.mouse.click(*at(lon, lat))
        pg.wait_for_timeout(200)
    expect(pg.locator("[data-testid=stCode]")).to_contain_text("add")
    (op,) = _ops(pg)
    assert op["op"] == "add" and op["community_code"] == "C01"
    ring = op["polygon"]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert {(round(x, 3), round(y, 3)) for x, y in ring} == {(round(x, 3), round(y, 3)) for x, y in corners}

    pg, frame, at = editor("select")
    pg.mouse.click(*at(120.015, 30.005))
    expect(pg.locator("[data-testid=stCode]")).to_contain_text("select")
    assert _ops(pg) == [{"op": "select", "code": "A002"}]
