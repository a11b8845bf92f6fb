/* The wall's points, drawn on a plain 2D canvas over deck.gl's (ui/wall_map/frontend/wall.js).
 *
 * window.ggOverlay.draw(ctx, px, n, fill, line, halo, r, w, h, dpr, method): every overdue ring
 * first, then the cases in drawing order (the most urgent last, on top), in the same colours, sizes
 * and order every way:
 * - "auto" (the wall's): "sprites" for a few thousand cases, "blit" for more;
 * - "blit": each look (a fill with its rim, or the ring) is drawn once into a small
 *   canvas at the screen's pixel ratio; its pixels are added up ("over") in a buffer of the canvas'
 *   size, put on the canvas at once;
 * - "sprites": the same small canvases stamped with drawImage, a draw call per point;
 * - "paths" (before session 9, kept as the baseline of `manage.py bench overlay`): a run of equal
 *   looks as one path of arcs, filled and stroked. 45,000 points cost Chromium's software rasteriser
 *   2-2.6 s a draw at load (session 8's trace of the 1M wall), and a whole-payload load drew 4-5 times.
 * px: Float32Array of screen positions (x, y per case); fill, line, halo: Uint8Array RGBA per case
 * (halo alpha 0: no ring); r: the point's radius in css px (the ring's is 2.1 r); w, h: the view.
 */
(function () {
  "use strict";

  // "auto" (the wall's): sprites below this many cases, blit from it (`manage.py bench overlay` at
  // load 5-7: 300 cases 13 ms sprites / 24 ms blit, its buffer the size of the canvas; 5,000 cases
  // 102 / 88 ms; 45,000 cases 1,022 / 609 ms, paths 2,677 ms)
  const BLIT_FROM = 5000;

  function css(c, a) { return `rgba(${c[0]},${c[1]},${c[2]},${a === undefined ? 1 : a})`; }

  const sprites = { key: "", map: new Map() };   // per radius and pixel ratio: look -> sprite
  function sprite(look, r, width, fillCss, strokeCss, dpr) {
    const scope = r + ":" + dpr;
    if (sprites.key !== scope) { sprites.key = scope; sprites.map.clear(); }
    let sp = sprites.map.get(look);
    if (sp) return sp;
    const half = Math.ceil(r + width), size = 2 * half;
    const cv = document.createElement("canvas");
    cv.width = Math.ceil(size * dpr); cv.height = Math.ceil(size * dpr);
    const c = cv.getContext("2d");
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.beginPath(); c.arc(half, half, r, 0, 2 * Math.PI);
    if (fillCss) { c.fillStyle = fillCss; c.fill(); }
    c.lineWidth = width; c.strokeStyle = strokeCss; c.stroke();
    sp = { cv: cv, half: half, size: size };
    sprites.map.set(look, sp);
    return sp;
  }

  function lookOf(fill, line, o) {
    return ((fill[o] * 256 + fill[o + 1]) * 256 + fill[o + 2]) * 16777216 + (line[o] * 256 + line[o + 1]) * 256 + line[o + 2];
  }

  // Every overdue ring in view, then every point in view, in drawing order: stamp(sprite, x, y)
  // with the sprite of its look (made on the first use of the look).
  function eachStamp(px, n, fill, line, halo, r, R, dpr, inView, stamp) {
    let key = -1, sp = null;
    for (let i = 0; i < n; i++) {
      const o = 4 * i;
      if (halo[o + 3] === 0 || !inView(i, R + 2)) continue;
      const k = ((halo[o] * 256 + halo[o + 1]) * 256 + halo[o + 2]) * 256 + halo[o + 3];
      if (k !== key || !sp) { key = k; sp = sprite("h" + k, R, 2, null, css(halo.subarray(o, o + 3), halo[o + 3] / 255), dpr); }
      stamp(sp, px[2 * i], px[2 * i + 1]);
    }
    key = -1; sp = null;
    for (let i = 0; i < n; i++) {
      if (!inView(i, r + 2)) continue;
      const o = 4 * i, k = lookOf(fill, line, o);
      if (k !== key || !sp) { key = k; sp = sprite("p" + k, r, 1.5, css(fill.subarray(o, o + 3)), css(line.subarray(o, o + 3)), dpr); }
      stamp(sp, px[2 * i], px[2 * i + 1]);
    }
  }

  function drawSprites(ctx, px, n, fill, line, halo, r, R, dpr, inView) {
    eachStamp(px, n, fill, line, halo, r, R, dpr, inView,
              (sp, x, y) => ctx.drawImage(sp.cv, x - sp.half, y - sp.half, sp.size, sp.size));
  }

  // The sprite's pixels for `blit`, made once per sprite and canvas width: its opaque pixels as
  // (offset, 32-bit value) pairs and its edge pixels as (offset, premultiplied r, g, b, a), the offsets
  // from the sprite's top-left corner in a canvas `cw` device pixels wide.
  const LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  function pixelsOf(sp, cw) {
    if (sp.cw === cw) return sp;
    const W = sp.cv.width, H = sp.cv.height;
    const a = sp.cv.getContext("2d").getImageData(0, 0, W, H).data;
    const solid = [], edge = [];
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < W; i++) {
        const q = 4 * (j * W + i), al = a[q + 3];
        if (al === 0) continue;
        const off = j * cw + i;
        if (al === 255) {
          const v = LE ? ((255 << 24) | (a[q + 2] << 16) | (a[q + 1] << 8) | a[q]) >>> 0
                       : ((a[q] << 24) | (a[q + 1] << 16) | (a[q + 2] << 8) | 255) >>> 0;
          solid.push(off, v);
        } else {
          edge.push(off, (a[q] * al + 127) / 255 | 0, (a[q + 1] * al + 127) / 255 | 0, (a[q + 2] * al + 127) / 255 | 0, al);
        }
      }
    }
    Object.assign(sp, { cw: cw, W: W, H: H, solid: Uint32Array.from(solid), edge: Int32Array.from(edge) });
    return sp;
  }

  // "blit": the sprites' pixels added up in a buffer of the canvas' size ("over", premultiplied) and
  // put on the canvas at once: no drawImage per point (each a draw call of Chromium's software
  // canvas); positions rounded to the device pixel.
  function drawBlit(ctx, px, n, fill, line, halo, r, R, dpr, inView, cw, ch) {
    const buf = new Uint8ClampedArray(4 * cw * ch), u32 = new Uint32Array(buf.buffer);
    const put = (sp, x, y) => {
      const P = pixelsOf(sp, cw), x0 = Math.round((x - sp.half) * dpr), y0 = Math.round((y - sp.half) * dpr);
      const base = y0 * cw + x0, solid = P.solid, edge = P.edge;
      // a sprite cut by the canvas' edge: only its pixels on the canvas (offsets are j * cw + i, i < W <= cw)
      const whole = x0 >= 0 && y0 >= 0 && x0 + P.W <= cw && y0 + P.H <= ch;
      const inside = (off) => {
        const j = Math.floor(off / cw), i = off - j * cw;
        return x0 + i >= 0 && x0 + i < cw && y0 + j >= 0 && y0 + j < ch;
      };
      for (let k = 0; k < edge.length; k += 5) {
        if (!whole && !inside(edge[k])) continue;
        const d = 4 * (base + edge[k]), f = 255 - edge[k + 4];
        buf[d] = edge[k + 1] + (buf[d] * f + 127) / 255; buf[d + 1] = edge[k + 2] + (buf[d + 1] * f + 127) / 255;
        buf[d + 2] = edge[k + 3] + (buf[d + 2] * f + 127) / 255; buf[d + 3] = edge[k + 4] + (buf[d + 3] * f + 127) / 255;
      }
      for (let k = 0; k < solid.length; k += 2) if (whole || inside(solid[k])) u32[base + solid[k]] = solid[k + 1];
    };
    eachStamp(px, n, fill, line, halo, r, R, dpr, inView, put);
    for (let i = 3; i < buf.length; i += 4) {   // premultiplied -> ImageData's straight alpha
      const a = buf[i];
      if (a === 0 || a === 255) continue;
      buf[i - 3] = buf[i - 3] * 255 / a; buf[i - 2] = buf[i - 2] * 255 / a; buf[i - 1] = buf[i - 1] * 255 / a;
    }
    ctx.putImageData(new ImageData(buf, cw, ch), 0, 0);
  }

  function drawPaths(ctx, px, n, fill, line, halo, r, R, inView) {
    ctx.lineWidth = 2;
    ctx.beginPath();
    let any = false;
    for (let i = 0; i < n; i++) {
      if (halo[4 * i + 3] === 0 || !inView(i, R + 2)) continue;
      if (!any) { ctx.strokeStyle = css(halo, halo[4 * i + 3] / 255); any = true; }
      ctx.moveTo(px[2 * i] + R, px[2 * i + 1]); ctx.arc(px[2 * i], px[2 * i + 1], R, 0, 2 * Math.PI);
    }
    if (any) ctx.stroke();
    ctx.lineWidth = 1.5;
    let key = -1, open = false;
    const flush = () => { if (open) { ctx.fill(); ctx.stroke(); open = false; } };
    for (let i = 0; i < n; i++) {
      if (!inView(i, r + 2)) continue;
      const o = 4 * i, k = lookOf(fill, line, o);
      if (k !== key || !open) {
        flush();
        key = k;
        ctx.fillStyle = css(fill.subarray(o, o + 3)); ctx.strokeStyle = css(line.subarray(o, o + 3));
        ctx.beginPath(); open = true;
      }
      ctx.moveTo(px[2 * i] + r, px[2 * i + 1]); ctx.arc(px[2 * i], px[2 * i + 1], r, 0, 2 * Math.PI);
    }
    flush();
  }

  function draw(ctx, px, n, fill, line, halo, r, w, h, dpr, method) {
    const R = r * 2.1;
    const inView = (i, m) => px[2 * i] > -m && px[2 * i] < w + m && px[2 * i + 1] > -m && px[2 * i + 1] < h + m;
    if (method === "auto") method = n >= BLIT_FROM ? "blit" : "sprites";
    if (method === "paths") drawPaths(ctx, px, n, fill, line, halo, r, R, inView);
    else if (method === "blit") drawBlit(ctx, px, n, fill, line, halo, r, R, dpr, inView, ctx.canvas.width, ctx.canvas.height);
    else drawSprites(ctx, px, n, fill, line, halo, r, R, dpr, inView);
  }

  window.ggOverlay = { draw: draw };
})();
