/* The wall's map: deck.gl in a Streamlit component (API v1, spoken by hand:
 * componentReady → render → setComponentValue), see ui/wall_map/__init__.py and wall/live_map.py.
 *
 * In: `data`, gzip-compressed JSON bytes (the open cases as columns with their due and warn times
 * in seconds from t0, the grid shading, labels, the outline file's address, colours, texts);
 * `stamp`, naming that payload; `now`, the server's clock. The colours (time class → fill; state
 * group → rim; overdue → a red ring) are worked out here from the clock, at least once a minute
 * and exactly when the next case crosses a line, so time passing costs the server nothing.
 * Out (only with `select`): {i: case id, n: nonce} when a case is clicked; and {live: token, n}
 * when the beacon file (`live_url`, polled once a second) no longer says `live_token`: that
 * value reruns the page, which is how a wall learns of a change.
 *
 * Hostile text: layers are built here by hand (no deck.gl JSON converter: "@@=…" is just text),
 * and tooltips are set as text (deck.gl's `text`, i.e. innerText), never as HTML.
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
  const S = { deck: null, stamp: null, d: null, n: 0, ids: null, pos: null, D: null, W: null, G: null, cls: null,
              offset: 0, timer: null, select: false, pending: null, viewKey: null, staticLayers: [], rows: [] };
  const hook = window.__wall = {
    counts: [0, 0, 0, 0], overdueRings: 0, recolours: 0, recolourMs: 0, buildMs: 0, stamp: null, builds: 0,
    drawn: {},   // case id -> epoch ms (this browser's clock) when it was first drawn
    shift: 0,    // seconds added to the clock (tests and benchmarks simulate time passing)
    recolour: () => recolour(),
    classOf: (id) => { const i = S.ids ? S.ids.indexOf(id) : -1; return i < 0 ? null : S.cls[i]; },
    classes: () => Array.from(S.cls || []),
    tooltipOf: (id) => {  // the text a hover over the case shows
      const i = S.ids ? S.ids.indexOf(id) : -1;
      const tip = i < 0 ? null : tooltip({ layer: { id: S.d.caseLayer }, index: i });
      return tip && tip.text;
    },
  };

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

  function offsets(d) {
    const u = d.unit;
    return { coordinateSystem: deck.COORDINATE_SYSTEM.LNGLAT_OFFSETS, coordinateOrigin: [d.origin[0], d.origin[1], 0],
             modelMatrix: [u, 0, 0, 0, 0, u, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] };
  }

  function build(d) {
    const t = performance.now();
    const c = d.cases, n = c.i.length;
    const pos = new Float32Array(2 * n), D = new Float64Array(n), W = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      pos[2 * i] = c.x[i]; pos[2 * i + 1] = c.y[i];
      D[i] = c.d[i] === null ? NaN : c.d[i];
      W[i] = c.w[i] === null ? NaN : c.w[i];
    }
    Object.assign(S, { d: d, n: n, ids: c.i, pos: pos, D: D, W: W, G: Uint8Array.from(c.g), pending: c.i });
    const off = offsets(d);
    const style = d.outlineStyle;
    const gridRows = d.grids.g.map((g, i) => ({ g: g, c: d.grids.c[i], t: d.grids.t[i] }));
    S.staticLayers = [
      new deck.SolidPolygonLayer(Object.assign({
        id: "grids", data: gridRows, getPolygon: (r) => r.g, positionFormat: "XY", getFillColor: (r) => r.c,
        pickable: true, autoHighlight: true, highlightColor: [255, 255, 255, 45] }, off)),
      new deck.PolygonLayer(Object.assign({
        id: "outlines", data: new URL(d.outlines, appBase()).href, getPolygon: (r) => r.q, filled: false,
        stroked: true, pickable: false, lineWidthUnits: "pixels",
        getLineColor: (r) => (style[r.l] || [[0, 0, 0, 0]])[0], getLineWidth: (r) => (style[r.l] || [0, 1])[1] }, off)),
      new deck.TextLayer({
        id: "area-labels", data: d.labels, pickable: false, getPosition: (r) => r.p, getText: (r) => r.n,
        getSize: (r) => r.z, sizeScale: d.labelScale, sizeUnits: "pixels", characterSet: "auto",
        fontFamily: d.font, fontWeight: 600, getColor: [226, 232, 240, 245], fontSettings: { sdf: true, buffer: 6 },
        outlineWidth: 5, outlineColor: [4, 10, 23, 235], getTextAnchor: "middle",
        getAlignmentBaseline: "center" }),
    ];
    hook.buildMs = performance.now() - t;
    hook.builds += 1;
    const viewKey = JSON.stringify(d.view);
    if (!S.deck) {
      S.deck = new deck.Deck({
        parent: mapEl, initialViewState: d.view, controller: true, layers: [],
        getTooltip: tooltip, onClick: click, onAfterRender: afterRender,
        getCursor: ({ isHovering }) => (isHovering && S.select ? "pointer" : "grab"),
      });
    } else if (viewKey !== S.viewKey) {
      S.deck.setProps({ initialViewState: d.view });  // a new filter: fit it (a new case keeps the view)
    }
    S.viewKey = viewKey;
    recolour();
  }

  // The time classes from the clock: fill, rim and the overdue ring, then when to look again.
  function recolour() {
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
    S.cls = cls;
    const off = offsets(d), radius = d.radius;
    const position = { value: S.pos, size: 2 };
    const layers = S.staticLayers.concat([
      new deck.ScatterplotLayer(Object.assign({
        id: "overdue-rings", data: { length: n, attributes: { getPosition: position,
                                                              getLineColor: { value: halo, size: 4, normalized: true } } },
        filled: false, stroked: true, lineWidthUnits: "pixels", getLineWidth: 2, radiusUnits: "pixels",
        getRadius: radius * 2.1, pickable: false }, off)),
      new deck.ScatterplotLayer(Object.assign({
        id: d.caseLayer, data: { length: n, attributes: { getPosition: position,
                                                          getFillColor: { value: fill, size: 4, normalized: true },
                                                          getLineColor: { value: line, size: 4, normalized: true } } },
        stroked: true, lineWidthUnits: "pixels", getLineWidth: 1.5, radiusUnits: "pixels", getRadius: radius,
        pickable: true, autoHighlight: true, highlightColor: [255, 255, 255, 120] }, off)),
    ]);
    S.deck.setProps({ layers: layers });
    hook.counts = counts; hook.overdueRings = rings; hook.recolours += 1; hook.recolourMs = performance.now() - t;
    document.body.setAttribute("data-counts", counts.join(","));
    document.body.setAttribute("data-recolours", String(hook.recolours));
    clearTimeout(S.timer);
    const wait = Number.isFinite(next) ? (next - now) * 1000 + 20 : MAX_WAIT_MS;
    S.timer = setTimeout(recolour, Math.max(100, Math.min(MAX_WAIT_MS, wait)));
  }

  function afterRender() {
    if (!S.pending) return;
    const at = Date.now(), ids = S.pending;
    S.pending = null;
    for (let i = 0; i < ids.length; i++) if (!(ids[i] in hook.drawn)) hook.drawn[ids[i]] = at;
    hook.stamp = S.stamp;
    document.body.setAttribute("data-stamp", S.stamp);
    // and on the iframe itself, so the page (bench pages, tests) can tell a drawn map from an empty frame
    try { if (window.frameElement) window.frameElement.setAttribute("data-drawn", S.stamp); } catch (e) { /* cross-origin */ }
  }

  function tooltip(info) {
    if (!info.layer || info.index < 0 || !S.d) return null;
    const d = S.d, i = info.index;
    if (info.layer.id === "grids" && info.object) return { text: String(info.object.t), style: d.tooltipStyle };
    if (info.layer.id !== d.caseLayer || i >= S.n) return null;
    const what = String(d.cats[d.cases.c[i]]);
    const x = d.detail;
    if (!x) return { text: what, style: d.tooltipStyle };
    const state = [x.s[i]].concat(S.cls[i] === OVERDUE ? [d.texts.overdue] : [], x.e[i] ? [x.e[i]] : []);
    return { text: `${what} ${x.n[i]}\n${state.join(" · ")}\n${x.x[i]}`, style: d.tooltipStyle };
  }

  function click(info) {
    if (!S.select || !info.layer || !S.d || info.layer.id !== S.d.caseLayer || info.index < 0) return;
    counter += 1;
    send("streamlit:setComponentValue", { value: { i: S.ids[info.index], n: session + "-" + counter },
                                         dataType: "json" });
  }

  // The live check: the beacon file (ui.wall_view.LiveBeacon) once a second; a rerun when it moved.
  const LIVE_POLL_MS = 1000;
  function poll() {
    if (!S.liveUrl) return;
    fetch(new URL(S.liveUrl, appBase()).href, { cache: "no-store", credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((text) => {
        const token = text && text.trim();
        hook.polls = (hook.polls || 0) + 1;
        if (!token || token === S.liveToken || token === S.askedFor) return;
        S.askedFor = token;
        counter += 1;
        send("streamlit:setComponentValue", { value: { live: token, n: session + "-" + counter }, dataType: "json" });
      })
      .catch(() => {});
  }
  setInterval(poll, LIVE_POLL_MS);

  async function render(args) {
    S.liveUrl = args.live_url || null;
    if (args.live_token !== S.liveToken) { S.liveToken = args.live_token; S.askedFor = null; }
    mapEl.style.height = (args.height || 620) + "px";
    if (args.alt) mapEl.setAttribute("aria-label", String(args.alt));
    S.select = !!args.select;
    if (typeof args.now === "number") S.offset = args.now * 1000 - Date.now();
    setHeight();
    if (!args.data || args.stamp === S.stamp) return;
    const stamp = args.stamp;
    S.stamp = stamp;
    const d = await inflate(args.data);
    if (S.stamp !== stamp) return;  // a newer payload arrived meanwhile
    build(d);
  }

  window.addEventListener("message", (ev) => {
    const msg = ev.data;
    if (msg && msg.type === "streamlit:render") {
      render(msg.args || {}).catch((e) => { document.body.setAttribute("data-error", String(e)); throw e; });
    }
  });
  send("streamlit:componentReady", { apiVersion: 1 });
})();
