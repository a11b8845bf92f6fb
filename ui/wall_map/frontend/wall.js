/* The wall's map (and the dispatch page's): a Streamlit component (API v1, spoken by hand:
 * componentReady → render → setComponentValue), see ui/wall_map/__init__.py and wall/live_map.py.
 *
 * In: `data`, gzip-compressed JSON bytes (the open cases as columns with their due and warn times
 * in seconds from t0, the grid shading, labels, the outline file's address, colours, texts);
 * `stamp`, naming that payload; `now`, the server's clock. The colours (time class → fill; state
 * group → rim; overdue → a red ring) are worked out here from the clock, at least once a minute
 * and exactly when the next case crosses a line, so time passing costs the server nothing.
 * Out (only with `select`): {i: case id, n: nonce} when a case is clicked; and {live: token, n}
 * when the page should rerun: that value reruns it.
 *
 * Live (issue 12 §3): the beacon file (`live_url`, "<reading>:<connected>") is polled once a
 * second. When its reading passes the map's own (`seq`, then each delta merged), the map fetches
 * its delta file (`delta_url`, wall.delta: the cases of its own filter added, changed or gone since
 * a reading) and merges them into its typed arrays in drawing order, with no rerun and no
 * re-inflating; the page is asked to rerun `settle_s` later (tiles, ticker, shading), or at once
 * when the file cannot bring the map up to date (too old, a step too big, another origin, the
 * listener's connection flipped, no file).
 * The page's rerun brings a whole payload; when it is of the reading the map already reached by
 * deltas (same cases, same order) the map keeps its arrays and layers and takes only what else
 * changed (the shading, labels): `adopts`.
 *
 * Drawing (issue 12 §3, issue 8): no WebGL. The view (view.js) keeps the place and zoom, the pointer
 * and the tooltip; two plain 2D canvases lie in it: the district's (grid shading, outlines, area names:
 * district.js), drawn when a payload's district differs or the view moves, and the points' (fills,
 * rims, overdue rings: overlay.js), drawn when the points or their colours change or the view moves;
 * changes within COALESCE_MS make one draw, and a wall standing still draws nothing. A machine without
 * a GPU drew deck.gl's WebGL in software and read every frame back (2-4 s of the sample wall's sign-in
 * went to the district's three deck.gl layers, session 9), and deck.gl's 2 MB script cost every new map
 * 0.16-0.57 s to parse (session 10). Hover and click are picked here: the topmost point under the
 * pointer (`pickPoint`), else the shaded grid (`ggDistrict.gridAt`), shown in the view's tooltip.
 *
 * Hostile text: nothing in the payload is read as code (no JSON converter: "@@=…" is just text), and
 * tooltips are set as text (textContent), never as HTML.
 *
 * Test and benchmark hooks: window.__wall (counts per time class, overdue rings, when each case
 * id was first drawn, `shift` seconds added to the clock), data-* attributes on <body>, and
 * data-drawn (the payload's stamp) on the component's iframe once a payload is drawn.
 */
(function () {
  "use strict";

  const MAX_WAIT_MS = 60000;     // never stale by more than a minute
  const NO_DEADLINE = 0, ON_TIME = 1, AT_RISK = 2, OVERDUE = 3;
  const session = Math.random().toString(36).slice(2, 8);
  let counter = 0;

  const mapEl = document.getElementById("map");
  const S = { view: null, stamp: null, d: null, n: 0, ids: null, pos: null, D: null, W: null, G: null, C: null,
              X: null, catIndex: null, cls: null, offset: 0, timer: null, select: false, pending: null,
              viewKey: null, dist: null, distKey: null, outlineUrl: null, outlineRows: null, hoverGrid: -1, xf: null, rows: [], seq: 0, argSeq: 0, deltaUrl: null, settleMs: 8000,
              fetching: false, settleTimer: null, beacon: null,
              fill: null, line: null, halo: null, vp: null, px: null, pxIds: null, hover: -1,
              drawTimer: null, lastDraw: -Infinity, dirty: false };
  const hook = window.__wall = {
    counts: [0, 0, 0, 0], overdueRings: 0, recolours: 0, recolourMs: 0, buildMs: 0, stamp: null, builds: 0,
    deltas: 0, deltaMs: 0, seq: 0, reruns: 0,  // deltas merged, the last merge's time, the map's reading, reruns asked
    frames: 0,   // views drawn (view.js: one per animation frame in which the view moved)
    baseDraws: 0,    // times the district's canvas was drawn (a payload's new shading, the view moving, a grid hovered)
    baseSets: 0,     // times the district changed (a payload whose shading or names differ)
    draws: 0, drawMs: 0,  // times the points' overlay was drawn, and the last draw's time
    adopts: 0,   // whole payloads of the reading the map had already reached by deltas: kept, not rebuilt
    trace: [],   // the last TRACE_KEPT live events, [epoch ms, what, reading]: where a point waited
    why: {},     // reason -> reruns asked for it (settle, behind, origin, full, unreadable, connection, no-delta)
    method: "auto",  // how the points are drawn (overlay.js: "auto", "blit", "sprites", or "paths" as before session 9)
    drawn: {},   // case id -> epoch ms (this browser's clock) when it was first drawn
    drawnBy: {}, // case id -> "map" (a whole payload) or "delta" (merged from the delta file), at that moment
    shift: 0,    // seconds added to the clock (tests and benchmarks simulate time passing)
    recolour: () => recolour(true),
    classOf: (id) => { const i = S.ids ? S.ids.indexOf(id) : -1; return i < 0 ? null : S.cls[i]; },
    ringOf: (id) => { const i = S.ids ? S.ids.indexOf(id) : -1; return i < 0 || !S.halo ? null : S.halo[4 * i + 3] > 0; },
    classes: () => Array.from(S.cls || []),
    live: () => ({ seq: S.seq, fetching: S.fetching, token: S.liveToken, beacon: S.beacon, askedFor: S.askedFor,
                   deltaUrl: S.deltaUrl, settling: !!S.settleTimer }),
    view: () => { const vp = S.view && S.view.viewport(); return vp && { longitude: vp.longitude, latitude: vp.latitude, zoom: vp.zoom }; },
    pxOf: (id) => {  // where the case was last drawn (css pixels of the map)
      const i = S.pxIds ? S.pxIds.indexOf(id) : -1;
      return i < 0 ? null : [S.px[2 * i], S.px[2 * i + 1]];
    },
    tooltipOf: (id) => {  // the text a hover over the case shows
      const i = S.ids ? S.ids.indexOf(id) : -1;
      const tip = i < 0 ? null : caseTip(i);
      return tip && tip.text;
    },
  };

  const TRACE_KEPT = 400;
  function trace(what, seq) {
    hook.trace.push([Date.now(), what, seq === undefined ? S.seq : seq]);
    if (hook.trace.length > TRACE_KEPT) hook.trace.splice(0, hook.trace.length - TRACE_KEPT);
  }

  // ---- the Streamlit component protocol (v1) ----
  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
  }
  function setHeight() { send("streamlit:setFrameHeight", { height: mapEl.offsetHeight }); }

  // The app's base address (works under any server.baseUrlPath): what precedes /component/ here.
  function appBase() {
    const p = window.location.pathname;
    const i = p.indexOf("/component/");
    return window.location.origin + (i >= 0 ? p.slice(0, i + 1) : "/");
  }

  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  // seconds since the payload's t0, by the server's clock
  function nowS() { return (Date.now() + S.offset) / 1000 + hook.shift - S.d.t0; }

  // ---- the district (grid shading, outlines, names) on a 2D canvas under the points: district.js ----
  // Kept as it is when the payload's shading, names and outline file are the ones drawn already; the
  // outline file (the same for every payload until the boundaries change) is fetched once.
  function district(d) {
    const key = JSON.stringify([d.grids, d.origin, d.unit, d.labels, d.labelScale, d.font, d.outlineStyle]);
    const url = new URL(d.outlines, appBase()).href;
    if (S.dist && key === S.distKey && url === S.outlineUrl) return false;
    S.distKey = key;
    const dist = window.ggDistrict.make(d);
    if (url === S.outlineUrl && S.outlineRows) window.ggDistrict.withOutlines(dist, S.outlineRows);
    S.dist = dist; S.hoverGrid = -1;
    if (url !== S.outlineUrl) { S.outlineUrl = url; S.outlineRows = null; loadOutlines(url); }
    return true;
  }

  function loadOutlines(url) {
    fetch(url, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`outlines: HTTP ${r.status}`))))
      .then((rows) => {
        if (url !== S.outlineUrl) return;   // a newer file asked for meanwhile
        S.outlineRows = rows;
        window.ggDistrict.withOutlines(S.dist, rows);
        drawDistrict();
      })
      .catch((e) => { if (url === S.outlineUrl) S.outlineUrl = null; document.body.setAttribute("data-error", String(e)); });
  }

  // a payload of the reading this map already reached by merging deltas, with the same cases in the
  // same order: its points are what the map draws already, so only the shading and labels are taken
  // (a map with no delta feed, seq 0 — the dispatch page's — adopts only a payload whose cases are the ones
  // it was built from, e.g. a pick that moves the ring alone: same ids are not enough, a case's state,
  // deadline or text may have changed)
  function adoptable(d, seq) {
    if (!S.d || seq !== S.seq || !S.ids || d.t0 < S.d.t0) return false;
    if (seq === 0 && casesKey(d) !== S.casesKey) return false;
    if (d.origin[0] !== S.d.origin[0] || d.origin[1] !== S.d.origin[1] || JSON.stringify(d.view) !== S.viewKey) return false;
    const ids = d.cases.i;
    if (ids.length !== S.n) return false;
    for (let i = 0; i < ids.length; i++) if (ids[i] !== S.ids[i]) return false;
    return true;
  }

  function adopt(d) {
    hook.adopts += 1;
    // the cases' arrays stay (their times are from the map's own t0); the rest is the payload's
    const keep = { t0: S.d.t0, cases: S.d.cases, cats: S.d.cats, detail: S.d.detail };
    const moved = JSON.stringify(d.pick || null) !== JSON.stringify(S.d.pick || null);
    S.d = Object.assign(d, keep);
    if (district(d)) setBase();
    if (moved) { S.pending = S.pending || []; scheduleDraw(); }   // the ring moved: stamped once drawn
    else stampDrawn();
  }

  function casesKey(d) { return JSON.stringify([d.t0, d.cases, d.detail, d.cats]); }

  function build(d) {
    const t = performance.now();
    S.casesKey = S.argSeq === 0 ? casesKey(d) : null;
    const c = d.cases, n = c.i.length;
    const pos = new Float32Array(2 * n), D = new Float64Array(n), W = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      pos[2 * i] = c.x[i]; pos[2 * i + 1] = c.y[i];
      D[i] = c.d[i] === null ? NaN : c.d[i];
      W[i] = c.w[i] === null ? NaN : c.w[i];
    }
    const X = d.detail ? { n: d.detail.n.slice(), s: d.detail.s.slice(), e: d.detail.e.slice(), x: d.detail.x.slice() }
                       : null;
    const catIndex = new Map(d.cats.map((k, i) => [k, i]));
    Object.assign(S, { d: d, n: n, ids: c.i.slice(), pos: pos, D: D, W: W, G: Uint8Array.from(c.g), C: c.c.slice(),
                       X: X, catIndex: catIndex, pending: c.i, pendingBy: "map",
                       seq: S.argSeq });
    hook.seq = S.seq;
    const changed = district(d);
    hook.buildMs = performance.now() - t;
    hook.builds += 1;
    const viewKey = JSON.stringify(d.view);
    if (!S.view) {
      // the view (view.js): pan, zoom, the pointer, the tooltip; both canvases are drawn in it
      S.view = window.ggView.create(mapEl, { view: d.view, onView: viewChanged, onHover: tooltip, onClick: click,
                                             cursor: () => (S.hover >= 0 && S.select ? "pointer" : "grab") });
    } else {
      if (changed) setBase();
      if (viewKey !== S.viewKey) S.view.setView(d.view);  // a new filter: fit it (a new case keeps the view)
    }
    S.viewKey = viewKey;
    recolour(true);
  }

  // the district changed (a payload whose shading or names differ): drawn again, alone
  function setBase() {
    hook.baseSets += 1;
    drawDistrict();
  }

  // The time classes from the clock: fill, rim and the overdue ring, then when to look again.
  // `force`: the arrays changed (a payload, a delta); else (the clock) the points' overlay is drawn
  // again only if some case changed class, so a wall standing still is not redrawn every minute
  function recolour(force) {
    if (!S.d) return;
    const t = performance.now();
    const d = S.d, n = S.n, now = nowS();
    const fill = new Uint8Array(4 * n), line = new Uint8Array(4 * n), halo = new Uint8Array(4 * n);
    const cls = new Uint8Array(n), counts = [0, 0, 0, 0];
    const F = [0, 1, 2, 3].map((k) => d.fill[k]), R = [0, 1, 2, 3].map((g) => d.ring[g]), H = d.halo;
    let next = Infinity, rings = 0;
    for (let i = 0; i < n; i++) {
      const due = S.D[i], warn = S.W[i];
      let k;
      if (Number.isNaN(due)) k = NO_DEADLINE;
      else if (due < now) k = OVERDUE;                         // dispatch/queries.py: due_at < now
      else if (!Number.isNaN(warn) && warn <= now) { k = AT_RISK; next = Math.min(next, due); }
      else { k = ON_TIME; next = Math.min(next, Number.isNaN(warn) ? due : Math.min(warn, due)); }
      cls[i] = k; counts[k] += 1;
      const f = F[k], r = R[S.G[i]] || R[0], o = 4 * i;
      fill[o] = f[0]; fill[o + 1] = f[1]; fill[o + 2] = f[2]; fill[o + 3] = 255;
      line[o] = r[0]; line[o + 1] = r[1]; line[o + 2] = r[2]; line[o + 3] = 255;
      if (k === OVERDUE) { halo[o] = H[0]; halo[o + 1] = H[1]; halo[o + 2] = H[2]; halo[o + 3] = H[3]; rings += 1; }
    }
    const same = !force && S.cls && S.cls.length === n && cls.every((k, i) => k === S.cls[i]);
    S.cls = cls;
    clearTimeout(S.timer);
    const wait = Number.isFinite(next) ? (next - now) * 1000 + 20 : MAX_WAIT_MS;
    S.timer = setTimeout(recolour, Math.max(100, Math.min(MAX_WAIT_MS, wait)));
    if (same) return;
    S.fill = fill; S.line = line; S.halo = halo;
    hook.counts = counts; hook.overdueRings = rings; hook.recolours += 1; hook.recolourMs = performance.now() - t;
    document.body.setAttribute("data-counts", counts.join(","));
    document.body.setAttribute("data-recolours", String(hook.recolours));
    scheduleDraw();
  }

  // ---- the points' overlay: a plain 2D canvas over the district's, drawn alone when the points change ----
  const COALESCE_MS = 100;   // changes this close together make one draw
  function viewport() { return S.view ? S.view.viewport() : null; }


  function scheduleDraw() {
    if (S.drawTimer) return;
    const wait = Math.max(0, (S.lastDraw || -Infinity) + COALESCE_MS - performance.now());
    S.drawTimer = setTimeout(drawOverlay, wait);
  }

  // a 2D canvas of the map's view (the district's first, the points' over it)
  function layerCanvas(id) {
    let cv = document.getElementById(id);
    if (!cv) {
      cv = document.createElement("canvas");
      cv.id = id;
      Object.assign(cv.style, { position: "absolute", left: "0", top: "0", pointerEvents: "none" });
      const above = id === "points" ? null : document.getElementById("points");
      if (above) S.view.host.insertBefore(cv, above);
      else S.view.host.appendChild(cv);
    }
    return cv;
  }

  // the canvas sized to the view; its 2D context, cleared, in css pixels
  function sized(cv, vp) {
    const dpr = window.devicePixelRatio || 1, w = vp.width, h = vp.height;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
      cv.style.width = w + "px"; cv.style.height = h + "px";
    }
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return ctx;
  }

  function drawDistrict() {
    const vp = viewport();
    if (!vp || !S.dist) { S.distDirty = true; return; }
    S.distDirty = false; S.distVp = vp;
    const t = performance.now(), dpr = window.devicePixelRatio || 1;
    S.xf = window.ggDistrict.fit(vp, S.dist);
    const ctx = sized(layerCanvas("district"), vp);
    hook.baseSegments = window.ggDistrict.draw(ctx, S.dist, S.xf, vp.width, vp.height, dpr, S.hoverGrid);
    hook.baseDraws += 1; hook.baseMs = performance.now() - t;
  }

  // The points as the deck drew them before (the same colours, sizes and order): every overdue ring
  // first, then the cases in drawing order (the most urgent last, on top): overlay.js.
  function drawOverlay() {
    clearTimeout(S.drawTimer); S.drawTimer = null;
    const vp = viewport();
    if (!vp || !S.d || !S.fill) { S.dirty = true; return; }  // no view yet: its first one draws us
    const t = performance.now();
    S.dirty = false; S.lastDraw = t; S.vp = vp;
    const dpr = window.devicePixelRatio || 1, w = vp.width, h = vp.height;
    const ctx = sized(layerCanvas("points"), vp);
    const d = S.d, n = S.n, u = d.unit, o0 = d.origin[0], o1 = d.origin[1], r = d.radius;
    const px = new Float32Array(2 * n), at = [0, 0];
    for (let i = 0; i < n; i++) {
      at[0] = o0 + S.pos[2 * i] * u; at[1] = o1 + S.pos[2 * i + 1] * u;
      const q = vp.project(at);
      px[2 * i] = q[0]; px[2 * i + 1] = q[1];
    }
    S.px = px; S.pxIds = S.ids;
    window.ggOverlay.draw(ctx, px, n, S.fill, S.line, S.halo, r, w, h, dpr, hook.method);
    if (S.hover >= 0 && S.hover < n) {   // deck.gl's autoHighlight, as it was
      ctx.fillStyle = "rgba(255,255,255,0.47)";
      ctx.beginPath(); ctx.arc(px[2 * S.hover], px[2 * S.hover + 1], r + 0.75, 0, 2 * Math.PI); ctx.fill();
    }
    if (d.pick) {   // the dispatch map's picked case: a ring round it, over everything
      const q = vp.project([o0 + d.pick[0] * u, o1 + d.pick[1] * u]), c = d.pickColor || [56, 189, 248, 255];
      ctx.strokeStyle = `rgba(${c[0]},${c[1]},${c[2]},${c[3] / 255})`; ctx.lineWidth = 3;
      ctx.beginPath(); ctx.arc(q[0], q[1], 13, 0, 2 * Math.PI); ctx.stroke();
      hook.pick = [q[0], q[1]];
    } else hook.pick = null;
    hook.draws += 1; hook.drawMs = performance.now() - t;
    afterRender();
  }

  // the view moved (pan, zoom, a new filter's view, the element's size) or was first drawn: the district
  // and the points follow, each once, unless already drawn for this very view
  function viewChanged(vp) {
    hook.frames += 1;
    if (S.distDirty || !S.distVp || !vp.equals(S.distVp)) drawDistrict();
    if (S.dirty || !S.vp || !vp.equals(S.vp)) drawOverlay();
  }


  // the topmost point under (x, y) (pixels of the map), or -1
  function pickPoint(x, y) {
    if (!S.px || S.pxIds !== S.ids || !S.d || typeof x !== "number" || typeof y !== "number") return -1;
    const r = S.d.radius + 1, r2 = r * r, px = S.px;
    for (let i = S.n - 1; i >= 0; i--) {
      const dx = px[2 * i] - x, dy = px[2 * i + 1] - y;
      if (dx * dx + dy * dy <= r2) return i;
    }
    return -1;
  }

  function afterRender() {
    if (!S.pending) return;
    const at = Date.now(), ids = S.pending, how = S.pendingBy || "map";
    trace("drawn-" + how);
    S.pending = null; S.pendingBy = null;
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] in hook.drawn)) { hook.drawn[ids[i]] = at; hook.drawnBy[ids[i]] = how; }
    }
    stampDrawn();
  }

  function stampDrawn() {
    hook.stamp = S.stamp;
    document.body.setAttribute("data-stamp", S.stamp);
    // and on the iframe itself, so the page (bench pages, tests) can tell a drawn map from an empty frame
    try { if (window.frameElement) window.frameElement.setAttribute("data-drawn", S.stamp); } catch (e) { /* cross-origin */ }
  }

  // the view asks on every hover: a point of the overlay first (drawn on top), else the shaded grid under
  // the pointer (lit, as deck.gl's autoHighlight did)
  function tooltip(x, y) {
    if (!S.d) return null;
    const i = pickPoint(x, y);
    if (i !== S.hover) { S.hover = i; scheduleDraw(); }
    const g = i >= 0 ? -1 : window.ggDistrict.gridAt(S.dist, S.xf, x, y);
    if (g !== S.hoverGrid) { S.hoverGrid = g; drawDistrict(); }
    if (i >= 0) return caseTip(i);
    if (g >= 0) return { text: String(S.dist.grids[g].t), style: S.d.tooltipStyle };
    return null;
  }

  function caseTip(i) {
    const d = S.d;
    if (i < 0 || i >= S.n) return null;
    const what = String(d.cats[S.C[i]]);
    const x = S.X;
    if (!x) return { text: what, style: d.tooltipStyle };
    const state = [x.s[i]].concat(S.cls[i] === OVERDUE ? [d.texts.overdue] : [], x.e[i] ? [x.e[i]] : []);
    return { text: `${what} ${x.n[i]}\n${state.join(" · ")}\n${x.x[i]}`, style: d.tooltipStyle };
  }

  function click(x, y) {
    const i = S.select && S.d ? pickPoint(x, y) : -1;
    if (i < 0) return;
    counter += 1;
    send("streamlit:setComponentValue", { value: { i: S.ids[i], n: session + "-" + counter },
                                         dataType: "json" });
  }

  // ---- deltas (wall.delta): merge the changed cases of this wall into the arrays, in drawing order ----

  // drawn before (under) the other? no deadline first, then the latest due first, then the lower id
  function before(da, ia, db, ib) {
    const na = Number.isNaN(da), nb = Number.isNaN(db);
    if (na !== nb) return na;
    if (!na && da !== db) return da > db;
    return ia < ib;
  }

  function merge(st) {
    const u = st.u, m = u.i.length, drop = new Set(st.r);
    for (let j = 0; j < m; j++) drop.add(u.i[j]);
    const shift = st.t0 - S.d.t0;
    const keep = [];
    for (let i = 0; i < S.n; i++) if (!drop.has(S.ids[i])) keep.push(i);
    const nd = new Float64Array(m), nw = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      nd[j] = u.d[j] === null ? NaN : u.d[j] + shift;
      nw[j] = u.w[j] === null ? NaN : u.w[j] + shift;
    }
    const n = keep.length + m;
    const ids = new Array(n), pos = new Float32Array(2 * n), D = new Float64Array(n), W = new Float64Array(n);
    const G = new Uint8Array(n), C = new Array(n);
    const X = S.X ? { n: new Array(n), s: new Array(n), e: new Array(n), x: new Array(n) } : null;
    let a = 0, b = 0;
    for (let k = 0; k < n; k++) {
      const takeOld = b >= m || (a < keep.length && before(S.D[keep[a]], S.ids[keep[a]], nd[b], u.i[b]));
      if (takeOld) {
        const i = keep[a++];
        ids[k] = S.ids[i]; pos[2 * k] = S.pos[2 * i]; pos[2 * k + 1] = S.pos[2 * i + 1];
        D[k] = S.D[i]; W[k] = S.W[i]; G[k] = S.G[i]; C[k] = S.C[i];
        if (X) { X.n[k] = S.X.n[i]; X.s[k] = S.X.s[i]; X.e[k] = S.X.e[i]; X.x[k] = S.X.x[i]; }
      } else {
        const j = b++;
        ids[k] = u.i[j]; pos[2 * k] = u.px[j]; pos[2 * k + 1] = u.py[j];
        D[k] = nd[j]; W[k] = nw[j]; G[k] = u.g[j];
        let ci = S.catIndex.get(u.c[j]);
        if (ci === undefined) { ci = S.d.cats.length; S.d.cats.push(String(u.c[j])); S.catIndex.set(u.c[j], ci); }
        C[k] = ci;
        if (X) { X.n[k] = u.n[j]; X.s[k] = u.s[j]; X.e[k] = u.e[j]; X.x[k] = u.x[j]; }
      }
    }
    Object.assign(S, { n: n, ids: ids, pos: pos, D: D, W: W, G: G, C: C, X: X });
    S.pending = (S.pending || []).concat(u.i);
    S.pendingBy = S.pendingBy || "delta";
  }

  // a delta file's body: merged if it brings this map from its reading to the file's; false if it cannot
  // (the reason it cannot, for window.__wall.why)
  function applyDelta(body) {
    if (!S.d || !body || typeof body.from !== "number") return "unreadable";
    if (body.from > S.seq) return "behind";
    if (!body.o || body.o[0] !== S.d.origin[0] || body.o[1] !== S.d.origin[1]) return "origin";
    const steps = body.steps.filter((st) => st.s > S.seq);
    if (steps.some((st) => st.full)) return "full";
    if (steps.length) {
      const t = performance.now();
      for (const st of steps) merge(st);
      recolour(true);
      hook.deltaMs = performance.now() - t;
      hook.deltas += 1;
    }
    S.seq = Math.max(S.seq, body.to);
    hook.seq = S.seq;
    return null;
  }

  // ---- the live check: the beacon file (ui.wall_view.LiveBeacon) once a second, twice a second for a
  // minute after it last moved (reports come in bursts; a quiet wall keeps its one poll a second) ----
  const LIVE_POLL_MS = 1000, BUSY_POLL_MS = 500, BUSY_FOR_MS = 60000;
  let lastMove = -Infinity, polling = false, skipped = false;
  function parts(token) {
    const i = (token || "").indexOf(":");
    return i < 0 ? [NaN, ""] : [Number(token.slice(0, i)), token.slice(i + 1)];
  }

  function askRerun(token, why) {
    if (!token || token === S.askedFor) return;
    S.askedFor = token;
    hook.why[why] = (hook.why[why] || 0) + 1;
    clearTimeout(S.settleTimer); S.settleTimer = null;
    counter += 1; hook.reruns += 1;
    send("streamlit:setComponentValue", { value: { live: token, n: session + "-" + counter }, dataType: "json" });
  }

  function pullDelta(token) {
    S.fetching = true;
    trace("pull", parts(token)[0]);
    fetch(new URL(S.deltaUrl, appBase()).href, { cache: "no-store", credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        S.fetching = false;
        const had = S.seq;
        const refused = applyDelta(body);
        trace(refused || "merged");
        if (refused) { askRerun(token, refused); return; }
        // the tiles and the ticker follow at a slower pace: one rerun settle_s after the first merge
        // (each wall a little apart, so a room of walls does not rerun in the same instant)
        if (!S.settleTimer) {
          S.settleTimer = setTimeout(() => { S.settleTimer = null; askRerun(S.beacon, "settle"); },
                                     S.settleMs * (1 + 0.5 * Math.random()));
        }
        if (S.seq > had && parts(S.beacon)[0] > S.seq) pullDelta(S.beacon);  // moved on meanwhile
      })
      .catch(() => { S.fetching = false; askRerun(token, "unreadable"); });
  }

  function poll() {
    if (!S.liveUrl) return;
    if (polling) { skipped = true; return; }  // the last poll still on its way: it polls again once back
    polling = true;
    fetch(new URL(S.liveUrl, appBase()).href, { cache: "no-store", credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .finally(() => {
        polling = false;
        if (skipped) { skipped = false; setTimeout(poll, 0); }
      })
      .then((text) => {
        const token = text && text.trim();
        hook.polls = (hook.polls || 0) + 1;
        if (!token || token === S.liveToken) return;
        if (token !== S.beacon) { trace("beacon", parts(token)[0]); lastMove = performance.now(); }
        S.beacon = token;
        const [seq, conn] = parts(token);
        if (S.deltaUrl && S.d && conn === parts(S.liveToken)[1] && Number.isFinite(seq)) {
          if (seq > S.seq && !S.fetching) pullDelta(token);
          return;
        }
        askRerun(token, !S.deltaUrl || !S.d ? "no-delta" : "connection");
      })
      .catch(() => {});
  }
  // On a plan, not a chain: a tick that fired late (a busy page at load fires its timers seconds
  // late) is followed by the next at its planned time, or at once when that has passed too, never
  // a burst of the ticks missed. A long-poll or an EventSource would not wait on the timer at all,
  // but Streamlit's server offers no route of the app's own to `streamlit run app.py` (st.App's
  // routes need the app started as an st.App), so the beacon stays a static file (docs/measurements.md).
  let planned = performance.now();
  (function tick() {
    hook.ticks = (hook.ticks || 0) + 1;
    poll();
    const now = performance.now();
    planned = Math.max(planned + (now - lastMove < BUSY_FOR_MS ? BUSY_POLL_MS : LIVE_POLL_MS), now);
    setTimeout(tick, planned - now);
  })();

  async function render(args) {
    trace("render");
    S.liveUrl = args.live_url || null;
    S.deltaUrl = args.delta_url || null;
    if (typeof args.settle_s === "number") S.settleMs = args.settle_s * 1000;
    if (args.live_token !== S.liveToken) {
      S.liveToken = args.live_token; S.askedFor = null;
      clearTimeout(S.settleTimer); S.settleTimer = null;  // the page is as new as its token: tiles done
    }
    mapEl.style.height = (args.height || 620) + "px";
    if (args.alt) mapEl.setAttribute("aria-label", String(args.alt));
    S.select = !!args.select;
    if (typeof args.now === "number") S.offset = args.now * 1000 - Date.now();
    setHeight();
    if (!args.data || args.stamp === S.stamp) return;
    const stamp = args.stamp, seq = Number(args.seq) || 0;
    S.stamp = stamp;
    const d = await inflate(args.data);
    if (S.stamp !== stamp) return;  // a newer payload arrived meanwhile
    S.argSeq = seq;
    const keep = adoptable(d, seq);
    trace(keep ? "adopt" : "build", seq);
    if (keep) adopt(d);
    else build(d);
  }

  window.addEventListener("message", (ev) => {
    const msg = ev.data;
    if (msg && msg.type === "streamlit:render") {
      render(msg.args || {}).catch((e) => { document.body.setAttribute("data-error", String(e)); throw e; });
    }
  });
  send("streamlit:componentReady", { apiVersion: 1 });
})();
