"""The dispatch page's map (派单): small enough to redraw on every pick, whatever the history.

Plain Python. It is drawn by the wall's own component (``ui/wall_map``: its own view, the
district on a 2D canvas, the points on another, no WebGL), from a payload in the wall's wire
format (``wall.live_map``), so the map costs a machine without a GPU no software-WebGL frames
(issue 8) and user text is never read as code (the component builds its drawing by hand).
The wall draws every open case; at a million cases that is 45,000 points. The dispatcher needs
less: the cases they can pick now and where the load is. So this map holds

- the outlines (the wall's static file, fetched once by the browser) and the area names;
- the grids of the dispatcher's area shaded by their open cases (the wall's five load classes),
  their counts in the grid's tooltip — the load of *all* open cases in scope;
- the pickable cases: those of the queue being shown (a few hundred at most), plus the picked
  case; while the area has at most ``POINTS_MAX`` open cases (a small district, a community)
  every open case instead. Each with its due and warn times: the browser colours them from its
  clock, as on the wall;
- ``pick``: a ring round the picked case (drawn over it; a click lands on the case underneath).

So its size follows the queue and the grid count, not the number of cases: tens of kilobytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.partitions import case_bound, live_months
from wall.frame import DIGITS, OPEN_SQL, BaseMap, WallFilter, filter_bbox, view_for
from wall.live_map import OPEN_ROWS_SQL, columns, drawing_order, map_data, open_rows, pack

# The map's usual size on the dispatch page (its left column on a 1600-pixel-wide screen); the
# view is fitted as for the wall's desk map and zoomed out to this size (``dispatch_view``).
DISPATCH_MAP = (760, 520)
FITTED_FOR = (900, 620)
# Up to this many open cases in the area, every one is drawn (as on the wall); above, the queue's.
POINTS_MAX = 2000
RADIUS = 6   # the points' radius in pixels (the wall's desk map: 5)


def dispatch_view(base: BaseMap, f: WallFilter) -> dict:
    """The initial view: the dispatcher's area fitted as on the wall's desk map, zoomed out so
    it fits the dispatch map. Depends on the area only: picking a case never moves the map."""
    view = view_for(filter_bbox(base, f), *FITTED_FOR)
    scale = min(DISPATCH_MAP[0] / FITTED_FOR[0], DISPATCH_MAP[1] / FITTED_FOR[1])
    view["zoom"] = round(view["zoom"] + math.log2(scale), 2)
    return view


@dataclass(frozen=True)
class OpenArea:
    """The open cases of an area, as the dispatch map draws them."""
    total: int                    # open cases in the area (inside a grid or not)
    grids: dict[int, int]         # grid id -> open cases
    rows: list | None             # every open case with a point (``wall.live_map.OPEN_ROWS_SQL``) while total <= POINTS_MAX


def open_area(conn: Connection, f: WallFilter) -> OpenArea:
    """Open cases per grid in the area; every case too while there are few."""
    where, params = f.sql()
    counts = conn.execute(text(f"SELECT c.grid_id, count(*) FROM cases c WHERE {OPEN_SQL} AND {where} GROUP BY 1"),
                          params).all()
    total = sum(n for _, n in counts)
    rows = open_rows(conn, f) if total <= POINTS_MAX else None
    return OpenArea(total, {g: n for g, n in counts if g is not None}, rows)


def case_rows(conn: Connection, ids: list[int]) -> list:
    """The open cases ``ids`` with a point, as ``OPEN_ROWS_SQL`` rows (a queue's, the picked case)."""
    if not ids:
        return []
    return conn.execute(text(OPEN_ROWS_SQL.format(where=f"{live_months(conn)} AND c.id = ANY(:ids)")),
                        {"ids": list(ids)}).all()


def offset(lon: float, lat: float, origin: tuple[float, float]) -> list[int]:
    """(lon, lat) as the base map's integer offsets (units of 1e-5°)."""
    return [round((lon - origin[0]) * 10 ** DIGITS), round((lat - origin[1]) * 10 ** DIGITS)]


def payload(base: BaseMap, view: dict, outlines_url: str, area: OpenArea, rows: list, pick: list[int] | None,
            lang: str, t0: int) -> bytes:
    """The map for the component (``wall.live_map.pack``ed): ``area``'s grids shaded by their open
    cases, ``rows`` (``OPEN_ROWS_SQL``) as the pickable points with their tooltips, a ring at
    ``pick`` (integer offsets) if a case is picked; deadlines in seconds from ``t0``."""
    cols = columns(drawing_order(rows), lang, t0, base.origin, detailed=True)
    return pack(map_data(base, view, outlines_url, cols, area.grids, lang, t0, radius=RADIUS, pick=pick))


def case_position(conn: Connection, case_id: int) -> tuple[float, float, str] | None:
    """Where case ``case_id`` lies (lon, lat) and its number, for the ring; None if it has no point."""
    row = conn.execute(text("SELECT ST_X(c.geom), ST_Y(c.geom), c.case_no FROM cases c "
                            f"WHERE c.id = :i AND {case_bound(conn, case_id)} AND c.geom IS NOT NULL"),
                       {"i": case_id}).first()
    return (row[0], row[1], row[2]) if row else None
