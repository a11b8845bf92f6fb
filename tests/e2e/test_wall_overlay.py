"""The wall's points as ``overlay.js`` draws them (``blit`` from 5,000 cases, ``sprites`` below:
session 9), in Chromium, against the
way they were drawn before (``paths``): with points that do not overlap, at whole pixels (``blit``
rounds a position to the device pixel, which moves an antialiased edge by up to half a pixel), the
same picture up to a few edge pixels, each point's centre in
its fill colour, its rim in the rim's colour, the overdue ring around it, and the most urgent on
top where two overlap. ``manage.py bench overlay`` times the two."""
from __future__ import annotations

import pytest

from bench.overlay import OVERLAY_JS, _PAGE

FILL = {"on_time": (34, 197, 94), "overdue": (239, 68, 68)}
RIM = (56, 189, 248)

_SPARSE = """(args) => {
  const [n, w, h, r] = args;
  const px = new Float32Array(2 * n), fill = new Uint8Array(4 * n), line = new Uint8Array(4 * n), halo = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    px[2 * i] = 40 + 50 * (i % 20); px[2 * i + 1] = 40 + 50 * Math.floor(i / 20);
    const over = i % 3 === 0;
    fill.set(over ? [239, 68, 68, 255] : [34, 197, 94, 255], 4 * i);
    line.set([56, 189, 248, 255], 4 * i);
    if (over) halo.set([239, 68, 68, 150], 4 * i);
  }
  window.S = { n, w, h, r, px, fill, line, halo };
}"""

_DRAW = """(method) => {
  const S = window.S, cv = document.getElementById('c');
  cv.width = S.w; cv.height = S.h;
  const ctx = cv.getContext('2d');
  window.ggOverlay.draw(ctx, S.px, S.n, S.fill, S.line, S.halo, S.r, S.w, S.h, 1, method);
  return Array.from(ctx.getImageData(0, 0, S.w, S.h).data);
}"""


def _at(img: list[int], w: int, x: int, y: int) -> tuple[int, int, int, int]:
    o = 4 * (y * w + x)
    return tuple(img[o:o + 4])


def _page(browser):
    page = browser.new_page(viewport={"width": 1100, "height": 500}, device_scale_factor=1)
    page.set_content(_PAGE)
    page.add_script_tag(content=OVERLAY_JS.read_text(encoding="utf-8"))
    return page


@pytest.mark.parametrize("method", ["blit", "sprites"])
def test_the_points_are_the_picture_the_paths_drew(browser, method):
    w, h, r = 1100, 400, 7.0
    page = _page(browser)
    try:
        page.evaluate(_SPARSE, [120, w, h, r])
        paths, blit = page.evaluate(_DRAW, "paths"), page.evaluate(_DRAW, method)
    finally:
        page.close()
    differ = sum(1 for i in range(0, len(paths), 4)
                 if max(abs(paths[i + c] - blit[i + c]) for c in range(4)) > 48)
    painted = sum(1 for i in range(3, len(paths), 4) if paths[i])
    assert painted > 120 * 100, painted                 # the points are there at all
    assert differ < 0.03 * painted, (differ, painted)   # only edge pixels differ
    for i in (0, 1, 41, 119):                          # centres, rims and rings of a few points
        x, y = 40 + 50 * (i % 20), 40 + 50 * (i // 20)
        want = FILL["overdue"] if i % 3 == 0 else FILL["on_time"]
        assert _at(blit, w, x, y) == (*want, 255), (i, _at(blit, w, x, y))
        rim = _at(blit, w, x + 6, y)   # the rim (1.5 px at radius 7) covers most of this pixel
        assert max(abs(a - b) for a, b in zip(rim[:3], RIM)) < 60 and rim[3] > 240, (i, rim)
        ring = _at(blit, w, x + 15, y)   # the ring's radius is 2.1 r
        assert (ring[3] > 60) == (i % 3 == 0), (i, ring)
        assert _at(blit, w, x + 25, y)[3] == 0          # nothing between the points


@pytest.mark.parametrize("method", ["blit", "sprites"])
def test_the_most_urgent_is_on_top_and_an_edge_point_is_cut(browser, method):
    page = _page(browser)
    try:
        page.evaluate("""() => {
          // two cases at one place: the first drawn (on time), the second (overdue) on top of it
          window.S = { n: 2, w: 60, h: 60, r: 7, px: new Float32Array([30, 30, 30, 30]),
                       fill: new Uint8Array([34, 197, 94, 255, 239, 68, 68, 255]),
                       line: new Uint8Array([56, 189, 248, 255, 56, 189, 248, 255]),
                       halo: new Uint8Array(8) };
        }""")
        img = page.evaluate(_DRAW, method)
        # a point cut by the canvas' edge is drawn in part, nothing written outside
        page.evaluate("() => { window.S.px = new Float32Array([2, 30, 58, 58]); }")
        cut = page.evaluate(_DRAW, method)
    finally:
        page.close()
    assert _at(img, 60, 30, 30) == (239, 68, 68, 255)
    assert _at(cut, 60, 2, 30)[:3] == (34, 197, 94) and _at(cut, 60, 58, 58)[:3] == (239, 68, 68)
    assert len(cut) == 60 * 60 * 4
