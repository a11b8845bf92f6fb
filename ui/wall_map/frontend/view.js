/* The map's view: a flat, north-up Web-Mercator view (deck.gl's MapView with no pitch or bearing —
 * the same world, 512 pixels wide at zoom 0, so its projection is the one the tests and the Python
 * side compute), panned by dragging, zoomed by the wheel, two fingers, a double click or the keys; the pointer's
 * hover and click handed to the map; a text tooltip. (ui/wall_map/frontend/wall.js; session 10.)
 *
 * Why not deck.gl's: the map draws nothing with WebGL any more (district.js, overlay.js draw on 2D
 * canvases), and deck.gl cost every new map (each sign-in, each page opened) 0.16-0.57 s to parse
 * its 2 MB script, a WebGL context in software and four animation frames a second at rest.
 *
 * window.ggView.create(parent, {view, onView(vp), onHover(x, y) -> {text, style} | null,
 *                               onClick(x, y), cursor() -> css cursor}):
 *   .viewport()   the current Viewport (null while the element has no size)
 *   .setView(v)   {longitude, latitude, zoom}: move there (a new filter's view)
 *   .host         the element the canvases go in (stacked in the order they are appended)
 * Viewport: width, height, longitude, latitude, zoom; project([lon, lat]) -> [x, y] css pixels;
 * unproject([x, y]) -> [lon, lat]; equals(other).
 */
(function () {
  "use strict";

  const WORLD = 512, MIN_ZOOM = 1, MAX_ZOOM = 20, CLICK_SLOP = 4, WHEEL_RATE = 1 / 300;

  function mercX(lon) { return WORLD * (lon + 180) / 360; }
  function mercY(lat) {
    const s = Math.sin(lat * Math.PI / 180);
    return WORLD * (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI));
  }
  function lonOf(x) { return x / WORLD * 360 - 180; }
  function latOf(y) { return Math.atan(Math.sinh(Math.PI * (1 - 2 * y / WORLD))) * 180 / Math.PI; }

  class Viewport {
    constructor(lon, lat, zoom, width, height) {
      Object.assign(this, { longitude: lon, latitude: lat, zoom: zoom, width: width, height: height,
                            pitch: 0, bearing: 0, scale: Math.pow(2, zoom), cx: mercX(lon), cy: mercY(lat) });
    }
    project(p) {
      return [this.width / 2 + (mercX(p[0]) - this.cx) * this.scale, this.height / 2 + (mercY(p[1]) - this.cy) * this.scale];
    }
    unproject(p) {
      return [lonOf(this.cx + (p[0] - this.width / 2) / this.scale), latOf(this.cy + (p[1] - this.height / 2) / this.scale)];
    }
    equals(o) {
      return !!o && o.longitude === this.longitude && o.latitude === this.latitude && o.zoom === this.zoom &&
             o.width === this.width && o.height === this.height;
    }
  }

  function create(parent, opts) {
    const host = document.createElement("div");
    host.className = "map-view";
    host.tabIndex = 0;
    Object.assign(host.style, { position: "absolute", inset: "0", overflow: "hidden", outline: "none",
                                touchAction: "none", userSelect: "none", cursor: "grab" });
    parent.appendChild(host);
    const tip = document.createElement("div");
    tip.className = "map-tooltip deck-tooltip";   // deck-tooltip: the name the tests and the wall's css know
    Object.assign(tip.style, { position: "absolute", zIndex: 2, pointerEvents: "none", display: "none" });
    parent.appendChild(tip);

    const st = { lon: opts.view.longitude, lat: opts.view.latitude, zoom: opts.view.zoom, vp: null, raf: null,
                 drag: null, lastXY: null, pinch: null };
    const down = new Map();   // pointer id -> [x, y]: two at once pinch (a touch wall)
    const pair = () => { const [a, b] = [...down.values()]; return { d: Math.hypot(a[0] - b[0], a[1] - b[1]) || 1,
                                                                   m: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] }; };

    function clampZoom(z) { return Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, z)); }
    function viewport() {
      const w = host.clientWidth, h = host.clientHeight;
      if (w < 2 || h < 2) return null;
      if (!st.vp || st.vp.width !== w || st.vp.height !== h || st.vp.longitude !== st.lon ||
          st.vp.latitude !== st.lat || st.vp.zoom !== st.zoom) st.vp = new Viewport(st.lon, st.lat, st.zoom, w, h);
      return st.vp;
    }
    // one draw per animation frame however many moves came in it
    function changed() {
      if (st.raf !== null) return;
      st.raf = window.requestAnimationFrame(() => {
        st.raf = null;
        const vp = viewport();
        if (vp) opts.onView(vp);
        if (st.lastXY && !st.drag) hover(st.lastXY[0], st.lastXY[1]);
      });
    }
    function xy(ev) {
      const r = host.getBoundingClientRect();
      return [ev.clientX - r.left, ev.clientY - r.top];
    }
    // zoom to z keeping the place under (x, y) where it is
    function zoomAt(z, x, y) {
      const vp = viewport();
      z = clampZoom(z);
      if (!vp || z === st.zoom) return;
      const at = vp.unproject([x, y]), k = Math.pow(2, z);
      st.lon = lonOf(mercX(at[0]) - (x - vp.width / 2) / k);
      st.lat = latOf(mercY(at[1]) - (y - vp.height / 2) / k);
      st.zoom = z;
      changed();
    }
    function panBy(dx, dy) {
      const k = Math.pow(2, st.zoom);
      st.lon = lonOf(mercX(st.lon) - dx / k);
      st.lat = latOf(Math.max(0, Math.min(WORLD, mercY(st.lat) - dy / k)));
      changed();
    }
    function hover(x, y) {
      const t = opts.onHover(x, y);
      host.style.cursor = st.drag ? "grabbing" : (opts.cursor ? opts.cursor() : "grab");
      if (!t || !t.text) { tip.style.display = "none"; return; }
      tip.textContent = t.text;   // text, never HTML
      Object.assign(tip.style, t.style || {}, { display: "block" });
      const w = tip.offsetWidth, h = tip.offsetHeight, W = host.clientWidth, H = host.clientHeight;
      tip.style.left = Math.max(0, Math.min(x + 10, W - w)) + "px";
      tip.style.top = Math.max(0, Math.min(y + 10, H - h)) + "px";
    }

    host.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      host.setPointerCapture(ev.pointerId);
      down.set(ev.pointerId, xy(ev));
      if (down.size === 2) {   // a second finger: pinch (zoom round the fingers' middle, pan with it), no click
        const p = pair();
        st.pinch = { d: p.d, m: p.m, z: st.zoom }; st.drag = null; tip.style.display = "none";
        return;
      }
      if (down.size > 2) return;
      st.drag = { id: ev.pointerId, start: xy(ev), last: xy(ev), moved: false };
    });
    host.addEventListener("pointermove", (ev) => {
      const p = xy(ev);
      st.lastXY = p;
      if (down.has(ev.pointerId)) down.set(ev.pointerId, p);
      if (st.pinch && down.size === 2) {
        const q = pair();
        panBy(q.m[0] - st.pinch.m[0], q.m[1] - st.pinch.m[1]);
        st.pinch.m = q.m;
        zoomAt(st.pinch.z + Math.log2(q.d / st.pinch.d), q.m[0], q.m[1]);
        return;
      }
      if (st.drag && st.drag.id === ev.pointerId) {
        const dx = p[0] - st.drag.last[0], dy = p[1] - st.drag.last[1];
        st.drag.last = p;
        if (!st.drag.moved && Math.hypot(p[0] - st.drag.start[0], p[1] - st.drag.start[1]) > CLICK_SLOP) {
          st.drag.moved = true; tip.style.display = "none"; host.style.cursor = "grabbing";
        }
        if (st.drag.moved) panBy(dx, dy);
        return;
      }
      hover(p[0], p[1]);
    });
    const end = (ev) => {
      down.delete(ev.pointerId);
      if (down.size < 2) st.pinch = null;
      if (!st.drag || st.drag.id !== ev.pointerId) return;
      const d = st.drag;
      st.drag = null;
      if (ev.type === "pointerup" && !d.moved) { const p = xy(ev); opts.onClick(p[0], p[1]); }
      host.style.cursor = opts.cursor ? opts.cursor() : "grab";
    };
    host.addEventListener("pointerup", end);
    host.addEventListener("pointercancel", end);
    host.addEventListener("pointerleave", () => { st.lastXY = null; if (!st.drag) { tip.style.display = "none"; opts.onHover(-1e9, -1e9); } });
    host.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const p = xy(ev), dy = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaY;
      zoomAt(st.zoom - dy * WHEEL_RATE, p[0], p[1]);
    }, { passive: false });
    host.addEventListener("dblclick", (ev) => { const p = xy(ev); zoomAt(st.zoom + (ev.shiftKey ? -1 : 1), p[0], p[1]); });
    host.addEventListener("keydown", (ev) => {
      const c = [host.clientWidth / 2, host.clientHeight / 2], step = 100;
      const keys = { "+": () => zoomAt(st.zoom + 1, c[0], c[1]), "=": () => zoomAt(st.zoom + 1, c[0], c[1]),
                     "-": () => zoomAt(st.zoom - 1, c[0], c[1]), ArrowLeft: () => panBy(step, 0),
                     ArrowRight: () => panBy(-step, 0), ArrowUp: () => panBy(0, step), ArrowDown: () => panBy(0, -step) };
      if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
    });
    if (window.ResizeObserver) new ResizeObserver(changed).observe(host);

    const view = {
      host: host,
      viewport: viewport,
      setView(v) { st.lon = v.longitude; st.lat = v.latitude; st.zoom = clampZoom(v.zoom); changed(); },
    };
    changed();
    return view;
  }

  window.ggView = { create: create, Viewport: Viewport, mercX: mercX, mercY: mercY };
})();
