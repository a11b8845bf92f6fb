"""The planner's editor over the city's own tiles and a reference layer, in Debian's Chromium with
every non-localhost request blocked: the tiles come from the intake service's tile route (an
MBTiles file made here), under the grids; a reference feature's attributes show on hover as text
(markup in them stays inert)."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bench.browser import serve_app, stop_app
from db.config import test_database_url
from intake import process
from tests.e2e.conftest import offline_page
from tests.e2e.planner_layers_app import HOSTILE
from tests.tile_files import make_mbtiles, png
from ui.grid_editor import vendor_missing

APP = Path(__file__).with_name("planner_layers_app.py")
FRAME = "iframe[title='ui.grid_editor.grid_editor']"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def tiles_over(lon0, lat0, lon1, lat1, zooms) -> dict:
    """One distinct PNG for every tile over the box at these zooms."""
    out = {}
    for z in zooms:
        (x0, y1), (x1, y0) = tile_of(lon0, lat0, z), tile_of(lon1, lat1, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                out[(z, x, y)] = png((z * 10 % 256, x % 256, y % 256), size=256)
    return out


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """The intake service serving an MBTiles file, and the bare editor page pointed at it."""
    assert not vendor_missing(), f"run scripts/bootstrap.sh first: {vendor_missing()} missing"
    tmp = tmp_path_factory.mktemp("layers")
    mb = make_mbtiles(tmp / "city.mbtiles", tiles_over(119.98, 29.99, 120.04, 30.02, range(12, 17)),
                      attribution="本市测绘院 <b>2026</b>")
    intake, intake_base = process.start(test_database_url(), tmp / "photos", GRIDGOV_TILES=mb)
    try:
        app, url = serve_app(None, script=APP, log_prefix="gridgov-layers-",
                             env={"GRIDGOV_TILES": str(mb), "INTAKE_PORT": intake_base.rsplit(":", 1)[1],
                                  "GRIDGOV_TILES_URL": None})
    except RuntimeError:
        process.stop(intake)
        raise
    yield url, intake_base
    stop_app(app)
    process.stop(intake)


def test_the_editor_draws_the_citys_tiles_from_the_local_server(browser, servers, external_requests):
    url, intake_base = servers
    tile_answers = []
    with offline_page(browser, external_requests) as pg:
        pg.on("response", lambda r: tile_answers.append((r.url, r.status)) if "/tiles/" in r.url else None)
        pg.goto(url)
        expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=30_000)
        frame_loc = pg.frame_locator(FRAME)
        expect(frame_loc.locator("body[data-ready='1']")).to_have_count(1, timeout=30_000)
        loaded = frame_loc.locator("img.leaflet-tile-loaded")
        expect(loaded.first).to_be_visible(timeout=20_000)
        srcs = loaded.evaluate_all("els => els.map(e => e.src)")
        assert srcs and all(s.startswith(intake_base + "/tiles/") for s in srcs), srcs
        assert any(status == 200 for _, status in tile_answers), tile_answers
        # the tiles lie under the grids, the reference layer between them
        frame = next(f for f in pg.frames if "grid_editor" in f.url)
        z = frame.evaluate("""() => ['tilePane', 'references', 'grids'].map(
            n => Number(getComputedStyle(editorMap.getPane(n)).zIndex))""")
        assert z[0] < z[1] < z[2], z
        # the attribution from the MBTiles metadata, as text
        expect(frame_loc.locator(".tile-attribution")).to_have_text("本市测绘院 <b>2026</b>")
        # a zoom beyond the file's deepest level shows its tiles enlarged, not a blank map
        frame.evaluate("() => editorMap.setZoom(19, {animate: false})")
        expect(frame_loc.locator("img.leaflet-tile-loaded").first).to_be_visible(timeout=20_000)
        assert all("/tiles/16/" in s or "/tiles/" not in s
                   for s in frame_loc.locator("img.leaflet-tile-loaded").evaluate_all("els => els.map(e => e.src)"))
    assert external_requests == [], f"requests left localhost: {external_requests}"


def test_a_reference_features_attributes_show_on_hover_as_text(browser, servers, external_requests):
    url, _ = servers
    with offline_page(browser, external_requests) as pg:
        pg.goto(url)
        expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=30_000)
        frame_loc = pg.frame_locator(FRAME)
        expect(frame_loc.locator("body[data-ready='1']")).to_have_count(1, timeout=30_000)
        frame = next(f for f in pg.frames if "grid_editor" in f.url)
        assert frame.evaluate("() => editorReferences") == 1
        pg.wait_for_timeout(300)
        box = pg.locator(FRAME).bounding_box()
        # on the road, inside grid A001 (the grids above take the mouse; the hover is found anyway)
        x, y = frame.evaluate("() => { const p = editorMap.latLngToContainerPoint([30.005, 120.004]);"
                              " const r = editorMap.getContainer().getBoundingClientRect();"
                              " return [r.x + p.x, r.y + p.y] }")
        pg.mouse.move(box["x"] + x - 20, box["y"] + y - 20)
        pg.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        tip = frame_loc.locator(".reftip")
        expect(tip).to_be_visible()
        expect(tip).to_contain_text("道路")
        expect(tip).to_contain_text(f"name: {HOSTILE}")
        expect(tip).to_contain_text("lanes: 4")
        assert frame.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert frame.evaluate("() => window.pwned") is None
        # away from the road: no tooltip
        pg.mouse.move(box["x"] + x, box["y"] + y - 60, steps=4)
        expect(tip).to_have_count(0)
    assert external_requests == [], f"requests left localhost: {external_requests}"
