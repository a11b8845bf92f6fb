/* The wall's district (grid shading, outlines, area labels) on a plain 2D canvas under the points
 * (ui/wall_map/frontend/wall.js; the points are overlay.js's).
 *
 * Why not deck.gl: a machine without a GPU (a wall PC, the test runner) draws WebGL in software, and
 * Chromium reads every such frame back for its compositor; session 9's trace of the sample wall's
 * sign-in found 2-4 s of those read-backs spent on the district's three deck.gl layers (against
 * 57 ms with none). Here the district is a few thousand path segments and a few dozen names: a
 * 2D canvas draws them in milliseconds, and only when the view or the district changes.
 *
 * window.ggDistrict:
 * - make(d): the district of a payload `d` (wall/live_map.py: `grids` {g: flat integer rings,
 *   c: RGBA, t: tooltip}, `labels` [{p, n, z}], `labelScale`, `font`, `outlineStyle`, `origin`,
 *   `unit`) in Web-Mercator world units (deck.gl's 512-pixel world at zoom 0), relative to the
 *   payload's origin so the canvas's single-precision transform stays exact;
 * - withOutlines(district, rows): the outline file's rows ({q: rings, l: level}, finest first);
 * - fit(vp, district): the affine map from those world units to the view's pixels, from three
 *   points projected by deck.gl's own viewport (exact for a flat view at any bearing: the wall's
 *   controller neither pitches nor turns);
 * - draw(ctx, district, xf, w, h, dpr, hover): shading (the hovered grid lighter, as deck.gl's
 *   autoHighlight did), outlines by level, names with a dark halo; what lies outside the view is
 *   left out;
 * - gridAt(district, xf, x, y): the shaded grid under pixel (x, y), or -1 (its tooltip).
 */
(function () {
  "use strict";

  const { mercX, mercY } = window.ggView;   // the view's Web-Mercator world (view.js, loaded first)

  function css(c) {
    const a = c.length > 3 ? c[3] / 255 : 1;
    return `rgba(${c[0]},${c[1]},${c[2]},${a})`;
  }

  // a ring of integer offsets ([x, y] pairs, or flat x, y, x, y …) as world units from the origin,
  // with its bounding box
  function ring(pts, flat, o0, o1, u, wx0, wy0) {
    const n = flat ? pts.length / 2 : pts.length, xy = new Float64Array(2 * n);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const lon = o0 + (flat ? pts[2 * i] : pts[i][0]) * u, lat = o1 + (flat ? pts[2 * i + 1] : pts[i][1]) * u;
      const x = mercX(lon) - wx0, y = mercY(lat) - wy0;
      xy[2 * i] = x; xy[2 * i + 1] = y;
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    return { xy: xy, box: [x0, y0, x1, y1] };
  }

  function make(d) {
    const o0 = d.origin[0], o1 = d.origin[1], u = d.unit, wx0 = mercX(o0), wy0 = mercY(o1);
    const grids = d.grids.g.map((g, i) => Object.assign(ring(g, true, o0, o1, u, wx0, wy0),
                                                        { fill: css(d.grids.c[i]), t: d.grids.t[i] }));
    // one path per colour: the shading has five colours and a thousand grids
    const byFill = new Map();
    grids.forEach((g, i) => { if (!byFill.has(g.fill)) byFill.set(g.fill, []); byFill.get(g.fill).push(i); });
    const labels = (d.labels || []).map((l) => ({ x: mercX(l.p[0]) - wx0, y: mercY(l.p[1]) - wy0, n: String(l.n),
                                                   z: l.z * (d.labelScale || 1) }));
    return { origin: [o0, o1], unit: u, wx0: wx0, wy0: wy0, grids: grids, byFill: byFill, labels: labels,
             font: d.font, style: d.outlineStyle || {}, levels: [] };
  }

  function withOutlines(dist, rows) {
    const [o0, o1] = dist.origin, levels = [];
    for (const r of rows || []) {
      const l = Number(r.l);
      if (!levels[l]) levels[l] = [];
      for (const q of r.q || []) levels[l].push(ring(q, false, o0, o1, dist.unit, dist.wx0, dist.wy0));
    }
    dist.levels = levels;
    return dist;
  }

  // pixel = [a c e; b d f] · world (relative to the district's origin)
  function fit(vp, dist) {
    const lon = dist.origin[0], lat = dist.origin[1], step = 0.05;
    const pts = [[lon, lat], [lon + step, lat], [lon, lat + step]].map((p) => ({
      w: [mercX(p[0]) - dist.wx0, mercY(p[1]) - dist.wy0], s: vp.project(p) }));
    const [A, B, C] = pts;
    const ux = B.w[0] - A.w[0], uy = B.w[1] - A.w[1], vx = C.w[0] - A.w[0], vy = C.w[1] - A.w[1];
    const det = ux * vy - uy * vx;
    const px = B.s[0] - A.s[0], py = B.s[1] - A.s[1], qx = C.s[0] - A.s[0], qy = C.s[1] - A.s[1];
    // [a c; b d] · [u v] = [p q]
    const a = (px * vy - qx * uy) / det, c = (qx * ux - px * vx) / det;
    const b = (py * vy - qy * uy) / det, dd = (qy * ux - py * vx) / det;
    const e = A.s[0] - a * A.w[0] - c * A.w[1], f = A.s[1] - b * A.w[0] - dd * A.w[1];
    return { a: a, b: b, c: c, d: dd, e: e, f: f, w: vp.width, h: vp.height };
  }

  // the view's rectangle in world units (for leaving out what is not in it)
  function viewBox(xf, pad) {
    const det = xf.a * xf.d - xf.b * xf.c, xs = [], ys = [];
    for (const [sx, sy] of [[-pad, -pad], [xf.w + pad, -pad], [-pad, xf.h + pad], [xf.w + pad, xf.h + pad]]) {
      const x = sx - xf.e, y = sy - xf.f;
      xs.push((xf.d * x - xf.c * y) / det); ys.push((-xf.b * x + xf.a * y) / det);
    }
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }

  function meets(b, v) { return b[0] <= v[2] && v[0] <= b[2] && b[1] <= v[3] && v[1] <= b[3]; }

  function addRing(ctx, xy) {
    const n = xy.length / 2;
    ctx.moveTo(xy[0], xy[1]);
    for (let i = 1; i < n; i++) ctx.lineTo(xy[2 * i], xy[2 * i + 1]);
    ctx.closePath();
  }

  function draw(ctx, dist, xf, w, h, dpr, hover) {
    const world = () => ctx.setTransform(dpr * xf.a, dpr * xf.b, dpr * xf.c, dpr * xf.d, dpr * xf.e, dpr * xf.f);
    const screen = () => ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    screen();
    ctx.clearRect(0, 0, w, h);
    const scale = Math.hypot(xf.a, xf.b), v = viewBox(xf, 8), segs = { n: 0 };
    // shading: the paths are laid in world units; filling needs no line width
    world();
    for (const [fill, idx] of dist.byFill) {
      ctx.beginPath();
      for (const i of idx) if (meets(dist.grids[i].box, v)) { addRing(ctx, dist.grids[i].xy); segs.n += dist.grids[i].xy.length / 2; }
      ctx.fillStyle = fill; ctx.fill();
    }
    if (hover >= 0 && hover < dist.grids.length) {
      ctx.beginPath(); addRing(ctx, dist.grids[hover].xy);
      ctx.fillStyle = "rgba(255,255,255,0.176)"; ctx.fill();
    }
    // outlines, finest first; a path laid in world units is stroked with a width in screen pixels
    ctx.lineJoin = "round";
    dist.levels.forEach((rings, l) => {
      const st = dist.style[String(l)];
      if (!rings || !st || !(st[0][3] > 0)) return;
      world();
      ctx.beginPath();
      for (const r of rings) {
        if (!meets(r.box, v)) continue;
        // a grid smaller than a pixel or two adds nothing but work
        if (l === 0 && (r.box[2] - r.box[0]) * scale < 1.5 && (r.box[3] - r.box[1]) * scale < 1.5) continue;
        addRing(ctx, r.xy); segs.n += r.xy.length / 2;
      }
      screen();
      ctx.strokeStyle = css(st[0]); ctx.lineWidth = st[1]; ctx.stroke();
    });
    // names: a dark halo, then the letters
    screen();
    ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.lineJoin = "round";
    ctx.strokeStyle = "rgba(4,10,23,0.92)"; ctx.fillStyle = "rgba(226,232,240,0.96)";
    let font = "";
    for (const l of dist.labels) {
      const x = xf.a * l.x + xf.c * l.y + xf.e, y = xf.b * l.x + xf.d * l.y + xf.f;
      if (x < -200 || y < -50 || x > w + 200 || y > h + 50) continue;
      const f = `600 ${l.z}px ${dist.font}`;
      if (f !== font) { ctx.font = f; font = f; ctx.lineWidth = Math.max(3, l.z / 4); }
      ctx.strokeText(l.n, x, y);
      ctx.fillText(l.n, x, y);
    }
    return segs.n;
  }

  function inside(xy, x, y) {
    let hit = false;
    const n = xy.length / 2;
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const xi = xy[2 * i], yi = xy[2 * i + 1], xj = xy[2 * j], yj = xy[2 * j + 1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  function gridAt(dist, xf, sx, sy) {
    if (!dist || !xf || typeof sx !== "number" || typeof sy !== "number") return -1;
    const det = xf.a * xf.d - xf.b * xf.c, x0 = sx - xf.e, y0 = sy - xf.f;
    const x = (xf.d * x0 - xf.c * y0) / det, y = (-xf.b * x0 + xf.a * y0) / det;
    for (let i = dist.grids.length - 1; i >= 0; i--) {   // the last drawn is on top
      const g = dist.grids[i], b = g.box;
      if (x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3] && inside(g.xy, x, y)) return i;
    }
    return -1;
  }

  window.ggDistrict = { make: make, withOutlines: withOutlines, fit: fit, draw: draw, gridAt: gridAt,
                        mercX: mercX, mercY: mercY };
})();
