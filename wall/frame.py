"""The map wall (指挥大屏): KPI figures, open cases, grid load, outlines and the latest events.

Plain Python over PostGIS, no UI imports. What it returns is shaped for the wire, because the
whole deck travels as JSON on every full render (docs/measurements.md): only open cases are drawn one by
one, everything else is aggregated (KPI counts, open load per grid); positions are integer
offsets of 1e-5° (about 1 m); fields have one-letter names. The outlines (grid, community,
subdistrict, district) change only with the boundaries: they go to the browser once, as a
static file deck.gl fetches by URL (``write_outlines``), not with every render.

Overdue and at-risk are the lifecycle's definitions (dispatch/queries.py), used through
``_deadline_sql``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.partitions import live_months
from dispatch.calendar import TZ
from dispatch.queries import at_risk_sql, awaiting_location_sql, open_sql, overdue_sql
from i18n import action_label, name_in, status_label, t
from stats.indicators import indicators
from wall.inert import inert_spec
from wall.pick import CASE_ID_FIELD, CASE_LAYER

DIGITS = 5                      # about 1 m at 41°N
# Positions travel as integers in units of 1e-5° (about 1 m) east and north of an origin near the
# district's south-west corner: "[8047,8124]" instead of "[121.98047,41.18124]", a third fewer
# bytes. Layers get them back with deck.gl's LNGLAT_OFFSETS coordinates and a scaling modelMatrix.
UNIT = 10 ** -DIGITS
SIMPLIFY_DEG = 0.00002          # about 2 m: invisible on a wall, halves the vertices of outlines
SHADE_SIMPLIFY_DEG = 0.0002     # about 20 m for the translucent load shading (crisp outlines lie on top)
# Outline levels in the static outline file: grid, community, subdistrict, district.
OUTLINE_STYLE = {0: ([71, 85, 105, 120], 0.6), 1: ([100, 116, 139, 170], 1), 2: ([56, 189, 248, 210], 2.5),
                 3: ([125, 211, 252, 255], 4)}
OPEN_SQL = open_sql("c")
# Tooltips of open cases carry state, deadline, case number and a description snippet only while
# the points fit the payload budget; above this many they name the category (colour and rim show
# the time left and the state group, a click on the dispatch page shows the rest).
DETAIL_MAX_POINTS = 3000
SNIPPET_CHARS = 24
TICKER_ROWS = 12
FONT = '"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Zen Hei","Microsoft YaHei","PingFang SC",sans-serif'

# time-left classes, the colour of a point's fill
NO_DEADLINE, ON_TIME, AT_RISK, OVERDUE = 0, 1, 2, 3
# state groups, the colour of a point's ring: k = time class + 4 * group
G_NORMAL, G_VERIFY, G_POSTPONED, G_SUPERVISED = 0, 1, 2, 3
FILL = {NO_DEADLINE: [56, 189, 248], ON_TIME: [34, 197, 94], AT_RISK: [245, 158, 11], OVERDUE: [239, 68, 68]}
RING = {G_NORMAL: [2, 6, 23], G_VERIFY: [255, 255, 255], G_POSTPONED: [167, 139, 250], G_SUPERVISED: [250, 204, 21]}
LOAD_RAMP = [[30, 64, 175, 70], [8, 145, 178, 95], [202, 138, 4, 115], [234, 88, 12, 140], [220, 38, 38, 165]]


def _deadline_sql() -> dict[str, str]:
    """SQL over ``cases c`` at ``:now``: overdue, at risk, and when a case turns at risk.

    The definitions are the lifecycle's (dispatch/queries.py, the one place they live); the
    wall only adds ``risk_from`` (the stored ``warn_at``) to know when to recolour a point.
    """
    return {"overdue": overdue_sql("c", ":now"), "at_risk": at_risk_sql("c", ":now"), "risk_from": "c.warn_at"}


@dataclass(frozen=True)
class WallFilter:
    """What the wall shows: empty tuples mean everything. Hashable, so it can key a cache."""
    subdistricts: tuple[int, ...] = ()
    communities: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()

    def sql(self, *, with_status: bool = True) -> tuple[str, dict]:
        """A WHERE fragment over ``cases c`` and its parameters."""
        cols = [("c.subdistrict_id", "f_sd", self.subdistricts), ("c.community_id", "f_cm", self.communities),
                ("c.category_code", "f_cat", self.categories), ("c.level", "f_lvl", self.levels)]
        if with_status:
            cols.append(("c.status", "f_st", self.statuses))
        parts = [f"{col} = ANY(:{key})" for col, key, vals in cols if vals]
        return " AND ".join(parts) or "TRUE", {key: list(vals) for _, key, vals in cols if vals}

    def matches(self, row) -> bool:
        """Whether a case row (attributes ``subdistrict_id``, ``community_id``, ``category_code``,
        ``level``, ``status``) is inside this filter: ``sql()`` in Python (``wall.delta`` sorts the
        changes of every wall with it, so it must never let in a case ``sql()`` keeps out)."""
        return all(not vals or getattr(row, attr) in vals for attr, vals in (
            ("subdistrict_id", self.subdistricts), ("community_id", self.communities),
            ("category_code", self.categories), ("level", self.levels), ("status", self.statuses)))


def local_midnight(now: datetime) -> datetime:
    return now.astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)


# --- figures --------------------------------------------------------------------------------

def kpis(conn: Connection, f: WallFilter, now: datetime) -> dict[str, float | int | None]:
    """Reported, registered (立案), dispatched (派遣) and closed today; open, overdue and awaiting
    location (待定位: an address only, so not on the map) now; this month's closure and on-time rates.

    Registered and dispatched today count cases from the event log (a case resolved on the spot
    counts as registered, as in the indicators; a case dispatched twice today counts once). The
    counts follow every filter but the state filter (that one is for the map). The rates are
    the lifecycle's indicators (stats/indicators.py: postponed cases leave the denominator)
    for the selected areas, from the first of the month to now, over all categories and levels.
    """
    where, params = f.sql(with_status=False)
    today = local_midnight(now)
    # every case counted here is open, or was open at some moment today (reported, closed, with a
    # step today): only the months holding such cases are read (and planned; db.partitions)
    live = live_months(conn, since=today)
    row = conn.execute(text(f"""
        SELECT
          (SELECT count(*) FROM cases c WHERE c.reported_at >= :today AND c.reported_at < :tomorrow
            AND {where}) AS reported_today,
          (SELECT count(*) FROM cases c WHERE {OPEN_SQL} AND {live} AND {where}) AS open,
          (SELECT count(*) FROM cases c WHERE {_deadline_sql()["overdue"]} AND {live} AND {where}) AS overdue,
          (SELECT count(*) FROM cases c WHERE {awaiting_location_sql("c")} AND {live} AND {where}) AS awaiting_location,
          (SELECT count(*) FROM cases c WHERE c.closed_at >= :today AND {live} AND {where}) AS closed_today,
          (SELECT count(DISTINCT e.case_id) FROM case_event e JOIN cases c ON c.id = e.case_id
            WHERE e.at >= :today AND e.at < :tomorrow AND e.action IN ('register', 'self_handle') AND {live}
              AND {where}) AS registered_today,
          (SELECT count(DISTINCT e.case_id) FROM case_event e JOIN cases c ON c.id = e.case_id
            WHERE e.at >= :today AND e.at < :tomorrow AND e.action = 'dispatch' AND {live} AND {where}) AS dispatched_today
    """), {"now": now, "today": today, "tomorrow": today + timedelta(days=1), **params}).one()
    return {"reported_today": row.reported_today, "registered_today": row.registered_today,
            "dispatched_today": row.dispatched_today, "open": row.open, "overdue": row.overdue,
            "awaiting_location": row.awaiting_location,
            "closed_today": row.closed_today, **month_rates(conn, f, today)}


def month_rates(conn: Connection, f: WallFilter, today: datetime) -> dict[str, float | None]:
    """Closure and on-time closure rates of the selected areas this month (summed over areas)."""
    by, ids = ("community", set(f.communities)) if f.communities else ("subdistrict", set(f.subdistricts))
    # the rates need no open count: the month's days are read, not every day since the first
    rows = indicators(conn, start=today.replace(day=1), end=today + timedelta(days=1), by=by, total=not ids,
                      stocks=False)
    rows = [r for r in rows if r["id"] in ids] if ids else rows[-1:]
    due = sum(r["due"] for r in rows)
    return {"closure_rate": sum(r["closed_np"] for r in rows) / due if due else None,
            "on_time_rate": sum(r["closed_on_time"] for r in rows) / due if due else None}


def _hhmm(ts: datetime) -> str:
    return ts.astimezone(TZ).strftime("%m-%d %H:%M")


@dataclass(frozen=True)
class OpenCases:
    points: list[dict]           # {CASE_ID_FIELD: id, "p": [x, y] (UNIT offsets), "k": class + 4*group, "t", …}
    halos: list[list[int]]       # positions of overdue cases (drawn as red rings)
    load: dict[int, int]         # grid id -> open cases
    valid_until: datetime        # the next moment a case changes colour (or midnight)
    detailed: bool               # whether tooltips carry case numbers and descriptions


def open_cases(conn: Connection, f: WallFilter, now: datetime, lang: str,
               origin: tuple[float, float] = (0.0, 0.0)) -> OpenCases:
    """Every open case in the filter as a compact point, plus grid load and the next colour change.
    A case awaiting location (待定位) has no point: the KPI tile counts it instead.

    Positions are integer UNIT offsets from ``origin`` (the base map's). Tooltips name the
    category and the state; while the points fit DETAIL_MAX_POINTS they also carry the case
    number, the deadline and a description snippet.
    """
    where, params = f.sql()
    d = _deadline_sql()
    rows = conn.execute(text(f"""
      SELECT * FROM (
        SELECT c.id, round((ST_X(c.geom) - :ox) * {10 ** DIGITS})::int AS x,
               round((ST_Y(c.geom) - :oy) * {10 ** DIGITS})::int AS y,
               CASE WHEN c.due_at IS NULL THEN {NO_DEADLINE} WHEN {d['overdue']} THEN {OVERDUE}
                    WHEN {d['at_risk']} THEN {AT_RISK} ELSE {ON_TIME} END
               + 4 * CASE WHEN c.supervised THEN {G_SUPERVISED} WHEN c.status = 'awaiting_verification' THEN {G_VERIFY}
                          WHEN c.status = 'postponed' THEN {G_POSTPONED} ELSE {G_NORMAL} END AS k,
               cat.name AS cat, cat.name_en AS cat_en, c.outside_jurisdiction, c.grid_id,
               CASE WHEN c.due_at > :now THEN
                    CASE WHEN {d['risk_from']} > :now THEN {d['risk_from']} ELSE c.due_at END END AS next_at,
               c.case_no, c.status, c.due_at, left(c.description, {SNIPPET_CHARS + 1}) AS description
        FROM cases c LEFT JOIN case_category cat ON cat.code = c.category_code
        WHERE {OPEN_SQL} AND c.geom IS NOT NULL AND {live_months(conn)} AND {where}
      ) s ORDER BY k % 4, id  -- overdue last: drawn on top
    """), {"now": now, "ox": origin[0], "oy": origin[1], **params}).all()
    detailed = len(rows) <= DETAIL_MAX_POINTS
    points, halos, load = [], [], {}
    valid_until = local_midnight(now) + timedelta(days=1)
    no_category, outside, overdue, due_word = (t(k, lang) for k in ("wall.no_category", "wall.outside",
                                                                      "wall.overdue", "wall.due"))
    for i, x, y, k, cat, cat_en, out, grid, next_at, case_no, status, due_at, desc in rows:
        pos = [x, y]
        what = (name_in({"name": cat, "name_en": cat_en}, lang) or no_category) + (" " + outside if out else "")
        if k % 4 == OVERDUE:
            halos.append(pos)
        # Raw text: Streamlit's html tooltip escapes every interpolated value itself (1.67,
        # DeckGlJsonChart), so escaping here would show "&lt;" on the wall; tests prove it.
        p = {CASE_ID_FIELD: i, "p": pos, "k": k, "t": what}
        if detailed:
            state = [status_label(status, lang)] + ([overdue] if k % 4 == OVERDUE else [])
            if due_at is not None:
                state.append(f"{due_word} {_hhmm(due_at)}")
            desc = desc or ""
            p.update(t=f"{what} {case_no}", s=" · ".join(state),
                     d=desc[:SNIPPET_CHARS] + ("…" if len(desc) > SNIPPET_CHARS else ""))
        points.append(p)
        if grid is not None:
            load[grid] = load.get(grid, 0) + 1
        if next_at is not None and next_at < valid_until:
            valid_until = next_at
    return OpenCases(points, halos, load, valid_until, detailed)


@dataclass(frozen=True)
class TickerRow:
    """One line of the wall's ticker, in the wall's language."""
    at: str         # HH:MM today, else MM-DD HH:MM
    case_no: str
    area: str       # the subdistrict, or "outside the jurisdiction"
    category: str
    what: str       # the move, with the department it went to


def _ticker_rows(conn: Connection, f: WallFilter, limit: int, since: datetime | None, until: datetime | None) -> list:
    """The ticker's rows; with ``since``, of the steps and reports in [since, until) only (each
    bound a literal, so the planner prunes the other months of both tables)."""
    where, params = f.sql(with_status=False)
    if since is not None:
        live = live_months(conn, since=since)
        bound = f"e.at >= :since AND e.at < :until AND {live}"
        cases_bound = f"c.reported_at >= :since AND c.reported_at < :until AND {live}"
        report_bound = "e.at >= :since AND e.at < :until"  # the report step of a case reported then
    else:
        live = bound = cases_bound = report_bound = "TRUE"
    return conn.execute(text(f"""
        WITH recent AS MATERIALIZED (
            SELECT e.at, e.id AS seq, e.case_id, e.action, e.department_id
            FROM case_event e JOIN cases c ON c.id = e.case_id
            WHERE {where} AND {bound} ORDER BY e.at DESC, e.id DESC LIMIT :n),
        ev AS (
            SELECT * FROM recent
            UNION ALL
            -- only a case reported after the n-th newest event can still make the list: the
            -- bound keeps this to the newest cases (index on reported_at), not every case
            (SELECT c.reported_at, 0, c.id, 'report', NULL FROM cases c
             WHERE {where} AND {cases_bound} AND NOT EXISTS (SELECT 1 FROM case_event e
                                           WHERE e.case_id = c.id AND e.from_status IS NULL AND {report_bound})
               AND c.reported_at >= (SELECT CASE WHEN count(*) >= :n THEN min(at) END FROM recent)
             ORDER BY c.reported_at DESC LIMIT :n)
            UNION ALL
            (SELECT c.reported_at, 0, c.id, 'report', NULL FROM cases c
             WHERE {where} AND {cases_bound} AND NOT EXISTS (SELECT 1 FROM case_event e
                                           WHERE e.case_id = c.id AND e.from_status IS NULL AND {report_bound})
               AND (SELECT count(*) FROM recent) < :n
             ORDER BY c.reported_at DESC LIMIT :n))
        SELECT ev.at, ev.action, c.case_no, k.name AS cat, k.name_en AS cat_en,
               s.name AS area, s.name_en AS area_en, d.name AS dept, d.name_en AS dept_en,
               c.geom IS NULL AS unlocated
        FROM ev JOIN cases c ON c.id = ev.case_id AND {live}
        LEFT JOIN case_category k ON k.code = c.category_code
        LEFT JOIN subdistrict s ON s.id = c.subdistrict_id
        LEFT JOIN department d ON d.id = ev.department_id
        ORDER BY ev.at DESC, ev.seq DESC LIMIT :n
    """), {"n": limit, "since": since, "until": until, **params}).all()


def latest_events(conn: Connection, f: WallFilter, lang: str, now: datetime,
                  limit: int = TICKER_ROWS) -> list[TickerRow]:
    """The newest steps of cases in the filter, newest first, for the ticker.

    A case inserted by a writer that appends no event (plain SQL, an old import) still shows
    as reported, from its ``reported_at``. Read first from yesterday's midnight on, naming only
    the months of the cases with a step since then (db.partitions.live_months: the planner
    prunes the rest); from the whole log only when that finds fewer than ``limit``.
    """
    since = local_midnight(now) - timedelta(days=1)
    rows = _ticker_rows(conn, f, limit, since, since + timedelta(days=2))
    if len(rows) < limit:
        rows = _ticker_rows(conn, f, limit, None, None)
    out = []
    for r in rows:
        what = action_label(r.action, lang)
        if r.dept:
            what += " → " + name_in(r, lang, "dept")
        at = r.at.astimezone(TZ)
        out.append(TickerRow(
            at=at.strftime("%H:%M" if at.date() == now.astimezone(TZ).date() else "%m-%d %H:%M"),
            case_no=r.case_no,
            area=name_in(r, lang, "area") if r.area else t("wall.unlocated" if r.unlocated else "wall.outside", lang),
            category=name_in(r, lang, "cat") if r.cat else "",
            what=what))
    return out


# --- the base map ---------------------------------------------------------------------------

def boundary_stamp(conn: Connection) -> str:
    """Changes whenever a boundary or an area's name changes; keys the base-map cache.

    A published boundary change (planning.publish) adds versions and is stamped ``applied_at``;
    its ``NOTIFY case_changed 'boundary'`` wakes the live listener, so every wall re-reads this
    stamp and redraws its base layers without a restart."""
    return conn.execute(text("""
        SELECT concat_ws('/',
          (SELECT concat_ws(':', count(*), max(id), max(valid_from), max(valid_to)) FROM grid_version),
          (SELECT concat_ws(':', count(*), max(applied_at)) FROM boundary_change WHERE status = 'applied'),
          (SELECT md5(string_agg(concat_ws(':', id, name, name_en, md5(ST_AsEWKB(geom)::text)), ',' ORDER BY id))
             FROM subdistrict),
          (SELECT md5(string_agg(concat_ws(':', id, name, name_en, md5(ST_AsEWKB(geom)::text)), ',' ORDER BY id))
             FROM community),
          (SELECT md5(string_agg(concat_ws(':', id, name, name_en, md5(ST_AsEWKB(geom)::text)), ',' ORDER BY id))
             FROM district))
    """)).scalar_one()


@dataclass(frozen=True)
class BaseMap:
    outlines: str                          # serialised outline rows {"q": rings, "l": level}, for a file
    labels: tuple[dict, ...]               # area names: {"p", "n", "z": size in px, "b": bbox}, big areas first
    grids: tuple[tuple[int, str, str], ...]  # (grid id, flat outer ring JSON for shading, name and code)
    bbox: tuple[float, float, float, float] | None
    origin: tuple[float, float] = (0.0, 0.0)   # of the integer offsets (UNIT)
    area_bbox: dict[tuple[str, int], tuple[float, float, float, float]] = field(default_factory=dict)

    @property
    def outlines_name(self) -> str:
        """A file name that changes with the content, so browsers may cache the file for good."""
        return f"outlines-{hashlib.sha1(self.outlines.encode()).hexdigest()[:16]}.json"


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def offset_props(origin: tuple[float, float]) -> dict:
    """Layer props that place integer 1e-5° offsets from ``origin`` (see UNIT)."""
    return {"coordinateSystem": "lnglat-offsets", "coordinateOrigin": [origin[0], origin[1], 0],
            "modelMatrix": [UNIT, 0, 0, 0, 0, UNIT, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]}


def _int_rings(geom_sql: str) -> str:
    """SQL: the polygon ``geom_sql`` simplified by :tol, as integer offset rings (json)."""
    return (f"(ST_AsGeoJSON(ST_Scale(ST_Translate(ST_SimplifyPreserveTopology({geom_sql}, :tol), -:ox, -:oy), "
            f"{10 ** DIGITS}, {10 ** DIGITS}), 0)::json -> 'coordinates')")


def _outlines(conn: Connection, origin: tuple[float, float]) -> list[dict]:
    """Every current grid, community, subdistrict and district polygon as rings, finest first."""
    rows = conn.execute(text(f"""
        SELECT l, {_int_rings("geom")} AS rings
        FROM (SELECT 0 AS l, gv.geom, g.code AS o FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
              WHERE gv.valid_to IS NULL
              UNION ALL SELECT 1, (ST_Dump(geom)).geom, code FROM community WHERE geom IS NOT NULL
              UNION ALL SELECT 2, (ST_Dump(geom)).geom, code FROM subdistrict WHERE geom IS NOT NULL
              UNION ALL SELECT 3, (ST_Dump(geom)).geom, code FROM district) s
        ORDER BY l, o
    """), {"tol": SIMPLIFY_DEG, "ox": origin[0], "oy": origin[1]}).all()
    return [{"q": r.rings, "l": r.l} for r in rows]


def write_outlines(base: BaseMap, directory) -> str:
    """Write the outline file into ``directory`` (served as static files) once; its file name.

    The outlines change only with the boundaries, so the browser fetches them once (by URL,
    deck.gl loads layer data itself) instead of receiving them with every render.
    """
    from pathlib import Path

    path = Path(directory) / base.outlines_name
    if not path.exists():
        write_atomic(path, base.outlines)
    return path.name


def write_atomic(path, body: str) -> None:
    """Write ``body`` to ``path`` (its folder made if missing) so that a browser fetching it as a
    static file never reads half of it: a temporary file of this process and thread, renamed."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(path)


def base_map(conn: Connection, lang: str) -> BaseMap:
    """Outlines (grid, community, subdistrict, district), area labels and the grids' shading shapes."""
    ext = conn.execute(text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(geom)::geometry AS e FROM grid_version WHERE valid_to IS NULL) s""")).one()
    bbox = tuple(ext) if ext[0] is not None else None
    origin = (math.floor(bbox[0] * 100) / 100, math.floor(bbox[1] * 100) / 100) if bbox else (0.0, 0.0)
    # Shading needs only the outer ring, flat ([x0, y0, x1, y1, …], deck.gl's positionFormat XY).
    grids = conn.execute(text(f"""
        SELECT g.id, g.name, g.code, {_int_rings("ST_MakePolygon(ST_ExteriorRing(gv.geom))")} -> 0 AS ring
        FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
        WHERE gv.valid_to IS NULL ORDER BY g.code
    """), {"tol": SHADE_SIMPLIFY_DEG, "ox": origin[0], "oy": origin[1]}).all()
    labels = []
    area_bbox = {}
    for kind, table in (("sd", "subdistrict"), ("cm", "community")):
        for r in conn.execute(text(f"""
            SELECT id, name, name_en, round(ST_X(ST_PointOnSurface(geom))::numeric, {DIGITS})::float8 AS x,
                   round(ST_Y(ST_PointOnSurface(geom))::numeric, {DIGITS})::float8 AS y,
                   ST_XMin(geom) AS x0, ST_YMin(geom) AS y0, ST_XMax(geom) AS x1, ST_YMax(geom) AS y1
            FROM {table} WHERE geom IS NOT NULL ORDER BY ST_Area(geom) DESC, id""")):
            labels.append({"p": [r.x, r.y], "n": name_in(r, lang), "z": 20 if kind == "sd" else 14,
                           "b": (r.x0, r.y0, r.x1, r.y1)})
            area_bbox[(kind, r.id)] = (r.x0, r.y0, r.x1, r.y1)
    return BaseMap(_dumps(_outlines(conn, origin)), tuple(labels),
                   tuple((r.id, _dumps([v for xy in r.ring for v in xy]), f"{r.name} {r.code}") for r in grids),
                   bbox, origin, area_bbox)


def _px(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """Web-Mercator world pixels at ``zoom`` (deck.gl's world is 512 · 2^zoom pixels wide)."""
    scale = 512 * 2 ** zoom
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return scale * (lon + 180) / 360, scale * (1 - y / math.pi) / 2


def place_labels(labels, zoom: float, scale: float) -> list[dict]:
    """The area names that fit at ``zoom`` without overlapping, subdistricts first.

    deck.gl's CollisionFilterExtension did not hide overlapping names reliably here (they were
    dimmed, not dropped), so the wall declutters itself: a community name is drawn when it fits
    inside its community and clears every name already placed. A filtered (zoomed-in) view
    therefore shows more names.
    """
    placed, boxes = [], []
    for lab in labels:
        x, y = _px(*lab["p"], zoom)
        size = lab["z"] * scale
        w, h = len(lab["n"]) * size + 8, size + 4
        x0, y1 = _px(lab["b"][0], lab["b"][1], zoom)
        x1, y0 = _px(lab["b"][2], lab["b"][3], zoom)
        small = lab["z"] < 20
        if small and (w > (x1 - x0) * 1.15 or h > (y1 - y0)):
            continue
        box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            continue
        boxes.append(box)
        placed.append({"p": lab["p"], "n": lab["n"], "z": lab["z"]})
    return placed


def _labels_layer(labels: list[dict], scale: float) -> str:
    return _dumps({"@@type": "TextLayer", "id": "area-labels", "pickable": False, "data": labels,
                   "getPosition": "@@=p", "getText": "@@=n", "getSize": "@@=z", "sizeScale": scale,
                   "sizeUnits": "pixels", "characterSet": "auto", "fontFamily": FONT, "fontWeight": 600,
                   "getColor": [226, 232, 240, 245], "fontSettings": {"sdf": True, "buffer": 6},
                   "outlineWidth": 5, "outlineColor": [4, 10, 23, 235],
                   "getTextAnchor": "middle", "getAlignmentBaseline": "center"})


def _layer(kind: str, layer_id: str, data, **props) -> str:
    return _dumps({"@@type": kind, "id": layer_id, "data": data, "pickable": False, **props})


# --- the deck ---------------------------------------------------------------------------------

def load_colours(load: dict[int, int]) -> tuple[list[int], dict[int, list[int]]]:
    """Five equal-count classes of the non-zero grid loads: (upper bounds, grid id -> RGBA)."""
    values = sorted(v for v in load.values() if v > 0)
    if not values:
        return [], {}
    bounds = sorted({values[min(len(values) - 1, math.ceil(len(values) * q / 5) - 1)] for q in range(1, 6)})
    colours = {}
    for gid, n in load.items():
        if n <= 0:
            continue
        cls = next(i for i, b in enumerate(bounds) if n <= b)
        colours[gid] = LOAD_RAMP[cls]  # few distinct loads: the calm end of the ramp
    return bounds, colours


def view_for(bbox, width: int = 900, height: int = 620) -> dict:
    """A map view that fits ``bbox`` (lon/lat) into a viewport of about width × height pixels."""
    if bbox is None:
        return {"longitude": 122.07, "latitude": 41.12, "zoom": 11, "pitch": 0, "bearing": 0}
    x0, y0, x1, y1 = bbox
    lat = (y0 + y1) / 2
    span_x = max(x1 - x0, 1e-4)
    span_y = max((y1 - y0) / max(math.cos(math.radians(lat)), 0.1), 1e-4)
    # deck.gl's world is 512 · 2^zoom pixels wide
    zoom = min(math.log2(360 * width / 512 / span_x), math.log2(360 * height / 512 / span_y)) - 0.15
    return {"longitude": round((x0 + x1) / 2, DIGITS), "latitude": round(lat, DIGITS),
            "zoom": round(max(1.0, min(zoom, 18.0)), 2), "pitch": 0, "bearing": 0}


def filter_bbox(base: BaseMap, f: WallFilter):
    """The bounding box of the filtered areas (communities win over subdistricts), else the district."""
    keys = [("cm", i) for i in f.communities] or [("sd", i) for i in f.subdistricts]
    boxes = [base.area_bbox[k] for k in keys if k in base.area_bbox]
    if not boxes:
        return base.bbox
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


TOOLTIP_STYLE = {"backgroundColor": "rgba(15,23,42,0.95)", "color": "#e2e8f0", "fontSize": "13px",
                 "border": "1px solid #334155", "borderRadius": "4px", "padding": "6px 8px", "maxWidth": "320px"}


def _expr(field: str, table: dict, default) -> str:
    """A deck.gl JSON accessor choosing a constant by a small integer field: '@@=l==0?…:…'."""
    return "@@=" + "".join(f"{field}=={k}?{_dumps(v)}:" for k, v in table.items()) + _dumps(default)


def deck_json(base: BaseMap, cases: OpenCases, view: dict, lang: str, *, outlines_url: str,
              large: bool = False) -> tuple[str, dict]:
    """The deck.gl JSON of the wall (compact) and its tooltip spec.

    ``outlines_url`` is where the browser fetches the outline file (``write_outlines``).
    """
    _, colours = load_colours(cases.load)
    open_word = t("wall.open_cases", lang)
    more = ',"s":"","d":""' if cases.detailed else ""  # every pickable object has every tooltip field
    grid_rows = ",".join(
        f'{{"g":{ring},"c":{_dumps(colours[gid])},"t":{_dumps(f"{name} {open_word} {cases.load[gid]}")}{more}}}'
        for gid, ring, name in base.grids if gid in colours)
    offsets = offset_props(base.origin)
    shading = ('{"@@type":"SolidPolygonLayer","id":"grids","data":[' + grid_rows + '],"getPolygon":"@@=g",'
               '"positionFormat":"XY","getFillColor":"@@=c","pickable":true,"autoHighlight":true,'
               '"highlightColor":[255,255,255,45],' + _dumps(offsets)[1:])
    outlines = _layer("PolygonLayer", "outlines", outlines_url, getPolygon="@@=q", filled=False, stroked=True,
                      getLineColor=_expr("l", {k: c for k, (c, _) in OUTLINE_STYLE.items()}, [0, 0, 0, 0]),
                      getLineWidth=_expr("l", {k: w for k, (_, w) in OUTLINE_STYLE.items()}, 1),
                      lineWidthUnits="pixels", **offsets)
    radius = 7 if large else 5
    fill = _expr("k%4", {c: FILL[c] for c in (OVERDUE, AT_RISK, ON_TIME)}, FILL[NO_DEADLINE])
    ring = ("@@=" + "".join(f"k<{4 * (g + 1)}?{_dumps(RING[g])}:" for g in (G_NORMAL, G_VERIFY, G_POSTPONED))
            + _dumps(RING[G_SUPERVISED]))
    halos = _layer("ScatterplotLayer", "overdue-rings", [{"p": p} for p in cases.halos], getPosition="@@=p",
                   filled=False, stroked=True, getLineColor=[248, 113, 113, 230], lineWidthUnits="pixels",
                   getLineWidth=2, radiusUnits="pixels", getRadius=radius * 2.1, **offsets)
    points = _dumps({"@@type": "ScatterplotLayer", "id": CASE_LAYER, "data": cases.points, "getPosition": "@@=p",
                     "getFillColor": fill, "getLineColor": ring, "stroked": True, "lineWidthUnits": "pixels",
                     "getLineWidth": 1.5, "radiusUnits": "pixels", "getRadius": radius, "pickable": True,
                     "autoHighlight": True, "highlightColor": [255, 255, 255, 120], **offsets})
    scale = 1.4 if large else 1.0
    labels = _labels_layer(place_labels(base.labels, view["zoom"], scale), scale)
    layers = ",".join((shading, outlines, labels, halos, points))
    spec = ('{"initialViewState":' + _dumps(view) + ',"layers":[' + layers + '],'
            '"mapStyle":"__MAP_STYLE__","views":[{"@@type":"MapView","controller":true}]}')
    spec = inert_spec(spec)  # user text (descriptions, names) must not read as deck.gl code
    tip = "<b>{t}</b>" + ("<br/>{s}<br/><span style='color:#94a3b8'>{d}</span>" if cases.detailed else "")
    return spec, {"html": tip, "style": TOOLTIP_STYLE}


@dataclass(frozen=True)
class WallFrame:
    """One map render: what the wall pages and the dispatch map draw."""
    spec: str                       # the deck.gl JSON (compact, see ``deck_json``)
    tooltip: dict                   # its tooltip spec
    ticker: tuple[TickerRow, ...]   # the latest steps, newest first
    open_drawn: int                 # open cases drawn as points
    computed_at: float              # epoch seconds
    valid_until: float              # epoch seconds: when a drawn case next changes colour
    at: str                         # computed_at as HH:MM:SS wall time, for the "updated at" caption


def wall_frame(conn: Connection, f: WallFilter, lang: str, now: datetime, *, base: BaseMap, outlines_url: str,
               size: tuple[int, int], large: bool = False) -> WallFrame:
    """Everything one map render needs: the deck JSON and tooltip and the ticker (KPI figures are
    refreshed on their own, see ``kpis``).

    ``base`` is the base map for the current boundaries (callers cache it on
    ``boundary_stamp``); ``size`` is the map's usual size in pixels, to fit the initial view.
    """
    cases = open_cases(conn, f, now, lang, base.origin)
    ticker = latest_events(conn, f, lang, now)
    spec, tooltip = deck_json(base, cases, view_for(filter_bbox(base, f), *size), lang,
                              outlines_url=outlines_url, large=large)
    return WallFrame(spec=spec, tooltip=tooltip, ticker=tuple(ticker), open_drawn=len(cases.points),
                     computed_at=now.timestamp(), valid_until=cases.valid_until.timestamp(),
                     at=now.astimezone(TZ).strftime("%H:%M:%S"))
