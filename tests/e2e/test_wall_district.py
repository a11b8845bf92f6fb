"""The wall's district as ``district.js`` draws it on a 2D canvas (issue 8: deck.gl's three district
layers cost a machine without a GPU 2-4 s of its sign-in), in Chromium, against the map's view
(``view.js``, whose projection is deck.gl's Web-Mercator one: checked against the tests' own
``map_point``): the affine map it draws with lands where the view projects, a shaded grid has
its colour, a shared edge its outline, the hovered grid is lit, a grid out of view costs nothing,
names are written, and a pixel picks the grid under it."""
from __future__ import annotations


from tests.e2e.conftest import map_point
from ui.wall_map import FRONTEND

W, H = 800, 500
RED, BLUE = [220, 38, 38, 165], [30, 64, 175, 70]
EDGE = [125, 211, 252, 255]

_SETUP = """(args) => {
  const [w, h, red, blue, edge] = args;
  const sq = (x0, y0, s) => [x0, y0, x0 + s, y0, x0 + s, y0 + s, x0, y0 + s, x0, y0];
  const ring = (x0, y0, s) => [[x0, y0], [x0 + s, y0], [x0 + s, y0 + s], [x0, y0 + s], [x0, y0]];
  const d = { origin: [121.0, 41.0], unit: 1e-5, labelScale: 1, font: "sans-serif",
              grids: { g: [sq(1000, 1000, 1000), sq(2000, 1000, 1000)], c: [red, blue], t: ["A 在办 3", "B 在办 1"] },
              labels: [{ p: [121.025, 41.0125], n: "测试社区", z: 16 }],
              outlineStyle: { "0": [[71, 85, 105, 120], 0.6], "3": [edge, 4] } };
  const rows = [{ q: [ring(1000, 1000, 1000)], l: 0 }, { q: [ring(2000, 1000, 1000)], l: 0 },
                { q: [ring(1000, 1000, 2000)], l: 3 }];
  const vp = new window.ggView.Viewport(121.02, 41.015, 13.5, w, h);
  const D = window.ggDistrict;
  const dist = D.withOutlines(D.make(d), rows);
  const xf = D.fit(vp, dist);
  window.T = { d, rows, vp, dist, xf, w, h };
}"""

_DRAW = """(args) => {
  const [hover, far] = args;
  const T = window.T, D = window.ggDistrict, cv = document.getElementById('c');
  let dist = T.dist;
  if (far) {   // a third grid a degree away, out of the view
    const d = Object.assign({}, T.d, { grids: { g: T.d.grids.g.concat([[100000, 100000, 101000, 100000, 101000, 101000, 100000, 100000]]),
                                                 c: T.d.grids.c.concat([T.d.grids.c[0]]), t: T.d.grids.t.concat(["C"]) } });
    dist = D.withOutlines(D.make(d), T.rows);
  }
  cv.width = T.w; cv.height = T.h;
  const ctx = cv.getContext('2d');
  const segs = D.draw(ctx, dist, T.xf, T.w, T.h, 1, hover);
  return { segs, img: Array.from(ctx.getImageData(0, 0, T.w, T.h).data) };
}"""


def _page(browser):
    page = browser.new_page(viewport={"width": W, "height": H}, device_scale_factor=1)
    page.set_content(f'<html><body style="margin:0"><canvas id="c" width="{W}" height="{H}"></canvas></body></html>')
    page.add_script_tag(content=(FRONTEND / "view.js").read_text(encoding="utf-8"))
    page.add_script_tag(content=(FRONTEND / "district.js").read_text(encoding="utf-8"))
    page.evaluate(_SETUP, [W, H, RED, BLUE, EDGE])
    return page


def _px(page, lon: float, lat: float) -> tuple[float, float]:
    return tuple(page.evaluate("([lon, lat]) => window.T.vp.project([lon, lat])", [lon, lat])[:2])


def _at(img, x: float, y: float):
    o = 4 * (round(y) * W + round(x))
    return img[o:o + 4]


class _FakePage:
    """What conftest.map_point asks of a page: the map's box (here the whole W × H canvas)."""
    class _Loc:
        first = property(lambda self: self)

        def bounding_box(self):
            return {"x": 0, "y": 0, "width": W, "height": H}

    def locator(self, _selector):
        return self._Loc()


def test_the_district_lands_where_the_view_projects_and_is_drawn_in_its_colours(browser):
    page = _page(browser)
    try:
        # the view's projection is deck.gl's, as the tests compute it (conftest.map_point) …
        view = {"longitude": 121.02, "latitude": 41.015, "zoom": 13.5}
        for lon, lat in ((121.0, 41.0), (121.037, 41.029)):
            want = map_point(_FakePage(), view, lon, lat, "map")
            got = _px(page, lon, lat)
            assert abs(got[0] - want[0]) < 1e-6 and abs(got[1] - want[1]) < 1e-6, (got, want)
            back = page.evaluate("([x, y]) => window.T.vp.unproject([x, y])", list(got))
            assert abs(back[0] - lon) < 1e-9 and abs(back[1] - lat) < 1e-9, back
        # the one affine map district.js draws with, against deck.gl's projection of the same places
        off = page.evaluate("""() => {
          const T = window.T, D = window.ggDistrict, xf = T.xf;
          let worst = 0;
          for (const [lon, lat] of [[121.0, 41.0], [121.01, 41.02], [121.04, 41.005], [121.025, 41.03]]) {
            const x = D.mercX(lon) - T.dist.wx0, y = D.mercY(lat) - T.dist.wy0, q = T.vp.project([lon, lat]);
            worst = Math.max(worst, Math.abs(xf.a * x + xf.c * y + xf.e - q[0]), Math.abs(xf.b * x + xf.d * y + xf.f - q[1]));
          }
          return worst;
        }""")
        assert off < 0.01, off
        plain, lit, far = (page.evaluate(_DRAW, args) for args in ([-1, False], [0, False], [-1, True]))
        img = plain["img"]
        a = _at(img, *_px(page, 121.013, 41.017))   # inside grid A, off its outlines and the name
        b = _at(img, *_px(page, 121.027, 41.017))   # inside grid B
        assert all(abs(x - y) <= 3 for x, y in zip(a, RED)), a
        assert all(abs(x - y) <= 3 for x, y in zip(b, BLUE)), b
        # the district's outline (level 3, 4 px) along the lower edge of both grids
        x, y = _px(page, 121.015, 41.01)
        assert max(abs(p - q) for p, q in zip(_at(img, x, y)[:3], EDGE[:3])) < 40 and _at(img, x, y)[3] > 200
        outside = _at(img, *_px(page, 121.015, 41.005))
        assert outside[3] == 0, outside   # nothing south of the district
        # the hovered grid is lit (deck.gl's autoHighlight was white at 45/255), the other is not
        a_lit = _at(lit["img"], *_px(page, 121.013, 41.017))
        assert a_lit[3] > a[3] and a_lit[1] > a[1], (a, a_lit)
        assert _at(lit["img"], *_px(page, 121.027, 41.017)) == b
        # a grid a degree away is not laid into the paths at all
        assert far["segs"] == plain["segs"] > 0
        # the name is written in light letters on a dark halo around its place
        cx, cy = _px(page, 121.025, 41.0125)
        light = sum(1 for yy in range(int(cy) - 10, int(cy) + 10) for xx in range(int(cx) - 40, int(cx) + 40)
                    if min(_at(img, xx, yy)[:3]) > 200 and _at(img, xx, yy)[3] > 200)
        assert light > 40, light
    finally:
        page.close()


def test_a_pixel_picks_the_shaded_grid_under_it(browser):
    page = _page(browser)
    try:
        def grid_at(lon, lat):
            x, y = _px(page, lon, lat)
            return page.evaluate("([x, y]) => window.ggDistrict.gridAt(window.T.dist, window.T.xf, x, y)", [x, y])

        assert grid_at(121.013, 41.017) == 0
        assert grid_at(121.027, 41.017) == 1
        assert grid_at(121.015, 41.005) == -1   # south of both
        assert grid_at(121.045, 41.017) == -1   # east of both
    finally:
        page.close()
