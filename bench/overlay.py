"""``bench overlay``: the wall's points drawn in Debian's Chromium, sprites against paths.

The wall's map draws its cases on a plain 2D canvas over deck.gl's (``ui/wall_map/frontend/
overlay.js``, ``window.ggOverlay.draw``). Session 8's trace of the 1M wall (45,000 open cases in
view) found each draw taking 2-2.6 s of the browser's main thread at load, and a whole payload
drawn 4-5 times while the map settles: the page's clicks wait behind it. The draw was one path of
arcs per run of equal looks, filled and stroked (``paths``); now each look is drawn once into a
small sprite whose pixels are added up in a buffer put on the canvas at once (``blit``, the
wall's); ``sprites`` stamps the same sprites with drawImage, a draw call per point.

This bench loads the real ``overlay.js`` into a page of the size of the wall (``--width`` ×
``--height``), makes ``--points`` cases at random in view with the wall's looks (four time
classes, the rims of verification, postponement and supervision, overdue rings on the overdue
ones) and draws them ``--repeat`` times each of the three ways, alternating, at the point radius of the large
wall (7 px). Each draw is timed until the canvas is rasterised (a one-pixel ``getImageData``).

Printed: ``points``, ``paths_ms``, ``sprites_ms`` and ``blit_ms`` (medians), ``pixel_diff_share``
(the share of the canvas' pixels whose colour differs by more than 48 in some channel from the
``paths`` picture: where points overlap, a path filled all its discs before stroking their rims,
a sprite is a disc with its rim; and positions rounded to the pixel for ``blit``), and last
``overlay_ratio`` = blit_ms / paths_ms (the baseline measured in the same run: below 1 is faster;
the wall draws with ``blit`` from 5,000 cases, with ``sprites`` below: ``overlay.js``'s ``auto``).
"""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from bench.browser import CHROMIUM, CHROMIUM_ARGS

OVERLAY_JS = Path(__file__).resolve().parents[1] / "ui" / "wall_map" / "frontend" / "overlay.js"

# The page: a canvas, the points and a timer; the colours are the wall's (wall/frame.py), their
# exact values do not matter for the time, their number of looks does.
_PAGE = """<!doctype html><html><body style="margin:0;background:#0b1220">
<canvas id="c"></canvas>
<script>
function setUp(n, w, h, seed) {
  let s = seed;
  const rnd = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  const FILL = [[148,163,184],[34,197,94],[245,158,11],[239,68,68]];
  const RIM = [[15,23,42],[56,189,248],[192,132,252],[250,204,21]];
  const HALO = [239,68,68,150];
  const px = new Float32Array(2 * n), fill = new Uint8Array(4 * n), line = new Uint8Array(4 * n),
        halo = new Uint8Array(4 * n);
  const cls = [];
  for (let i = 0; i < n; i++) {
    // clustered like a city: most cases near a few centres
    const c = Math.floor(rnd() * 6), cx = (0.15 + 0.14 * c) * w, cy = (0.3 + 0.08 * (c % 4)) * h;
    const spread = rnd() < 0.7 ? 0.08 : 0.45;
    px[2 * i] = Math.min(w - 1, Math.max(0, cx + (rnd() - 0.5) * 2 * spread * w));
    px[2 * i + 1] = Math.min(h - 1, Math.max(0, cy + (rnd() - 0.5) * 2 * spread * h));
    const u = rnd(), k = u < 0.1 ? 0 : u < 0.7 ? 1 : u < 0.85 ? 2 : 3;
    const g = rnd() < 0.85 ? 0 : 1 + Math.floor(rnd() * 3);
    cls.push(k);
    fill.set([...FILL[k], 255], 4 * i); line.set([...RIM[g], 255], 4 * i);
    if (k === 3) halo.set(HALO, 4 * i);
  }
  // the wall's drawing order: the most urgent last (on top)
  const order = [...Array(n).keys()].sort((a, b) => cls[a] - cls[b]);
  const P = new Float32Array(2 * n), F = new Uint8Array(4 * n), L = new Uint8Array(4 * n), H = new Uint8Array(4 * n);
  order.forEach((j, i) => { P.set(px.subarray(2 * j, 2 * j + 2), 2 * i); F.set(fill.subarray(4 * j, 4 * j + 4), 4 * i);
                            L.set(line.subarray(4 * j, 4 * j + 4), 4 * i); H.set(halo.subarray(4 * j, 4 * j + 4), 4 * i); });
  const cv = document.getElementById('c'), dpr = window.devicePixelRatio || 1;
  cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
  cv.style.width = w + 'px'; cv.style.height = h + 'px';
  window.B = { n, w, h, dpr, P, F, L, H, cv, ctx: cv.getContext('2d', { willReadFrequently: false }) };
}
function drawOnce(method, r) {
  const B = window.B, ctx = B.ctx;
  const t = performance.now();
  ctx.setTransform(B.dpr, 0, 0, B.dpr, 0, 0);
  ctx.clearRect(0, 0, B.w, B.h);
  window.ggOverlay.draw(ctx, B.P, B.n, B.F, B.L, B.H, r, B.w, B.h, B.dpr, method);
  ctx.getImageData(0, 0, 1, 1);   // rasterised
  return performance.now() - t;
}
function picture() {
  const B = window.B;
  return B.ctx.getImageData(0, 0, B.cv.width, B.cv.height).data;
}
function diffShare(r, method) {
  drawOnce('paths', r); const a = picture();
  drawOnce(method, r); const b = picture();
  let diff = 0;
  for (let i = 0; i < a.length; i += 4) {
    if (Math.abs(a[i] - b[i]) > 48 || Math.abs(a[i + 1] - b[i + 1]) > 48 || Math.abs(a[i + 2] - b[i + 2]) > 48
        || Math.abs(a[i + 3] - b[i + 3]) > 48) diff += 1;
  }
  return diff / (a.length / 4);
}
</script></body></html>"""


def configure(p) -> None:
    p.add_argument("--points", type=int, default=45_000, help="cases in view (default 45,000: the 1M wall's open cases)")
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=760)
    p.add_argument("--radius", type=float, default=7.0, help="the point's radius in px (the large wall's)")
    p.add_argument("--repeat", type=int, default=5)


def main(args) -> int:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.set_content(_PAGE)
            page.add_script_tag(content=OVERLAY_JS.read_text(encoding="utf-8"))
            page.evaluate(f"setUp({int(args.points)}, {int(args.width)}, {int(args.height)}, 7)")
            r = json.dumps(float(args.radius))
            page.evaluate(f"drawOnce('sprites', {r}); drawOnce('paths', {r})")  # warm: sprites made, code compiled
            page.evaluate(f"drawOnce('blit', {r})")
            times: dict[str, list[float]] = {"paths": [], "sprites": [], "blit": []}
            for i in range(args.repeat):
                for method in (("paths", "sprites", "blit") if i % 2 == 0 else ("blit", "sprites", "paths")):
                    times[method].append(page.evaluate(f"drawOnce('{method}', {r})"))
            share = {m: page.evaluate(f"diffShare({r}, '{m}')") for m in ("sprites", "blit")}
        finally:
            browser.close()
    paths, sprites = statistics.median(times["paths"]), statistics.median(times["sprites"])
    print(f"points={args.points}")
    print(f"paths_ms={paths:.1f} (runs {', '.join(f'{t:.0f}' for t in times['paths'])})")
    print(f"sprites_ms={sprites:.1f} (runs {', '.join(f'{t:.0f}' for t in times['sprites'])})")
    print(f"blit_ms={statistics.median(times['blit']):.1f} (runs {', '.join(f'{t:.0f}' for t in times['blit'])})")
    print(f"pixel_diff_share={share['sprites']:.4f} (blit {share['blit']:.4f})")
    print(f"load_avg={os.getloadavg()[0]:.1f}")
    print(f"overlay_ratio={statistics.median(times['blit']) / paths:.3f}")
    return 0
