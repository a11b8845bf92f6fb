/* The planner's map editor: Leaflet + Terra Draw in a Streamlit component (API v1, spoken by hand:
 * componentReady → render → setComponentValue).
 *
 * In: the draft's grids (FeatureCollection: code, name, change), context layers (outlines with
 * labels, open cases as points), reference layers (thin grey, under everything but the base map;
 * their attributes shown on hover, as text), problems with their places, a focus geometry, the
 * mode, the selection, texts, and the city's own base map when it has one (tiles: a URL template
 * served by the project itself, never the internet). Out: the planner's INTENT, one op per action, exactly the ops of
 * planning.drafts.apply_edit (move_vertex from/to, split code+line, merge codes, add polygon) or
 * {"op": "select", "code": C}. The server edits every grid that shares the vertex or edge; the
 * editor never sends back whole edited shapes. Coordinates are rounded to 6 decimals (~0.1 m).
 */
(function () {
  "use strict";

  const DIGITS = 1e6;
  const MAX_HANDLES = 1500; // vertex handles drawn at once (zoom in for more)
  const COLOURS = { same: "#38bdf8", changed: "#f59e0b", new: "#22c55e", retired: "#64748b" };
  const SELECTED = "#f472b6", CASE = "#f87171", ERROR = "#ef4444", WARNING = "#facc15", OUTLINE = "#e2e8f0";
  const REFERENCE = "#94a3b8";
  const session = Math.random().toString(36).slice(2, 8);
  let counter = 0;

  const state = {
    args: null, grids: [], gridLayer: null, contextLayer: null, caseLayer: null, refLayer: null,
    refFeatures: [], refTip: null, tileLayer: null, attribution: null,
    problemLayer: null, handleLayer: null, mode: null, selected: new Set(), mergeSet: new Set(),
    keys: {}, draw: null, fitted: false, focusKey: null, texts: {}, legend: null,
  };

  // ---- the Streamlit component protocol (v1) ----
  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
  }
  function setHeight() {
    send("streamlit:setFrameHeight", { height: document.body.scrollHeight + 4 });
  }
  function emit(op) {
    counter += 1;
    window.lastOp = op; // for the browser tests
    document.body.setAttribute("data-last-op", JSON.stringify(op));
    send("streamlit:setComponentValue", { value: { n: session + "-" + counter, op: op }, dataType: "json" });
  }

  const round = (x) => Math.round(x * DIGITS) / DIGITS;
  const pt = (latlng) => [round(latlng.lng), round(latlng.lat)];
  const tx = (k, fallback) => (state.texts && state.texts[k]) || fallback;
  // Leaflet puts a string tooltip in as HTML: names and attributes come from files, so escape them
  const esc = (v) => String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  // ---- the map: vector layers over a blank background, or over the city's own tiles ----
  const map = L.map("map", { attributionControl: false, zoomSnap: 0.25, boxZoom: false,
                             doubleClickZoom: false, keyboard: true });
  map.setView([30, 120], 12);
  window.editorMap = map; // for the browser tests (screen position of a coordinate)
  map.createPane("references").style.zIndex = 300;
  map.createPane("context").style.zIndex = 350;
  map.createPane("grids").style.zIndex = 400;
  map.createPane("problems").style.zIndex = 450;
  map.createPane("handles").style.zIndex = 620;
  map.getContainer().setAttribute("tabindex", "0");

  function gridStyle(f) {
    const p = f.properties || {};
    const sel = state.selected.has(p.code) || state.mergeSet.has(p.code);
    const c = COLOURS[p.change] || COLOURS.same;
    return { pane: "grids", color: sel ? SELECTED : c, weight: sel ? 3 : 1.2,
             dashArray: p.change === "retired" ? "4 4" : null,
             fillColor: c, fillOpacity: sel ? 0.35 : (p.change && p.change !== "same" ? 0.22 : 0.06) };
  }

  function drawGrids(fc) {
    if (state.gridLayer) state.gridLayer.remove();
    state.grids = (fc && fc.features) || [];
    state.gridLayer = L.geoJSON(fc, {
      pane: "grids", style: gridStyle,
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        layer.bindTooltip(esc(`${p.code} ${p.name || ""}`.trim()), { sticky: true });
        layer.on("click", (ev) => onGridClick(p.code, ev));
      },
    }).addTo(map);
  }

  function drawContext(fc) {
    if (state.contextLayer) state.contextLayer.remove();
    if (state.caseLayer) state.caseLayer.remove();
    const outlines = { type: "FeatureCollection", features: [] };
    const cases = [];
    for (const f of (fc && fc.features) || []) {
      if (f.geometry && f.geometry.type === "Point") cases.push(f); else outlines.features.push(f);
    }
    const level = (p) => p.kind || p.level || p.layer || "community";
    const weights = { district: 3, subdistrict: 2, community: 1 };
    state.contextLayer = L.featureGroup();
    L.geoJSON(outlines, {
      pane: "context", interactive: false,
      style: (f) => ({ pane: "context", color: OUTLINE, weight: weights[level(f.properties || {})] || 1,
                       opacity: 0.7, fill: false }),
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        if (!p.name || level(p) === "district") return;
        // context_geojson gives a label point ([lon, lat]); otherwise the outline's centre
        const at = Array.isArray(p.label) ? L.latLng(p.label[1], p.label[0]) : null;
        if (at) {
          L.tooltip({ permanent: true, direction: "center", className: "lbl", pane: "context" })
            .setLatLng(at).setContent(esc(p.name)).addTo(state.contextLayer);
        } else {
          layer.bindTooltip(esc(p.name), { permanent: true, direction: "center", className: "lbl" });
        }
      },
    }).addTo(state.contextLayer);
    state.contextLayer.addTo(map);
    state.caseLayer = L.layerGroup(cases.map((f) => {
      const [lon, lat] = f.geometry.coordinates;
      const m = L.circleMarker([lat, lon], { pane: "context", radius: 3, color: CASE, weight: 1,
                                             fillOpacity: 0.8, interactive: false });
      return m;
    })).addTo(map);
  }

  // ---- reference layers: thin and grey under the grids; hover found by our own hit test, since
  // the grids above them take the mouse ----
  const REF_STYLE = { pane: "references", color: REFERENCE, weight: 1, opacity: 0.75, fillColor: REFERENCE,
                      fillOpacity: 0.04, interactive: false };
  function drawReferences(layers) {
    if (state.refLayer) state.refLayer.remove();
    if (state.refTip) { state.refTip.remove(); state.refTip = null; }
    state.refFeatures = [];
    state.refLayer = L.layerGroup((layers || []).map((fc) => {
      for (const f of fc.features || []) if (f.geometry) state.refFeatures.push(refEntry(f, fc.name));
      return L.geoJSON(fc, {
        pane: "references", interactive: false, style: () => REF_STYLE,
        pointToLayer: (f, latlng) => L.circleMarker(latlng, Object.assign({}, REF_STYLE, { radius: 2, fillOpacity: 0.6 })),
      });
    })).addTo(map);
    window.editorReferences = state.refFeatures.length; // for the browser tests
  }

  function refEntry(f, layerName) {
    const g = f.geometry, parts = [];
    const walk = (type, c) => {
      if (type === "Point") parts.push({ kind: "point", pts: [c] });
      else if (type === "MultiPoint") c.forEach((p) => parts.push({ kind: "point", pts: [p] }));
      else if (type === "LineString") parts.push({ kind: "line", pts: c });
      else if (type === "MultiLineString") c.forEach((l) => parts.push({ kind: "line", pts: l }));
      else if (type === "Polygon") parts.push({ kind: "polygon", rings: c });
      else if (type === "MultiPolygon") c.forEach((r) => parts.push({ kind: "polygon", rings: r }));
    };
    if (g.type === "GeometryCollection") (g.geometries || []).forEach((x) => walk(x.type, x.coordinates));
    else walk(g.type, g.coordinates);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const p of parts) for (const [x, y] of (p.pts || p.rings.flat())) {
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
    return { parts: parts, box: [x0, y0, x1, y1], props: f.properties || {}, layer: layerName || "" };
  }

  function segDist(p, a, b) {
    const dx = b.x - a.x, dy = b.y - a.y, n = dx * dx + dy * dy;
    const t = n ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / n)) : 0;
    return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
  }

  /** The reference feature under the mouse (within 5 px of a point or line, inside a polygon). */
  function refAt(latlng) {
    const PX = 5;
    const cp = map.latLngToContainerPoint(latlng);
    const c2 = map.containerPointToLatLng([cp.x + PX, cp.y + PX]);
    const tol = Math.max(Math.abs(c2.lng - latlng.lng), Math.abs(c2.lat - latlng.lat));
    const x = latlng.lng, y = latlng.lat;
    const px = (q) => map.latLngToContainerPoint([q[1], q[0]]);
    for (let i = state.refFeatures.length - 1; i >= 0; i--) {  // the last drawn lies on top
      const f = state.refFeatures[i], b = f.box;
      if (x < b[0] - tol || x > b[2] + tol || y < b[1] - tol || y > b[3] + tol) continue;
      for (const p of f.parts) {
        if (p.kind === "point" && segDist(cp, px(p.pts[0]), px(p.pts[0])) <= PX + 1) return f;
        if (p.kind === "polygon" && inPolygon(x, y, p.rings)) return f;
        const lines = p.kind === "line" ? [p.pts] : p.kind === "polygon" ? p.rings : [];
        for (const l of lines) {
          for (let k = 0; k + 1 < l.length; k++) if (segDist(cp, px(l[k]), px(l[k + 1])) <= PX) return f;
        }
      }
    }
    return null;
  }

  /** The hover text as DOM text nodes: an attribute holding markup shows as that markup, inert. */
  function refContent(f) {
    const box = document.createElement("div");
    box.className = "reftip-body";
    if (f.layer) {
      const h = document.createElement("b");
      h.textContent = f.layer;
      box.appendChild(h);
    }
    for (const k of Object.keys(f.props)) {
      const row = document.createElement("div");
      const v = f.props[k];
      row.textContent = `${k}: ${v === null || v === undefined ? "—" : v}`;
      box.appendChild(row);
    }
    return box;
  }

  let hoverAt = null;
  map.on("mousemove", (ev) => {
    if (!state.refFeatures.length) return;
    const idle = hoverAt === null;
    hoverAt = ev.latlng;
    if (!idle) return;  // one hit test per frame
    requestAnimationFrame(() => {
      const at = hoverAt;
      hoverAt = null;
      const f = refAt(at);
      if (!f) { if (state.refTip) { state.refTip.remove(); state.refTip = null; } return; }
      if (!state.refTip) {
        state.refTip = L.tooltip({ direction: "top", offset: [0, -10], className: "reftip" });
        state.refTip.setLatLng(at).setContent(refContent(f)).addTo(map);
        state.refTip.feature = f;
      } else {
        state.refTip.setLatLng(at);
        if (state.refTip.feature !== f) { state.refTip.setContent(refContent(f)); state.refTip.feature = f; }
      }
    });
  });
  map.on("mouseout", () => { if (state.refTip) { state.refTip.remove(); state.refTip = null; } });

  // ---- the city's own base map: tiles from the project's server (the page gives the URL) ----
  function drawTiles(tiles) {
    if (state.tileLayer) { state.tileLayer.remove(); state.tileLayer = null; }
    if (state.attribution) { state.attribution.remove(); state.attribution = null; }
    if (!tiles || !tiles.url) return;
    state.tileLayer = L.tileLayer(tiles.url, {
      minZoom: 0, maxZoom: 22, maxNativeZoom: tiles.max_zoom === undefined ? 18 : tiles.max_zoom,
      minNativeZoom: tiles.min_zoom || 0, keepBuffer: 1,
    }).addTo(map);
    window.editorTiles = state.tileLayer; // for the browser tests
    if (tiles.attribution) {  // as text: Leaflet's own attribution control takes HTML
      const Attribution = L.Control.extend({
        onAdd: () => {
          const d = L.DomUtil.create("div", "tile-attribution");
          d.textContent = tiles.attribution;
          return d;
        },
      });
      state.attribution = new Attribution({ position: "bottomright" }).addTo(map);
    }
  }

  function drawProblems(fc) {
    if (state.problemLayer) state.problemLayer.remove();
    state.problemLayer = L.geoJSON(fc || { type: "FeatureCollection", features: [] }, {
      pane: "problems",
      style: (f) => ({ pane: "problems", color: (f.properties || {}).severity === "error" ? ERROR : WARNING,
                       weight: 3, fillOpacity: 0.3 }),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, {
        pane: "problems", radius: 7, weight: 3, fillOpacity: 0.3,
        color: (f.properties || {}).severity === "error" ? ERROR : WARNING }),
      onEachFeature: (f, layer) => {
        const p = f.properties || {};
        if (p.message) layer.bindTooltip(esc(p.message), { sticky: true });
      },
    }).addTo(map);
  }

  // ---- the legend, under the map (over it, it would hide grids and take clicks): what each
  // colour and line means, in the page's language ----
  function drawLegend() {
    const rows = [
      ["fill", COLOURS.same, tx("legend_same", "Grid, unchanged")],
      ["fill", COLOURS.changed, tx("legend_changed", "Changed in this draft")],
      ["fill", COLOURS.new, tx("legend_new", "New in this draft")],
      ["dash", COLOURS.retired, tx("legend_retired", "Retired in this draft")],
      ["line", SELECTED, tx("legend_selected", "Selected")],
      ["line", OUTLINE, tx("legend_outline", "District, subdistrict, community outline")],
      ["dot", CASE, tx("legend_case", "Open case")],
      ["thick", ERROR, tx("legend_error", "Problem: error (blocks publishing)")],
      ["thick", WARNING, tx("legend_warning", "Problem: warning (needs a reason)")],
      ["line", REFERENCE, tx("legend_reference", "Reference layer")],
    ];
    const d = document.getElementById("legend");
    d.replaceChildren();
    const head = document.createElement("b");
    head.textContent = tx("legend", "Legend");
    d.appendChild(head);
    for (const [kind, colour, label] of rows) {
      const row = document.createElement("span");
      row.className = "legend-row";
      const sw = document.createElement("span");
      sw.className = "sw sw-" + kind;
      sw.style.setProperty("--c", colour);
      const t = document.createElement("span");
      t.textContent = label; // as text: never HTML
      row.append(sw, t);
      d.appendChild(row);
    }
    state.legend = true;
  }

  function focusOn(focus) {
    if (!focus) return;
    const key = JSON.stringify(focus);
    if (key === state.focusKey) return;
    state.focusKey = key;
    const b = L.geoJSON(focus).getBounds();
    if (!b.isValid()) return;
    if (b.getNorthEast().equals(b.getSouthWest())) map.setView(b.getCenter(), 18, { animate: false });
    else map.fitBounds(b, { maxZoom: 18, padding: [30, 30], animate: false });
  }

  // ---- point in polygon (ray casting, outer ring and holes) ----
  function inRing(x, y, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  function inPolygon(x, y, rings) {
    if (!inRing(x, y, rings[0])) return false;
    for (let k = 1; k < rings.length; k++) if (inRing(x, y, rings[k])) return false;
    return true;
  }
  function gridAt(x, y) {
    for (const f of state.grids) {
      const p = f.properties || {};
      if (p.change === "retired" || !f.geometry) continue;
      const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      if (polys.some((rings) => inPolygon(x, y, rings))) return p.code;
    }
    return null;
  }

  /** The grid a split line cuts: the (selected, else any) grid holding most of 40 points along it. */
  function gridUnderLine(line) {
    const hits = {};
    const n = 40;
    for (let s = 0; s < line.length - 1; s++) {
      const [x0, y0] = line[s], [x1, y1] = line[s + 1];
      for (let i = 0; i <= n; i++) {
        const c = gridAt(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n);
        if (c) hits[c] = (hits[c] || 0) + 1;
      }
    }
    for (const c of state.selected) if (hits[c]) return c;
    let best = null;
    for (const c in hits) if (best === null || hits[c] > hits[best]) best = c;
    return best;
  }

  // ---- modes ----
  function onGridClick(code, ev) {
    if (state.mode === "merge") {
      if (state.mergeSet.has(code)) state.mergeSet.delete(code); else state.mergeSet.add(code);
      state.gridLayer.setStyle(gridStyle);
      drawBar();
    } else if (state.mode === "select" || state.mode === "move_vertex") {
      emit({ op: "select", code: code });
    }
    if (ev && ev.originalEvent) L.DomEvent.stopPropagation(ev);
  }

  function drawHandles() {
    if (state.handleLayer) { state.handleLayer.remove(); state.handleLayer = null; }
    if (state.mode !== "move_vertex") return;
    const bounds = map.getBounds().pad(0.05);
    const seen = new Map();
    for (const f of state.grids) {
      if ((f.properties || {}).change === "retired" || !f.geometry) continue;
      const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const rings of polys) for (const ring of rings) for (const [x, y] of ring) {
        if (bounds.contains([y, x])) seen.set(`${round(x)},${round(y)}`, [x, y]);
      }
    }
    if (seen.size > MAX_HANDLES) {
      hint(tx("zoom_in", "放大地图以显示可拖动的顶点 / zoom in to show the vertices"));
      return;
    }
    hint(tx("vertex_hint", "拖动顶点；相邻网格的共享顶点一起移动 / drag a vertex; neighbours sharing it move too"));
    state.handleLayer = L.layerGroup([...seen.values()].map(([x, y]) => {
      const m = L.marker([y, x], { pane: "handles", draggable: true, autoPan: false,
                                   icon: L.divIcon({ className: "vx", iconSize: [8, 8] }) });
      m.on("dragend", () => {
        const to = pt(m.getLatLng());
        const from = [round(x), round(y)];
        if (to[0] !== from[0] || to[1] !== from[1]) emit({ op: "move_vertex", from: from, to: to });
      });
      return m;
    })).addTo(map);
  }

  function startDraw() {
    if (state.draw) return state.draw;
    const td = window.terraDraw;
    const adapter = new window.terraDrawLeafletAdapter.TerraDrawLeafletAdapter({ lib: L, map: map });
    const draw = new td.TerraDraw({
      adapter: adapter,
      modes: [
        new td.TerraDrawLineStringMode({ styles: { lineStringColor: "#f472b6", lineStringWidth: 3 } }),
        new td.TerraDrawPolygonMode({ styles: { fillColor: "#22c55e", outlineColor: "#22c55e" } }),
      ],
    });
    draw.start();
    draw.on("finish", (id) => {
      const f = draw.getSnapshotFeature(id);
      draw.clear();
      if (!f) return;
      const coords = f.geometry.coordinates;
      if (f.geometry.type === "LineString") {
        const line = coords.map(([x, y]) => [round(x), round(y)]);
        const code = gridUnderLine(line);
        if (!code) { hint(tx("split_nothing", "分割线没有经过任何网格 / the line crosses no grid")); return; }
        emit({ op: "split", code: code, line: line });
      } else if (f.geometry.type === "Polygon") {
        const ring = coords[0].map(([x, y]) => [round(x), round(y)]);
        const op = { op: "add", polygon: ring };
        if (state.args.community_code) op.community_code = state.args.community_code;
        emit(op);
      }
    });
    state.draw = draw;
    window.editorDraw = draw; // for the browser tests
    return draw;
  }

  function hint(text) { document.getElementById("hint").textContent = text || ""; }

  function drawBar() {
    const bar = document.getElementById("bar");
    bar.textContent = "";
    const label = document.createElement("span");
    label.className = "mode";
    label.textContent = tx("mode_" + state.mode, state.mode);
    bar.appendChild(label);
    if (state.mode === "merge") {
      const b = document.createElement("button");
      b.id = "merge-go";
      const codes = [...state.mergeSet].sort();
      b.textContent = `${tx("merge_go", "合并所选 / merge")} (${codes.length})`;
      b.disabled = codes.length < 2;
      b.onclick = () => { emit({ op: "merge", codes: codes }); state.mergeSet.clear(); state.gridLayer.setStyle(gridStyle); drawBar(); };
      bar.appendChild(b);
      const c = document.createElement("button");
      c.textContent = tx("clear", "清除选择 / clear");
      c.onclick = () => { state.mergeSet.clear(); state.gridLayer.setStyle(gridStyle); drawBar(); };
      bar.appendChild(c);
    }
  }

  function setMode(mode) {
    if (mode === state.mode) return;
    state.mode = mode;
    if (mode !== "merge") state.mergeSet.clear();
    const hints = {
      select: tx("select_hint", "点击网格以选中 / click a grid to select it"),
      split: tx("split_hint", "依次点击画出分割线，再次点击最后一点结束 / click along the line, click the last point again to finish"),
      add: tx("add_hint", "在空白处点击画出新网格，点击第一个点闭合 / click the corners in a gap, close on the first point"),
      merge: tx("merge_hint", "点击相邻网格加入合并 / click adjacent grids to merge"),
      view: "",
    };
    map.getContainer().classList.toggle("drawing", mode === "split" || mode === "add");
    if (mode === "split" || mode === "add") startDraw().setMode(mode === "split" ? "linestring" : "polygon");
    else if (state.draw) state.draw.setMode("static");
    map.dragging.enable();
    hint(hints[mode] || "");
    drawHandles();
    drawBar();
  }
  map.on("moveend", () => { if (state.mode === "move_vertex") drawHandles(); });

  // ---- one render: redraw only the layers whose input changed ----
  function changed(name, value) {
    const k = JSON.stringify(value === undefined ? null : value);
    if (state.keys[name] === k) return false;
    state.keys[name] = k;
    return true;
  }

  /** Streamlit shows the frame only after the first height message: wait for a real size, or
   * Leaflet computes its view from a 0-pixel map (NaN). */
  function whenSized(fn) {
    if (map.getContainer().clientWidth > 0) { map.invalidateSize(); fn(); }
    else requestAnimationFrame(() => whenSized(fn));
  }

  function render(args) {
    if (args.height) document.getElementById("map").style.height = args.height + "px";
    setHeight();
    whenSized(() => renderSized(args));
  }

  function renderSized(args) {
    state.args = args;
    state.texts = args.texts || {};
    const sel = new Set(args.selected || []);
    const selChanged = changed("selected", [...sel].sort());
    state.selected = sel;
    if (changed("grids", args.grids)) {
      drawGrids(args.grids);
      if (state.mode === "move_vertex") drawHandles();
      if (!state.fitted && state.gridLayer.getBounds().isValid()) {
        map.fitBounds(state.gridLayer.getBounds(), { padding: [20, 20], animate: false });
        state.fitted = true;
      }
    } else if (selChanged && state.gridLayer) {
      state.gridLayer.setStyle(gridStyle);
    }
    if (changed("texts", state.texts) || !state.legend) drawLegend();
    if (changed("context", args.context)) drawContext(args.context);
    if (changed("tiles", args.tiles)) drawTiles(args.tiles);
    if (changed("references", args.references)) drawReferences(args.references);
    if (changed("problems", args.problems)) drawProblems(args.problems);
    focusOn(args.focus);
    setMode(args.mode || "select");
    map.invalidateSize();
    document.body.setAttribute("data-ready", "1");
    setHeight();
  }

  window.addEventListener("message", (ev) => {
    const msg = ev.data;
    if (msg && msg.type === "streamlit:render") render(msg.args || {});
  });
  send("streamlit:componentReady", { apiVersion: 1 });
})();
