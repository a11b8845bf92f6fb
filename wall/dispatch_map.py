"""The dispatch page's map (派单): small enough to redraw on every pick, whatever the history.

Plain Python. The wall draws every open case one by one (``wall/frame.py``); at a million cases
that is 45,000 points, a 2.4 MB deck that software WebGL rebuilds on every redraw. The
dispatcher needs less: the cases they can pick now and where the load is. So this deck holds

- the outlines, fetched by the browser once from the wall's static file (``outlines_url``);
- the area names (the wall's, placed for this map's zoom);
- ``grid-load``: one circle per grid with open cases in the dispatcher's area, coloured by its
  count (the wall's five load classes), its count in the tooltip — the load of *all* open
  cases in scope, aggregated;
- ``cases`` (pickable, the contract of ``wall/pick.py``): the cases of the queue being shown
  (a few hundred at most), plus the picked case; while the area has at most ``POINTS_MAX`` open
  cases (a small district, a community) every open case is drawn instead and no aggregate;
- ``selected-case``: a ring on the picked case (not pickable, so a click lands underneath).

So its size follows the queue and the grid count, not the number of cases: tens of kilobytes.
Positions are the wall's integer offsets (1e-5°, ``wall.frame.offset_props``); user text is made
inert (``wall.inert``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.partitions import case_bound
from i18n import name_in, status_label, t
from wall.frame import (AT_RISK, DIGITS, FILL, G_NORMAL, G_POSTPONED, G_SUPERVISED, G_VERIFY, LOAD_RAMP, NO_DEADLINE,
                        ON_TIME, OPEN_SQL, OVERDUE, RING, TOOLTIP_STYLE, BaseMap, WallFilter, _labels_layer, filter_bbox,
                        load_colours, offset_props, open_cases, place_labels, view_for)
from wall.inert import inert_spec
from wall.pick import CASE_ID_FIELD, CASE_LAYER

SELECTED_LAYER = "selected-case"
LOAD_LAYER = "grid-load"
# The map's usual size on the dispatch page (its left column on a 1600-pixel-wide screen); the
# view is fitted as for the wall's desk map and zoomed out to this size (``dispatch_view``).
DISPATCH_MAP = (760, 520)
FITTED_FOR = (900, 620)
# Up to this many open cases in the area, every one is drawn (as on the wall); above, the queue's.
POINTS_MAX = 2000
_RING = [56, 189, 248, 255]
_TIME_CLASS = {"overdue": OVERDUE, "at_risk": AT_RISK, "on_track": ON_TIME}


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def dispatch_view(base: BaseMap, f: WallFilter) -> dict:
    """The initial view: the dispatcher's area fitted as on the wall's desk map, zoomed out so
    it fits the dispatch map. Depends on the area only: picking a case never moves the map."""
    view = view_for(filter_bbox(base, f), *FITTED_FOR)
    scale = min(DISPATCH_MAP[0] / FITTED_FOR[0], DISPATCH_MAP[1] / FITTED_FOR[1])
    view["zoom"] = round(view["zoom"] + math.log2(scale), 2)
    return view


@dataclass(frozen=True)
class OpenLoad:
    """The open cases of an area, as the dispatch map draws them."""
    total: int                    # open cases in the area (inside a grid or not)
    grids: dict[int, int]         # grid id -> open cases
    points: list[dict] | None     # every open case (the wall's points) while total <= POINTS_MAX


def open_load(conn: Connection, f: WallFilter, now: datetime, lang: str, origin: tuple[float, float]) -> OpenLoad:
    """Open cases per grid in the area; every case too while there are few."""
    where, params = f.sql()
    rows = conn.execute(text(f"SELECT c.grid_id, count(*) FROM cases c WHERE {OPEN_SQL} AND {where} GROUP BY 1"),
                        params).all()
    total = sum(n for _, n in rows)
    points = open_cases(conn, f, now, lang, origin).points if total <= POINTS_MAX else None
    return OpenLoad(total, {g: n for g, n in rows if g is not None}, points)


def grid_centres(base: BaseMap) -> dict[int, tuple[int, int, int]]:
    """Grid id -> (x, y, radius) in the base map's integer offsets: the mean of its outer ring's
    vertices and a radius that keeps the circle inside a grid of that size."""
    out = {}
    for gid, ring, _name in base.grids:
        flat = json.loads(ring)
        xs, ys = flat[0::2], flat[1::2]
        if not xs:
            continue
        half = min(max(xs) - min(xs), max(ys) - min(ys)) / 2
        out[gid] = (round(sum(xs) / len(xs)), round(sum(ys) / len(ys)), max(1, round(half * 0.7)))
    return out


def load_layer(base: BaseMap, load: OpenLoad, lang: str) -> str:
    """The grid-load circles (JSON of one layer): colour by count class, radius by the grid's size.
    Lean rows (about 65 bytes a grid): a class number for the colour, the grid's name and count."""
    bounds, _ = load_colours(load.grids)
    centres = grid_centres(base)
    names = {gid: name.rsplit(" ", 1)[0] for gid, _, name in base.grids}  # the name without the code
    word = t("wall.open_cases", lang)
    rows = [{"p": [x, y], "r": r, "k": next(i for i, b in enumerate(bounds) if load.grids[gid] <= b),
             "t": f"{names[gid]} {word} {load.grids[gid]}", "s": ""}
            for gid, (x, y, r) in centres.items() if load.grids.get(gid, 0) > 0]
    colour = "@@=" + "".join(f"k=={i}?{_dumps(c)}:" for i, c in enumerate(LOAD_RAMP[:-1])) + _dumps(LOAD_RAMP[-1])
    # metres per unit of 1e-5° latitude ≈ 1.11: radii are given in those units, drawn in metres
    return _dumps({"@@type": "ScatterplotLayer", "id": LOAD_LAYER, "data": rows, "getPosition": "@@=p",
                   "getRadius": "@@=r", "radiusScale": 1.11, "radiusUnits": "meters", "radiusMinPixels": 3,
                   "getFillColor": colour, "stroked": True, "getLineColor": [2, 6, 23, 160], "lineWidthUnits": "pixels",
                   "getLineWidth": 1, "pickable": True, "autoHighlight": True, "highlightColor": [255, 255, 255, 70],
                   **offset_props(base.origin)})


def queue_point(row, origin: tuple[float, float], lang: str) -> dict:
    """A queue row (``dispatch.desk.QueueRow``) as a pickable point of the cases layer."""
    k = _TIME_CLASS.get(row.time_state, NO_DEADLINE) if row.due_at is not None else NO_DEADLINE
    group = (G_SUPERVISED if getattr(row, "supervised", False) else G_VERIFY if row.status == "awaiting_verification"
             else G_POSTPONED if row.status == "postponed" else G_NORMAL)
    what = name_in(row, lang, "category_name") or t("wall.no_category", lang)
    return {CASE_ID_FIELD: row.id, "p": offset(row.lon, row.lat, origin), "k": k + 4 * group,
            "t": f"{what} {row.case_no}", "s": status_label(row.status, lang)}


def offset(lon: float, lat: float, origin: tuple[float, float]) -> list[int]:
    """(lon, lat) as the base map's integer offsets (units of 1e-5°)."""
    return [round((lon - origin[0]) * 10 ** DIGITS), round((lat - origin[1]) * 10 ** DIGITS)]


def cases_layer(points: list[dict], origin: tuple[float, float], *, detailed: bool = False) -> str:
    """The pickable cases (the wall's colours: fill by time left, rim by state group); ``detailed``:
    their tooltips carry a description snippet (every open case drawn, the wall's points)."""
    fill = "@@=" + "".join(f"k%4=={c}?{_dumps(FILL[c])}:" for c in (OVERDUE, AT_RISK, ON_TIME)) + _dumps(FILL[NO_DEADLINE])
    rim = ("@@=" + "".join(f"k<{4 * (g + 1)}?{_dumps(RING[g])}:" for g in (G_NORMAL, G_VERIFY, G_POSTPONED))
           + _dumps(RING[G_SUPERVISED]))
    # every tooltip field on each
    rows = [{**p, "s": p.get("s", ""), **({"d": p.get("d", "")} if detailed else {})} for p in points]
    return _dumps({"@@type": "ScatterplotLayer", "id": CASE_LAYER, "data": rows, "getPosition": "@@=p",
                   "getFillColor": fill, "getLineColor": rim, "stroked": True, "lineWidthUnits": "pixels",
                   "getLineWidth": 1.5, "radiusUnits": "pixels", "getRadius": 6, "pickable": True,
                   "autoHighlight": True, "highlightColor": [255, 255, 255, 120], **offset_props(origin)})


def ring_layer(p: list[int] | None, origin: tuple[float, float]) -> str:
    """The ring on the picked case (drawn over it, not pickable)."""
    return _dumps({"@@type": "ScatterplotLayer", "id": SELECTED_LAYER, "data": [{"p": p}] if p else [],
                   "getPosition": "@@=p", "pickable": False, "filled": False, "stroked": True,
                   "getLineColor": _RING, "lineWidthUnits": "pixels", "getLineWidth": 3, "radiusUnits": "pixels",
                   "getRadius": 13, **offset_props(origin)})


def base_layers(base: BaseMap, view: dict, outlines_url: str) -> str:
    """Outlines (by URL: the browser fetches the file once) and the area names, as layer JSON."""
    from wall.frame import OUTLINE_STYLE, _expr, _layer

    outlines = _layer("PolygonLayer", "outlines", outlines_url, getPolygon="@@=q", filled=False, stroked=True,
                      getLineColor=_expr("l", {k: c for k, (c, _) in OUTLINE_STYLE.items()}, [0, 0, 0, 0]),
                      getLineWidth=_expr("l", {k: w for k, (_, w) in OUTLINE_STYLE.items()}, 1),
                      lineWidthUnits="pixels", **offset_props(base.origin))
    return outlines + "," + _labels_layer(place_labels(base.labels, view["zoom"], 1.0), 1.0)


def dispatch_deck(base_json: str, view: dict, load_json: str, points: list[dict], picked: list[int] | None,
                  origin: tuple[float, float]) -> tuple[str, dict]:
    """The whole deck (compact JSON, user text inert) and its tooltip spec.

    ``base_json``: ``base_layers``; ``load_json``: ``load_layer`` or "" (every case drawn);
    ``points``: the pickable cases; ``picked``: the ring's position, if a case is picked.
    """
    detailed = not load_json  # every open case drawn: the wall's points, with description snippets
    layers = ",".join(x for x in (load_json, base_json, cases_layer(points, origin, detailed=detailed),
                                  ring_layer(picked, origin)) if x)
    spec = ('{"initialViewState":' + _dumps(view) + ',"layers":[' + layers + '],'
            '"mapStyle":"__MAP_STYLE__","views":[{"@@type":"MapView","controller":true}]}')
    tip = "<b>{t}</b><br/>{s}" + ("<br/><span style='color:#94a3b8'>{d}</span>" if detailed else "")
    return inert_spec(spec), {"html": tip, "style": TOOLTIP_STYLE}


def case_position(conn: Connection, case_id: int) -> tuple[float, float, str] | None:
    """Where case ``case_id`` lies (lon, lat) and its number, for the ring; None if it has no point."""
    row = conn.execute(text("SELECT ST_X(c.geom), ST_Y(c.geom), c.case_no FROM cases c "
                            f"WHERE c.id = :i AND {case_bound(conn, case_id)} AND c.geom IS NOT NULL"),
                       {"i": case_id}).first()
    return (row[0], row[1], row[2]) if row else None
