"""The wall's map for the browser (``ui/wall_map``): the open cases with their deadlines, so the
browser colours them from its own clock.

Plain Python over PostGIS, no UI imports. ``wall/frame.py`` colours each point on the server,
which makes every colour change (green → amber → red, the overdue ring) a full render; here each
open case travels once with its due and warn times (seconds from ``t0``), its position, state
group and category, and the component (ui/wall_map/frontend/wall.js) works out the time class
from the clock at least once a minute — and exactly when the next case crosses a line. The
server sends a new map only when cases change (the live listener's version), never because
time passes.

The classes are the lifecycle's (dispatch/queries.py): overdue when ``due_at < now``; at risk
when ``due_at >= now`` and ``warn_at <= now``; on time otherwise; no deadline when ``due_at``
is null. ``time_class`` is the same rule in Python (the browser's is tested against it).

Wire format (``pack``): compact JSON, gzip-compressed, passed to the component as bytes (the
browser inflates it with ``DecompressionStream``). Cases are columns (``cases.i``, ``.x``, …),
not objects: a fifth of the bytes, and the browser turns them straight into typed arrays
(no per-object work), which keeps a 45,000-point wall responsive. Positions are the
integer 1e-5° offsets of ``wall.frame`` (``UNIT``); no-deadline cases first, then by due time,
latest first, so the most urgent points are drawn on top whatever the hour.

No string in the payload is ever read as code: the component draws it by hand on 2D canvases (no
JSON converter, so ``@@=…`` is just text) and its tooltips set text, never HTML.
"""
from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.partitions import live_months
from dispatch.calendar import TZ
from i18n import name_in, status_label, t
from wall.frame import (AT_RISK, DETAIL_MAX_POINTS, DIGITS, FILL, FONT, G_NORMAL, G_POSTPONED, G_SUPERVISED,
                        G_VERIFY, NO_DEADLINE, ON_TIME, OPEN_SQL, OUTLINE_STYLE, OVERDUE, RING, SNIPPET_CHARS,
                        UNIT, BaseMap, TickerRow, WallFilter, _hhmm, filter_bbox, latest_events, load_colours,
                        place_labels, view_for)
from wall.pick import CASE_LAYER

HALO = [248, 113, 113, 230]     # the overdue ring
PICK_RING = [56, 189, 248, 255]  # the ring round the dispatch map's picked case
TOOLTIP_STYLE = {"backgroundColor": "rgba(15,23,42,0.95)", "color": "#e2e8f0", "fontSize": "13px",
                 "border": "1px solid #334155", "borderRadius": "4px", "padding": "6px 8px", "maxWidth": "320px",
                 "whiteSpace": "pre-line"}


def time_class(now_s: float, due_s: float | None, warn_s: float | None) -> int:
    """The time class at ``now_s`` of a case due at ``due_s`` and warned at ``warn_s`` (any common origin).

    >>> [time_class(t, 10, 8) for t in (0, 8, 10, 10.5)], time_class(5, None, None)
    ([1, 2, 2, 3], 0)
    """
    if due_s is None:
        return NO_DEADLINE
    if due_s < now_s:
        return OVERDUE
    if warn_s is not None and warn_s <= now_s:
        return AT_RISK
    return ON_TIME


@dataclass(frozen=True)
class LiveMap:
    """One map for the component: the packed payload and what the page shows beside it."""
    payload: bytes                  # ``pack``ed dict (see the module's docstring)
    ticker: tuple[TickerRow, ...]   # the latest steps, newest first
    open_drawn: int                 # open cases sent
    computed_at: float              # epoch seconds (the payload's own clock is ``now``, sent separately)
    at: str                         # computed_at as HH:MM:SS wall time
    seq: int = 0                    # the ``wall.delta.DeltaFeed`` reading its cases come from (0: none)
    delta: str | None = None        # the file of this wall's deltas after ``seq`` (``wall.delta``), if any


def pack(data: dict) -> bytes:
    """Compact JSON (UTF-8, no spaces), gzip-compressed: what the component receives."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=1, mtime=0)  # level 6: 3.5× the time for 11 % fewer bytes (10,000 cases)


def unpack(payload: bytes) -> dict:
    return json.loads(gzip.decompress(payload))


# Every column the map, its filters and its deltas need: the open cases with a point (待定位, no
# point, is counted in its tile, not drawn). ``wall.delta`` keeps these rows for all walls at once.
OPEN_ROWS_SQL = f"""
    SELECT c.id, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
           extract(epoch FROM c.due_at)::float8 AS due, extract(epoch FROM c.warn_at)::float8 AS warn,
           CASE WHEN c.supervised THEN {G_SUPERVISED} WHEN c.status = 'awaiting_verification' THEN {G_VERIFY}
                WHEN c.status = 'postponed' THEN {G_POSTPONED} ELSE {G_NORMAL} END AS g,
           cat.name AS cat, cat.name_en AS cat_en, c.outside_jurisdiction, c.grid_id,
           c.case_no, c.status, c.due_at, left(c.description, {SNIPPET_CHARS + 1}) AS description,
           c.subdistrict_id, c.community_id, c.category_code, c.level
    FROM cases c LEFT JOIN case_category cat ON cat.code = c.category_code
    WHERE {OPEN_SQL} AND c.geom IS NOT NULL AND {{where}}
"""


def open_rows(conn: Connection, f: WallFilter) -> list:
    """The open cases in ``f`` with a point, as ``OPEN_ROWS_SQL`` rows (in no particular order)."""
    where, params = f.sql()
    # the months holding an open case only (db.partitions.live_months: the planner prunes the rest)
    return conn.execute(text(OPEN_ROWS_SQL.format(where=f"{live_months(conn)} AND {where}")), params).all()


def drawing_order(rows) -> list:
    """No-deadline cases first, then by due time, latest first (ties by id): the most urgent drawn
    last, on top (the browser keeps the same order when a delta adds a case)."""
    return sorted(rows, key=lambda r: (r.due is not None, -(r.due or 0.0), r.id))


def category_text(cat: str | None, cat_en: str | None, outside: bool, lang: str) -> str:
    what = name_in({"name": cat, "name_en": cat_en}, lang) or t("wall.no_category", lang)
    return what + (" " + t("wall.outside", lang) if outside else "")


def detail_columns(rows, lang: str) -> dict:
    """The tooltip's case number, state, deadline and snippet, as columns."""
    due_word = t("wall.due", lang)
    return {"n": [r.case_no for r in rows], "s": [status_label(r.status, lang) for r in rows],
            "e": [f"{due_word} {_hhmm(r.due_at)}" if r.due_at is not None else "" for r in rows],
            "x": [(r.description or "")[:SNIPPET_CHARS] + ("…" if len(r.description or "") > SNIPPET_CHARS else "")
                  for r in rows]}


def offset(v: float | None, origin: float, scale: int = 10 ** DIGITS) -> int | None:
    """``v`` as an integer offset from ``origin`` (``scale`` units per unit; None stays None)."""
    return None if v is None else int(round((v - origin) * scale))


def columns(rows, lang: str, t0: int, origin: tuple[float, float], *, detailed: bool,
            cats: dict[str, int] | None = None) -> dict:
    """``rows`` (``OPEN_ROWS_SQL``, in drawing order) as the payload's columns: id, x, y (integer
    1e-5° offsets from ``origin``), d, w (seconds from ``t0``), state group, category index into
    ``cats`` (filled as met); ``detail`` when ``detailed``."""
    cats = {} if cats is None else cats
    index: dict[tuple, int] = {}
    cs = []
    for r in rows:
        key = (r.cat, r.cat_en, r.outside_jurisdiction)
        k = index.get(key)
        if k is None:
            k = index[key] = cats.setdefault(category_text(*key, lang), len(cats))
        cs.append(k)
    cols = {"i": [r.id for r in rows], "x": [offset(r.lon, origin[0]) for r in rows],
            "y": [offset(r.lat, origin[1]) for r in rows], "d": [offset(r.due, t0, 1) for r in rows],
            "w": [offset(r.warn, t0, 1) for r in rows], "g": [r.g for r in rows], "c": cs}
    return {"cases": cols, "cats": list(cats), "detail": detail_columns(rows, lang) if detailed else None}


def open_columns(conn: Connection, f: WallFilter, lang: str, t0: int, origin: tuple[float, float],
                 rows: list | None = None) -> dict:
    """The open cases in ``f`` as columns; ``detail`` (case number, state, deadline, snippet) while
    they fit DETAIL_MAX_POINTS, as in ``wall.frame.open_cases``; ``load``: grid id → open cases.

    ``rows``: every open case (``wall.delta.DeltaFeed``'s snapshot) to filter here instead of asking
    the database, so a wall's payload and the deltas that follow it come from the same reading."""
    rows = open_rows(conn, f) if rows is None else [r for r in rows if f.matches(r)]
    rows = drawing_order(rows)
    out = columns(rows, lang, t0, origin, detailed=len(rows) <= DETAIL_MAX_POINTS)
    out["load"] = dict(Counter(r.grid_id for r in rows if r.grid_id is not None))
    return out


def live_map(conn: Connection, f: WallFilter, lang: str, now: datetime, *, base: BaseMap, outlines_url: str,
             size: tuple[int, int], large: bool = False, rows: list | None = None, seq: int = 0) -> LiveMap:
    """Everything the component needs for one map, and the ticker beside it.

    Nothing in it depends on the clock except ``t0`` (the origin of the deadline seconds); the
    browser is told the server's time separately, on every render, so a wall PC whose clock is
    off still colours by the server's.
    """
    t0 = math.floor(now.timestamp())
    open_ = open_columns(conn, f, lang, t0, base.origin, rows)
    view = view_for(filter_bbox(base, f), *size)
    data = map_data(base, view, outlines_url, open_, open_["load"], lang, t0, large=large)
    return LiveMap(payload=pack(data), ticker=tuple(latest_events(conn, f, lang, now)),
                   open_drawn=len(open_["cases"]["i"]), computed_at=now.timestamp(),
                   at=now.astimezone(TZ).strftime("%H:%M:%S"), seq=seq)


def map_data(base: BaseMap, view: dict, outlines_url: str, open_: dict, load: dict[int, int], lang: str, t0: int,
             *, large: bool = False, radius: int | None = None, pick: list[int] | None = None) -> dict:
    """The component's payload (before ``pack``): the district (grids shaded by ``load``, grid id → open
    cases, the outline file's address, the names placed for ``view``), the cases' columns ``open_``
    (``columns``), colours and texts; ``pick``: a ring drawn round that point (the dispatch map's
    picked case), in the base map's integer offsets."""
    _, colours = load_colours(load)
    open_word = t("wall.open_cases", lang)
    shading = [(r, colours[gid], f"{name} {open_word} {load[gid]}") for gid, r, name in base.grids if gid in colours]
    scale = 1.4 if large else 1.0
    return {
        "t0": t0, "view": view, "origin": list(base.origin), "unit": UNIT, "outlines": outlines_url,
        "outlineStyle": {str(k): v for k, v in OUTLINE_STYLE.items()},
        "labels": place_labels(base.labels, view["zoom"], scale), "labelScale": scale, "font": FONT,
        "grids": {"g": [json.loads(r) for r, _, _ in shading], "c": [c for _, c, _ in shading], "t": [s for _, _, s in shading]},
        "cases": open_["cases"], "cats": open_["cats"], "detail": open_["detail"],
        "fill": {str(k): v for k, v in FILL.items()}, "ring": {str(k): v for k, v in RING.items()},
        "halo": HALO, "radius": radius or (7 if large else 5), "caseLayer": CASE_LAYER,
        "pick": pick, "pickColor": PICK_RING,
        "texts": {"overdue": t("wall.overdue", lang)}, "tooltipStyle": TOOLTIP_STYLE,
    }
