"""Indicators (考核) for any period and area, department or person, computed from the event log.

``indicators(conn, *, start, end, by='subdistrict', ...)`` → one row (dict) per subdistrict /
community / grid / department / person, plus a total row if asked. Periods are whole local days
(Asia/Shanghai), ``start`` inclusive, ``end`` exclusive; ``end`` after today means "as of now".

Formulas (terms in docs/domain.md; "postponed" = a postponement was approved before the
instant in question):

- registered (立案数): cases registered in the period (a case resolved on the spot counts as
  registered when it is resolved).
- closed (结案数): cases closed in the period (verified by the owning unit, closed by it directly,
  or resolved on the spot).
- due (应结案数) = closed in the period and never postponed + open at the end of the period,
  past their deadline and never postponed. Postponed cases leave the denominator.
- closure rate (结案率) = closed-and-never-postponed / due.
- on-time closure rate (按期结案率) = closed-and-never-postponed by their deadline (no deadline
  counts as on time) / due.
- rework rate (返工率) = failed verifications / verifications, in the period.
- average disposal time (平均处置时长) = mean working hours from the (last) dispatch to closure,
  or from the report for cases closed without dispatch, over cases closed in the period.
- self-handled share (自行处置率) = cases closed at grid, community or subdistrict level / closed
  (the rest were reported up to the district); ``on_spot`` counts grid workers' on-the-spot
  resolutions among them.
- open (在办) and overdue (超期) as they stood at the end of the period (now, for a period not
  yet over). Overdue has one definition: open and past the deadline in force (dispatch/queries.py).

Groups and filters: areas by the grid a case was in when each event happened (a boundary change
moves a case's later events, not its past); two rows of a whole-district area table are no area:
辖区外 (events of cases outside every grid, key 0) and 待定位 (events of a report with an address
only before a dispatcher located it, ``AWAITING_KEY``: its report stays there, its open state
moves to its grid when it is located, as on a change of grid); department = the lead department after the event
(none: not yet dispatched); person = the handler (the department staff who accepted the case,
the grid worker who resolved it, the dispatcher who closed it) or, for flows before anyone
handles the case, the actor (the reporter for reports, the dispatcher for registrations).
Category, level and channel filters follow the same rule: the case's category and level as they
stood at each event (a case re-classified at registration counts its report under its first
category; an escalated case is open at its new level from the escalation on), its channel.

How: every event contributes deltas defined once in SQL (``case_event_deltas``, migration
0002). A trigger on ``case_event`` sums them per day into ``case_stat_day`` by grid, department
and person, so any past period is the sum of its days (fast: the table is small) and is
recomputed exactly as it stood, since the log is append-only. Filtered tables read two roll-ups
of the same deltas (``case_event_cut_deltas``, migration 0010, which also counts a change of
level or category as a change of state), per day and per month, with every filter of the charts
page (community, department, category, level, channel of each delta) as columns:
``case_stat_cut`` (0010) keyed by those alone answers tables by subdistrict, community or
department and the trends; ``case_stat_group`` (0021) adds the grid or the person, for tables by
grid or person; ``case_stat_one`` (0025) keys them by grid, person or department and *one* filter,
for every table and trend under one filter beside the area, for the days before its mark W
(folded in bulk from the other two once a day; the days from W on are read from those)
(``_rollup_for`` picks). A
period reads whole months from the month rows and each end that cuts a month from the day rows,
added or subtracted from the month's, whichever reads fewer (``cut_segments``, ``_cut_sums``).
The states (open, overdue) are never summed from the first day of the history by the fast
paths: a period reaching today reads them live from the open cases (``_live_part``, an
index-only scan of ``cases_open_states_idx``, migration 0029; the wall's rates, no open count,
"overdue" alone from ``cases_open_overdue_idx``, 0016), in the same statement as the period's
flows; a period that ended reads them back from now — the open cases as they stand (each open
case's deltas sum to one open, and one overdue if it has a deadline, past or to come) minus the
deltas from the period's end on — or up from the first day, whichever is nearer (``_from_now``):
what is read grows with the period and its distance to today, not with the history. A person
filter and ``exact=True`` compute the deltas straight from ``case_event``, states up from the
first day ("overdue" of a period reaching today live). ``rebuild_stats`` recomputes
the roll-ups from the log in one pass.

Also: ``trend`` (daily / weekly / monthly), ``ageing`` of open cases, ``INDICATOR_LABELS``.
The wall's tiles (``wall.frame.kpis``) take their rates from ``indicators``.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Iterable, NamedTuple

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from db.models import Department, Person
from db.config import TIME_ZONE
from db.partitions import live_months
from dispatch.calendar import TZ
from dispatch.queries import open_sql, overdue_sql
from i18n import name_in

COUNTERS = ("reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
            "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np")
FLOWS = COUNTERS[:10]
STATES = COUNTERS[10:]
BY = ("subdistrict", "community", "grid", "department", "person")
_DIM = {"subdistrict": "grid", "community": "grid", "grid": "grid", "department": "department", "person": "person"}
_KEY = {"grid": "grid_id", "department": "department_id", "person": "person_id"}

INDICATOR_LABELS: dict[str, dict[str, str]] = {
    "registered": {"zh": "立案数", "en": "Registered"},
    "closed": {"zh": "结案数", "en": "Closed"},
    "due": {"zh": "应结案数", "en": "Due for closure"},
    "closure_rate": {"zh": "结案率", "en": "Closure rate"},
    "on_time_rate": {"zh": "按期结案率", "en": "On-time closure rate"},
    "rework_rate": {"zh": "返工率", "en": "Rework rate"},
    "avg_disposal_wh": {"zh": "平均处置时长(工作小时)", "en": "Avg disposal (working h)"},
    "self_handled_share": {"zh": "自行处置率", "en": "Self-handled share"},
    "on_spot": {"zh": "现场处置数", "en": "Resolved on the spot"},
    "open": {"zh": "在办数", "en": "Open"},
    "overdue": {"zh": "超期数", "en": "Overdue"},
    "reported": {"zh": "上报数", "en": "Reported"},
    "verified": {"zh": "核查数", "en": "Verified"},
    "reworked": {"zh": "返工数", "en": "Reworked"},
    "closed_on_time": {"zh": "按期结案数", "en": "Closed on time"},
    "satisfaction_rate": {"zh": "满意率", "en": "Satisfaction rate"},
    "satisfaction_answers": {"zh": "评价数", "en": "Satisfaction answers"},
}
TABLE_COLUMNS = ("registered", "closed", "due", "closure_rate", "on_time_rate", "rework_rate", "avg_disposal_wh",
                 "self_handled_share", "on_spot", "open", "overdue")


# --- periods ------------------------------------------------------------------------------------

def _day(x, what: str) -> date:
    if isinstance(x, datetime):
        local = x.astimezone(TZ) if x.tzinfo else x
        if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"{what} {x} is not a local midnight: indicators count whole days (Asia/Shanghai)")
        return local.date()
    if isinstance(x, date):
        return x
    return date.fromisoformat(str(x))


def _clock(conn: Connection) -> tuple[datetime, date]:
    now, today = conn.execute(text("SELECT now(), local_day(now())")).one()
    return now, today


# --- sources of deltas -----------------------------------------------------------------------------

# The grid key of an event whose case has no position (待定位, migration 0020): its own row, not
# 辖区外 (key 0: outside every grid). The roll-ups' triggers key it the same way.
AWAITING_KEY = -1
_EVENT_GRID = f"CASE WHEN e.awaiting_location THEN {AWAITING_KEY} ELSE e.grid_id END"
EVENT_LAGS_SQL = f"""
        SELECT e.case_id, e.at, e.action, e.actor_id, e.to_status, e.to_level, {_EVENT_GRID} AS grid_id,
               e.department_id, e.handler_id, e.due_at, e.postponed, e.disposal_wh, e.category_code, e.channel,
               lag(e.to_status) OVER w AS q_status, lag({_EVENT_GRID}) OVER w AS q_grid,
               lag(e.department_id) OVER w AS q_department, lag(e.handler_id) OVER w AS q_handler,
               lag(e.due_at) OVER w AS q_due, lag(e.postponed) OVER w AS q_postponed,
               lag(e.to_level) OVER w AS q_level, lag(e.category_code) OVER w AS q_category
        FROM case_event e {{case_filter}}
        WINDOW w AS (PARTITION BY e.case_id ORDER BY e.at, e.id)"""
_DELTAS = """
    CROSS JOIN LATERAL case_event_deltas(
        x.at, x.action, x.actor_id, x.to_status, x.to_level, x.grid_id, x.department_id, x.handler_id, x.due_at,
        x.postponed, x.disposal_wh, x.q_status, x.q_grid, x.q_department, x.q_handler, x.q_due, x.q_postponed) d"""
# The same with the level and the category among the state (migration 0010): each row carries
# the level, category and channel it counts under, the keys of ``case_stat_cut``.
_CUT_DELTAS = """
    CROSS JOIN LATERAL case_event_cut_deltas(
        x.at, x.action, x.actor_id, x.to_status, x.to_level, x.grid_id, x.department_id, x.handler_id, x.due_at,
        x.postponed, x.disposal_wh, x.category_code, x.q_status, x.q_level, x.q_grid, x.q_department, x.q_handler,
        x.q_due, x.q_postponed, x.q_category) d"""
EVENT_DELTAS_SQL = "SELECT x.case_id, d.* FROM (" + EVENT_LAGS_SQL + ") x" + _DELTAS
CUT_DELTAS_SQL = "SELECT x.case_id, x.channel, d.* FROM (" + EVENT_LAGS_SQL + ") x" + _CUT_DELTAS


CASE_FILTERS = ("category_code", "level", "channel")
AREA_FILTERS = ("subdistrict_id", "community_id")


def _area_grids_sql(col: str, name: str) -> str:
    """``col`` (a grid id) lies in the area named by filter ``name`` (its grid's community now)."""
    if name == "community_id":
        return f"{col} IN (SELECT g.id FROM unit_grid g WHERE g.community_id = :f_{name})"
    return (f"{col} IN (SELECT g.id FROM unit_grid g JOIN community cm ON cm.id = g.community_id "
            f"WHERE cm.subdistrict_id = :f_{name})")


def _filter_sql(filters: dict, column) -> list[str]:
    """The conditions of ``filters`` (parameters ``:f_<name>``) on the columns ``column(name)``
    names: a delta's keys or a case's own; an area by its grid's community now; no department or
    person is 0."""
    out = []
    for k in filters:
        if k in CASE_FILTERS:
            out.append(f"{column(k)} = :f_{k}")
        elif k in AREA_FILTERS:
            out.append(_area_grids_sql(column("grid_id"), k))
        else:
            out.append(f"COALESCE({column(k)}, 0) = :f_{k}")
    return out


def _exact_source(dim: str, filters: dict, cases_bound: str = "TRUE") -> tuple[str, dict]:
    """Deltas straight from the event log, each filter applied to the delta's own keys (the
    grid, department, person, level, category and channel the delta is attributed to).

    Only the cases that can matter are read: a case reported after the period or ended (closed,
    rejected, merged) before it adds nothing to the period's flows, and its open/overdue deltas
    cancel out before the period ends; the channel never changes, so it filters cases too.
    ``cases_bound`` names the months of ``cases`` holding such cases (db.partitions.live_months)."""
    params = {f"f_{k}": v for k, v in filters.items()}
    conds = []
    if filters:
        conds += [f"c.reported_at < CAST(:dmax AS date)::timestamp AT TIME ZONE '{TIME_ZONE}'",
                  "COALESCE(c.closed_at, c.rejected_at, c.merged_at, 'infinity') >= "
                  f"CAST(:d0 AS date)::timestamp AT TIME ZONE '{TIME_ZONE}'", cases_bound]
        if "channel" in filters:
            conds.append("c.channel = :f_channel")
    case_filter = ("JOIN cases c ON c.id = e.case_id WHERE " + " AND ".join(conds)) if conds else ""
    dconds = _filter_sql(filters, lambda k: f"s.{k}")
    sql = (f"SELECT s.day, COALESCE(s.{_KEY[dim]}, 0) AS key_id, {', '.join('s.' + c for c in COUNTERS)} "
           f"FROM ({(CUT_DELTAS_SQL if filters else EVENT_DELTAS_SQL).format(case_filter=case_filter)}) s"
           + (" WHERE " + " AND ".join(dconds) if dconds else ""))
    return sql, params


def _rollup_source(dim: str, areas: dict | None = None) -> tuple[str, dict]:
    """``case_stat_day``'s rows of ``dim``; ``areas`` (subdistrict_id / community_id → id) keeps
    the grids inside them only (a table by community or grid within an area)."""
    conds = [_area_grids_sql("key_id", k) for k in (areas or {})]
    return (f"SELECT day, key_id, {', '.join(COUNTERS)} FROM case_stat_day WHERE dim = :dim"
            + "".join(f" AND {c}" for c in conds), {"dim": dim, **{f"f_{k}": v for k, v in (areas or {}).items()}})


def _cut_conds(filters: dict) -> tuple[list[str], dict]:
    conds, params = [], {}
    for k, v in filters.items():
        params[f"f_{k}"] = v
        if k == "subdistrict_id":
            conds.append("community_id IN (SELECT id FROM community WHERE subdistrict_id = :f_subdistrict_id)")
        else:
            conds.append(f"{k} = :f_{k}")
    return conds, params


# A month's rows of ``case_stat_cut`` cost about as much to read as this many days' rows
# (measured: 64,042 month rows for 4 months against 257,543 day rows for 89 days at 100,000
# cases, docs/measurements.md); it decides which way a period's cut ends are read.
MONTH_COST_DAYS = 6


def _month(d: date) -> date:
    return d.replace(day=1)


def _next_month(d: date) -> date:
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1)


def _upto(x: date, until: date | None = None) -> tuple[list[tuple[str, date, date, int]], date]:
    """Everything before day ``x`` from the month rows before a month boundary ``b`` plus or
    minus the day rows between ``b`` and ``x``: the cheaper of the two ways (``MONTH_COST_DAYS``).
    Returns the day segments (grain, from, to, sign) and ``b``. ``until``: the roll-up holds the
    days before it only (``case_stat_one``: its month row of that month sums the days before it),
    ``x`` ≤ ``until``."""
    down, up = _month(x), _next_month(x)
    if x == down:
        return [], x
    end = up if until is None else min(up, until)
    if (x - down).days + MONTH_COST_DAYS <= (end - x).days:  # (month rows of x's month are then not read)
        return [("day", down, x, 1)], down
    return [("day", x, end, -1)], up


Segments = dict[str, list[tuple[str, date, date, int]]]


def cut_segments(d0: date, d1: date, ds_open: date, ds_over: date) -> Segments:
    """The row ranges of ``case_stat_cut`` whose signed sums give the flows of [d0, d1) and the
    open and overdue states at the start of ``ds_open`` / ``ds_over``: (grain, from, to, sign).

    Flows of [d0, d1) = F(d1) − F(d0), F(x) being everything before day x; each F is the month
    rows before a month boundary near x, plus the days from that boundary up to x or minus the
    days from x up to it, whichever reads fewer rows: a period that cuts months reads at most
    half a month of day rows at each end (the last 30 days at the start of a month read one
    month row set and a day or two). Short periods inside one month read their days."""
    return _segments(d0, d1, ds_open, ds_over, None)


def _segments(d0: date, d1: date, ds_open: date, ds_over: date, until: date | None, back: bool = False) -> Segments:
    out: dict[str, list] = {}
    s0, b0 = _upto(d0, until)
    s1, b1 = _upto(d1, until)
    direct = (d1 - d0).days
    split = sum((t - f).days for _, f, t, _ in s0 + s1) + MONTH_COST_DAYS * max(1, abs((b1.year - b0.year) * 12
                                                                                      + b1.month - b0.month))
    if b1 <= b0 or direct <= split:
        out["flows"] = [("day", d0, d1, 1)]
    else:
        out["flows"] = [("month", b0, b1, 1)] + [(g, f, t, -sg) for g, f, t, sg in s0] + s1
    out.update(_states(ds_open, ds_over, until, back))
    return out


# After every roll-up row: the deltas of deadlines still to come are dated on those days.
FAR = date(9999, 12, 1)


def _states(ds_open: date, ds_over: date, until: date | None, back: bool = False) -> Segments:
    """The open and overdue states at the start of ``ds_open`` / ``ds_over``: everything before
    the day, F(x) = the month rows before b ± the day rows between b and x (``_upto``). ``back``:
    minus everything from the day on instead, −(total − F(x)) = the day rows of ``_upto`` minus
    the month rows from b on (to ``FAR``): the states then are the open cases as they stand
    (``_live_part`` "all", what the total of every day's deltas is) plus these sums, a read that
    grows with the distance from x to today, not with the history before x."""
    out = {}
    for name, x in (("open", ds_open), ("overdue", ds_over)):
        segs, b = _upto(x, until)
        out[name] = ([("month", b, FAR, -1)] if back else [("month", date.min, b, 1)]) + segs
    return out


def folded_segments(d0: date, d1: date, ds_open: date, ds_over: date, until: date,
                    back: bool = False) -> tuple[Segments, Segments]:
    """``cut_segments`` for a roll-up that holds the days before ``until`` only (``case_stat_one``,
    migration 0025: W, its mark) and a fine one that holds every day: (the ranges of the first,
    the day ranges of the second). F(x) = F_one(min(x, W)) + the fine days [W, x): the fine roll-up
    gives the days from W on (today's, while reports come in), the folded one the rest. ``back``
    (``_states``): −(everything from x on) = −F_one's days from min(x, W) on − the fine days from
    max(x, W) on."""
    c0, c1, co, cv = (min(x, until) for x in (d0, d1, ds_open, ds_over))
    folded = _segments(c0, c1, co, cv, until, back) if c0 < c1 else {"flows": [], **_states(co, cv, until, back)}
    fine: Segments = {"flows": [("day", max(d0, until), d1, 1)] if d1 > until else []}
    for name, x in (("open", ds_open), ("overdue", ds_over)):
        if back:
            fine[name] = [("day", max(x, until), FAR, -1)]
        else:
            fine[name] = [("day", until, x, 1)] if x > until else []
    return folded, fine


def _elementary(segments: dict[str, list[tuple[str, date, date, int]]]) -> list[tuple[str, date, date, dict]]:
    """The signed ranges of ``cut_segments`` cut into disjoint pieces per grain, each with its
    weight for the flows, the open and the overdue counters: every row is read once."""
    out = []
    for grain in ("month", "day"):
        segs = [(name, f, t, sign) for name, ss in segments.items() for g, f, t, sign in ss if g == grain and f < t]
        cuts = sorted({x for _, f, t, _ in segs for x in (f, t)})
        for lo, hi in zip(cuts, cuts[1:]):
            w = {name: 0 for name in segments}
            for name, f, t, sign in segs:
                if f <= lo and hi <= t:
                    w[name] += sign
            if any(w.values()):
                out.append((grain, lo, hi, w))
    return out


class Rollup(NamedTuple):
    """Where ``_cut_sums`` reads: a roll-up at two grains, the column its rows are grouped by,
    its conditions beyond the filters with their parameters, the filters (``_cut_conds``), and for
    ``case_stat_one`` the fine roll-up that holds the days from its mark on."""
    table: str
    key: str
    where: tuple[str, ...]
    params: dict
    filters: dict
    fine: "Rollup | None" = None


_WEIGHT_OF = {c: "flows" for c in FLOWS} | {"open": "open", "overdue": "overdue", "overdue_np": "overdue"}
_MARK_SQL = "SELECT GREATEST(folded_before, DATE '0001-01-02') FROM case_stat_one_mark"


def _parts(src: Rollup, segments: Segments, params: dict) -> list[str]:
    """One SELECT per disjoint piece of ``segments`` in ``src`` (parameters added to ``params``)."""
    conds, fparams = _cut_conds(src.filters)
    conds = [*src.where, *conds]
    params.update(fparams, **src.params)
    out = []
    for grain, f, t, w in _elementary(segments):
        i = len(params)
        params.update({f"f{i}": f, f"t{i}": t})
        cols = ", ".join((f"{w[_WEIGHT_OF[c]]} * sum({c})" if w[_WEIGHT_OF[c]] else "0") + f" AS {c}" for c in COUNTERS)
        out.append(f"SELECT {src.key} AS key_id, {cols} FROM {src.table} WHERE grain = '{grain}' "
                   f"AND day >= :f{i} AND day < :t{i}" + "".join(f" AND {c}" for c in conds) + " GROUP BY 1")
    return out


def _cut_sums(conn: Connection, src: Rollup, d0: date, d1: date, today: date, states: str = "start",
              live: tuple[str, dict] | None = None) -> dict[int, dict]:
    """``_sums`` from a roll-up at two grains (``Rollup``; ``cut_segments``: whole months from the
    month rows, the cut ends from the day rows): one range scan of the primary key per disjoint
    piece of those ranges (``_elementary``), its counters summed times the piece's weights, the
    pieces added up. ``case_stat_one`` holds the days before its mark W only: the days from W
    on are read from ``src.fine`` (``folded_segments``), in the same statement as a check that W
    has not moved since it was read (a fold committed in between: read again). ``states``: how
    the open and overdue states are read (``_STATES``); ``live``: a ``_live_part`` added to the
    sums in the same statement (one snapshot)."""
    ds_open = today + timedelta(days=1) if d1 > today else d1
    ds_over = today if d1 > today else d1
    back = states == "end"
    for _ in range(5):
        params: dict = {}
        if src.fine is None:
            parts = _parts(src, _flows_only(_segments(d0, d1, ds_open, ds_over, None, back), states), params)
        else:
            w = conn.execute(text(_MARK_SQL)).scalar_one()
            folded, fine = folded_segments(d0, d1, ds_open, ds_over, w, back)
            parts = _parts(src, _flows_only(folded, states), params) + _parts(src.fine, _flows_only(fine, states), params)
            params["mark"] = w
            # a row no group has (key NULL, moved 1) when W is no longer what was read
            parts.append(f"SELECT NULL, {', '.join('0' for _ in COUNTERS)} WHERE ({_MARK_SQL}) <> :mark")
        if live is not None:
            parts.append(live[0])
            params.update(live[1])
        if not parts:
            return {}
        sql = (f"SELECT key_id, {', '.join(f'sum({c}) AS {c}' for c in COUNTERS)}, count(*) FILTER (WHERE key_id "
               f"IS NULL) AS moved FROM (" + " UNION ALL ".join(parts) + ") s GROUP BY key_id")
        rows = conn.execute(text(sql), params).mappings().all()
        if any(r["moved"] for r in rows):
            continue
        return {r["key_id"]: {**r, **{c: (float(r[c]) if c == "disposal_wh" else int(r[c])) for c in COUNTERS}}
                for r in rows}
    raise RuntimeError("case_stat_one's mark moved on every read: folds in a loop?")


def _flows_only(segments: Segments, states: str) -> Segments:
    return segments if states != "none" else {name: (segs if name == "flows" else []) for name, segs in segments.items()}


# How a fast table reads its open and overdue states (``indicators``):
# - "start": the deltas of every day before the period's end (a read that grows with the history);
# - "none": none from the roll-up (a period reaching today: its states are the cases' now, ``_live_part``);
# - "end": the open cases as they stand minus the deltas from the period's end on (``_states``).
_STATES = ("start", "none", "end")
# Which of "start" and "end" a period that ended reads: "auto" the shorter (``_from_now``); the
# tests set each.
STATES_FROM = "auto"


def _from_now(conn: Connection, x: date, today: date) -> bool:
    """Read the states at the start of day ``x`` back from now ("end") rather than up from the
    first day: when x lies nearer today than the first day of the history."""
    if STATES_FROM != "auto":
        return STATES_FROM == "end"
    first = conn.execute(text("SELECT min(day) FROM case_stat_day WHERE dim = 'grid'")).scalar()
    return first is None or (today - x).days <= (x - first).days


def _sums(conn: Connection, src: str, params: dict, d0: date, d1: date, today: date, states: str = "start",
          live: tuple[str, dict] | None = None) -> dict[int, dict]:
    """{key_id: counters} for flows in [d0, d1) and states as they stood at the start of d1
    (or now, if d1 is after today). ``states`` (``_STATES``): "start" sums every day's deltas
    since the first (a read that grows with the history); "none" leaves them out (0) and reads
    the period's days only; "end" (a period that ended) the period's days and every later one,
    the states minus the deltas from d1 on. ``live``: a ``_live_part`` added in the same statement."""
    ds_open = today + timedelta(days=1) if d1 > today else d1
    ds_over = today if d1 > today else d1
    # each row's weight for the flows, the open and the overdue counters worked out once (not
    # one FILTER per counter), then the counters summed times their weight
    of = {c: "f" for c in FLOWS} | {"open": "o", "overdue": "v", "overdue_np": "v"}
    weights, rows_read = {
        "start": ("(day >= :d0 AND day < :d1)::int AS f, (day < :ds_open)::int AS o, (day < :ds_over)::int AS v",
                  "day < :dmax"),
        "none": ("1 AS f, 0 AS o, 0 AS v", "day >= :d0 AND day < :d1"),
        "end": ("(day < :d1)::int AS f, -(day >= :ds_open)::int AS o, -(day >= :ds_over)::int AS v", "day >= :d0"),
    }[states]
    sql = (f"SELECT key_id, {', '.join(f'COALESCE(sum({c} * {of[c]}), 0) AS {c}' for c in COUNTERS)} "
           f"FROM (SELECT src.*, {weights} FROM ({src}) src WHERE {rows_read} OFFSET 0) s GROUP BY key_id")
    params = {**params, "d0": d0, "d1": d1, "ds_open": ds_open, "ds_over": ds_over, "dmax": max(d1, ds_open)}
    if live is not None:
        sql = (f"SELECT key_id, {', '.join(f'sum({c}) AS {c}' for c in COUNTERS)} FROM ({sql} UNION ALL {live[0]}) s "
               f"GROUP BY key_id")
        params.update(live[1])
    rows = conn.execute(text(sql), params).mappings()
    return {r["key_id"]: {**r, **{c: (float(r[c]) if c == "disposal_wh" else int(r[c])) for c in COUNTERS}}
            for r in rows}


_LIVE_KEY = {"grid": "c.grid_id", "community": "ug.community_id", "department": "c.department_id",
             "person": "c.handler_id", "all": "0"}
# An open case waits to be located (待定位, ``dispatch.queries.awaiting_location_sql``: no
# position) exactly when it has no grid and is not outside the jurisdiction — the CHECKs of
# migration 0011 (no position: status reported, rejected or merged, no grid, not outside; a
# position: outside iff no grid). Written so, the key is read from ``cases_open_states_idx``.
_AWAITING_OPEN = "(c.grid_id IS NULL AND NOT c.outside_jurisdiction)"
# the key of an open case's states, as the roll-ups key them (待定位 AWAITING_KEY, 辖区外 0)
_STATE_KEY = {**{k: f"COALESCE({v}, 0)" for k, v in _LIVE_KEY.items()},
              **{k: f"CASE WHEN {_AWAITING_OPEN} THEN {AWAITING_KEY} ELSE COALESCE({_LIVE_KEY[k]}, 0) END"
                 for k in ("grid", "community")}}


def _overdue_now(conn: Connection, key: str, filters: dict) -> dict[int, dict]:
    """Open cases overdue now (dispatch.queries.overdue_sql, the one definition), per key
    (``_LIVE_KEY``), the filters applied to the case as it stands now (which is the state its
    last event recorded).

    A period that reaches today reports "overdue" as of now, read live: the daily roll-up holds
    states as they stood at the start of a day, and today's cases that became overdue, or that
    were closed while overdue, would otherwise be missed or counted twice."""
    sql, params = _live_part(conn, key, filters, "overdue")
    return {r["key_id"]: dict(r) for r in conn.execute(text(sql), params).mappings()}


def _live_part(conn: Connection, key: str, filters: dict, kind: str) -> tuple[str, dict]:
    """A SELECT of ``key_id`` and ``COUNTERS`` (the flows 0) from the open cases as they stand
    now, per ``key`` (``_STATE_KEY``), under ``filters`` (the case's own state, its last event's: an
    area by its grid's community now), in the months that hold open cases (``live_months``), and
    its parameters:

    - "now": open (``db.statuses.open_sql``), overdue and overdue-never-postponed now
      (``dispatch.queries.overdue_sql``): the states of a period reaching today — the daily
      roll-ups hold states as they stood at the start of a day (today's cases that became
      overdue, or were closed while overdue, would be missed or counted twice) and sum them
      from the first day of the history;
    - "all": open, and as "overdue" those with a deadline, past or to come (never postponed for
      "overdue_np"): what every day's deltas sum to, future days included (a case enters the
      overdue state on its deadline's day) — the start of ``_states``' "end";
    - "overdue": the overdue ones alone, from ``cases_open_overdue_idx`` (migration 0016; the
      wall's month rates, which show no open count).

    "now" and "all" read ``cases_open_states_idx`` (migration 0029) alone: an index-only scan of
    the open cases."""
    conds = [live_months(conn), *_filter_sql(filters, lambda k: "c." + {"person_id": "handler_id"}.get(k, k))]
    params = {f"f_{k}": v for k, v in filters.items()}
    if kind == "overdue":
        conds.append(overdue_sql("c"))
        k_sql = f"COALESCE({_LIVE_KEY[key]}, 0)"
        states = ("0", "count(*)", "count(*) FILTER (WHERE c.postponed_at IS NULL)")
    elif kind == "now":
        conds.append(open_sql("c"))
        k_sql = _STATE_KEY[key]
        states = ("count(*)", "count(*) FILTER (WHERE c.due_at < now())",
                  "count(*) FILTER (WHERE c.due_at < now() AND c.postponed_at IS NULL)")
    else:
        conds.append(open_sql("c"))
        k_sql = _STATE_KEY[key]
        states = ("count(*)", "count(c.due_at)", "count(c.due_at) FILTER (WHERE c.postponed_at IS NULL)")
    join = " LEFT JOIN unit_grid ug ON ug.id = c.grid_id" if key == "community" else ""
    cols = [f"0 AS {c}" for c in FLOWS] + [f"{x} AS {c}" for x, c in zip(states, STATES)]
    return (f"SELECT {k_sql} AS key_id, {', '.join(cols)} FROM cases c{join} WHERE {' AND '.join(conds)} GROUP BY 1",
            params)


# The (dim, filter) pairs of ``case_stat_one`` (migration 0025): a table by grid (and so by
# community or subdistrict: a grid row carries its community), by person or by department, or a
# trend, under one filter of the charts page beside the area; '' no filter (a person's or
# department's table within an area).
ONE_SETS = frozenset({("grid", "category_code"), ("grid", "level"), ("grid", "channel"), ("grid", "department_id"),
                      ("person", ""), ("person", "category_code"), ("person", "level"), ("person", "channel"),
                      ("person", "department_id"),
                      ("department", ""), ("department", "category_code"), ("department", "level"),
                      ("department", "channel")}
                     | {(dim, pair) for dim in ("grid", "person")
                        for pair in ("level+channel", "level+department_id", "channel+department_id")})
# two filters as one ``filter`` of case_stat_one: their names in this order joined by '+', their
# values by '|'
ONE_FILTER_ORDER = ("category_code", "level", "channel", "department_id")


def _rollup_for(by: str, filters: dict) -> tuple[str, Rollup]:
    """Which roll-up answers a table ``by`` a group (or "trend") under ``filters`` (any of the
    charts page's): the group's key for ``_overdue_now`` and ``_area_groups``, and the ``Rollup``.

    One filter beside the area (or none, for a person's or department's table within an area):
    ``case_stat_one`` (0025), that filter's rows only, the area on their community, for the days
    before its mark; the fine roll-up below for the days after. So too two filters of its pairs
    (level + channel, level + department, channel + department) for tables by grid, community,
    subdistrict or person and the trends: ``filter`` their names joined by '+' in
    ``ONE_FILTER_ORDER``, ``value`` their values by '|'. Other combinations: tables by
    subdistrict, community or department and the trends read ``case_stat_cut`` (0010: its keys
    are theirs), tables by grid or person their dim of ``case_stat_group`` (0021); both carry
    every filter of the page as a column."""
    key = {"subdistrict": "community", "community": "community", "trend": "community"}.get(by, by)
    if key in ("community", "department"):
        fine = Rollup("case_stat_cut", f"{key}_id", (), {}, filters)
    else:
        fine = Rollup("case_stat_group", "key_id", ("dim = :g_dim",), {"g_dim": key}, filters)
    rest = sorted((k for k in filters if k not in AREA_FILTERS),
                  key=lambda k: ONE_FILTER_ORDER.index(k) if k in ONE_FILTER_ORDER else len(ONE_FILTER_ORDER))
    dim = {"community": "grid"}.get(key, key)
    kind = "+".join(rest)
    if len(rest) > 2 or (dim, kind) not in ONE_SETS:
        return key, fine
    if key == "community":  # the grid dim of case_stat_group carries the community too
        fine = Rollup("case_stat_group", "community_id", ("dim = :g_dim",), {"g_dim": "grid"}, filters)
    return key, Rollup("case_stat_one", "community_id" if key == "community" else "key_id",
                       ("dim = :o_dim", "filter = :o_filter", "value = :o_value"),
                       {"o_dim": dim, "o_filter": kind, "o_value": "|".join(str(filters[k]) for k in rest)},
                       {k: v for k, v in filters.items() if k in AREA_FILTERS}, fine)


# --- the table --------------------------------------------------------------------------------------

def indicators(conn: Connection, *, start, end, by: str = "subdistrict", subdistrict_id: int | None = None,
               community_id: int | None = None, department_id: int | None = None, person_id: int | None = None,
               category_code: str | None = None, level: str | None = None, channel: str | None = None,
               total: bool = False, exact: bool = False, as_frame: bool = False, stocks: bool = True):
    """The indicator table for [start, end) grouped ``by``; see the module docstring for formulas.

    Rows carry the group's id, code and name, the counts and rates (0–1, None when the
    denominator is 0). ``as_frame`` returns a pandas DataFrame. ``stocks=False``, for a period
    that reaches today, is for a caller that does not show the open count (the wall's month
    rates): ``open`` is None and only the overdue cases are read live (``_live_part``
    "overdue"). The rates are the same either way, but a group whose row only its open count
    made (nothing in the period) has no row. A period that ended before today needs its end's
    states for the rates and ignores the flag.
    """
    if by not in BY:
        raise ValueError(f"by must be one of {BY}, not {by!r}")
    d0, d1 = _day(start, "start"), _day(end, "end")
    if d1 <= d0:
        raise ValueError(f"the period is empty: {d0} to {d1}")
    dim = _DIM[by]
    filters = {k: v for k, v in (("category_code", category_code), ("level", level), ("channel", channel)) if v is not None}
    if dim != "grid":  # a department's or person's table within an area (the grid of each delta)
        filters.update({k: v for k, v in (("subdistrict_id", subdistrict_id), ("community_id", community_id))
                        if v is not None})
    if department_id is not None and dim != "department":
        filters["department_id"] = department_id
    if person_id is not None and dim != "person":
        filters["person_id"] = person_id
    _, today = _clock(conn)
    _not_ahead(d0, today)
    lean = not stocks and d1 > today  # no open count (a period that ended needs its end's states)
    # how the states are read (``_STATES``): the fast paths read a period reaching today's from
    # the cases as they stand, in the same statement as its flows; a period that ended its
    # states back from now, or up from the first day, whichever is nearer (``_from_now``); the
    # event log (exact=True, a person filter) up from the first day, "overdue" of a period
    # reaching today live
    fast = not exact and "person_id" not in filters
    if not fast:  # (stocks=False: the period's days only; "overdue" is read live below)
        states, kind = ("none" if lean else "start"), None
    elif d1 > today:
        states, kind = "none", ("overdue" if lean else "now")
    elif _from_now(conn, d1, today):
        states, kind = "end", "all"
    else:
        states, kind = "start", None
    # filtered tables read a roll-up (migrations 0010, 0021): every filter of the charts page, for
    # every grouping; a person filter (not on the page) and exact=True read the event log
    if filters and fast:
        rollup_filters = dict(filters)
        if dim == "grid":  # the area narrows the groups and the rows read alike
            rollup_filters.update({k: v for k, v in (("subdistrict_id", subdistrict_id), ("community_id", community_id))
                                   if v is not None})
        key, rollup = _rollup_for(by, rollup_filters)
        live = _live_part(conn, key, rollup_filters, kind) if kind else None
        sums = _cut_sums(conn, rollup, d0, d1, today, states, live)
    else:
        key = dim
        areas = {k: v for k, v in (("subdistrict_id", subdistrict_id), ("community_id", community_id))
                 if v is not None and dim == "grid"}
        bound = live_months(conn, since=datetime.combine(d0, datetime.min.time(), TZ), events=False) if filters else "TRUE"
        src, params = _exact_source(dim, filters, bound) if (exact or filters) else _rollup_source(dim, areas)
        live = _live_part(conn, key, areas, kind) if kind else None
        sums = _sums(conn, src, params, d0, d1, today, states, live)
    if d1 > today and not fast:  # "overdue" as of now, live (see _overdue_now)
        for row in sums.values():
            row["overdue"] = row["overdue_np"] = 0
        for k, v in _overdue_now(conn, key, filters).items():
            row = sums.setdefault(k, {c: 0 for c in COUNTERS} | {"key_id": k})
            row["overdue"] = v["overdue"]
            row["overdue_np"] = v["overdue_np"]
    if dim == "grid":
        groups = _area_groups(conn, by, sums, subdistrict_id, community_id, keyed_by=key)
    elif dim == "department":
        groups = _labelled(conn, "department", sums, only=department_id)
    else:
        groups = _labelled(conn, "person", sums, only=person_id)
    rows = [_finish(g) for g in groups]
    if total:
        rows.append(_finish({"id": None, "code": None, "name": "合计", "name_en": "Total",
                             **{c: sum(g[c] for g in groups) for c in COUNTERS}}))
    if lean:
        for r in rows:
            r["open"] = None
    if as_frame:
        import pandas as pd

        return pd.DataFrame(rows)
    return rows


def _finish(g: dict) -> dict:
    due = g["closed_np"] + g["overdue_np"]
    ratio = lambda a, b: (a / b) if b else None  # noqa: E731
    out = {k: g.get(k) for k in ("id", "code", "name", "name_en", "parent") if k in g}
    out.update(
        registered=int(g["registered"]), closed=int(g["closed"]), due=int(due),
        closure_rate=ratio(g["closed_np"], due), on_time_rate=ratio(g["closed_on_time"], due),
        rework_rate=ratio(g["reworked"], g["verified"]),
        avg_disposal_wh=(g["disposal_wh"] / g["closed"]) if g["closed"] else None,
        self_handled_share=ratio(g["closed_lower"], g["closed"]), on_spot=int(g["closed_on_spot"]),
        open=int(g["open"]), overdue=int(g["overdue"]),
        reported=int(g["reported"]), closed_np=int(g["closed_np"]), closed_on_time=int(g["closed_on_time"]),
        verified=int(g["verified"]), reworked=int(g["reworked"]), closed_lower=int(g["closed_lower"]),
        overdue_np=int(g["overdue_np"]),
    )
    return out


def _zero() -> dict:
    return {c: 0 for c in COUNTERS}


def _add(acc: dict, row: dict) -> None:
    for c in COUNTERS:
        acc[c] += row.get(c) or 0


def _not_ahead(d0: date, today: date) -> None:
    """A period that has not begun has no figures: its rates would read 0 % (grade 差) from the
    cases overdue now, which are no part of it (session 14's review)."""
    if d0 > today:
        raise ValueError(f"the period starts after today ({d0} > {today}): nothing has happened in it yet")


def _area_groups(conn: Connection, by: str, sums: dict, subdistrict_id, community_id, keyed_by: str = "grid") -> list[dict]:
    """Rows per subdistrict / community / grid from ``sums`` keyed by grid or by community."""
    grids = conn.execute(text(
        "SELECT g.id AS grid_id, g.code AS grid_code, g.name AS grid_name, c.id AS community_id, c.code AS community_code, "
        "c.name AS community_name, c.name_en AS community_name_en, s.id AS subdistrict_id, s.code AS subdistrict_code, "
        "s.name AS subdistrict_name, s.name_en AS subdistrict_name_en "
        "FROM unit_grid g JOIN community c ON c.id = g.community_id JOIN subdistrict s ON s.id = c.subdistrict_id "
        "ORDER BY g.code")).mappings().all()
    groups: dict = {}
    seen: set = set()
    for g in grids:
        if subdistrict_id is not None and g["subdistrict_id"] != subdistrict_id:
            continue
        if community_id is not None and g["community_id"] != community_id:
            continue
        if by == "grid":
            key, meta = g["grid_id"], {"id": g["grid_id"], "code": g["grid_code"], "name": g["grid_name"],
                                       "name_en": None, "parent": g["community_name"]}
        elif by == "community":
            key, meta = g["community_id"], {"id": g["community_id"], "code": g["community_code"],
                                            "name": g["community_name"], "name_en": g["community_name_en"],
                                            "parent": g["subdistrict_name"]}
        else:
            key, meta = g["subdistrict_id"], {"id": g["subdistrict_id"], "code": g["subdistrict_code"],
                                              "name": g["subdistrict_name"], "name_en": g["subdistrict_name_en"],
                                              "parent": None}
        acc = groups.setdefault(key, {**meta, **_zero()})
        src = g["grid_id"] if keyed_by == "grid" else g["community_id"]
        if src in sums and src not in seen:
            seen.add(src)
            _add(acc, sums[src])
    out = sorted(groups.values(), key=lambda r: r["code"])
    if subdistrict_id is None and community_id is None:
        for k, meta in ((0, OUTSIDE_ROW), (AWAITING_KEY, AWAITING_ROW)):
            if any(v for c, v in sums.get(k, {}).items() if c in COUNTERS):
                out.append({**meta, **{c: sums[k][c] for c in COUNTERS}})
    return out


# The two rows of an area table that are no area (whole-district tables only; an area filter
# leaves them out): cases reported outside every grid, and the events of reports with an address
# only from their report until a dispatcher located them (from then on they count in their grid).
OUTSIDE_ROW = {"id": None, "code": None, "name": "辖区外", "name_en": "Outside the jurisdiction", "parent": None}
AWAITING_ROW = {"id": None, "code": None, "name": "待定位", "name_en": "Awaiting location", "parent": None}


def _labelled(conn: Connection, kind: str, sums: dict, only: int | None) -> list[dict]:
    if kind == "department":
        meta = {r.id: {"id": r.id, "code": r.code, "name": r.name, "name_en": r.name_en, "parent": None}
                for r in conn.execute(select(Department.id, Department.code, Department.name, Department.name_en)
                                      .order_by(Department.code))}
        none = {"id": None, "code": None, "name": "未派遣", "name_en": "Not dispatched", "parent": None}
    else:
        ids = [k for k, v in sums.items() if k and any(v.get(c) for c in COUNTERS)]  # people with something to count
        meta = {r.id: {"id": r.id, "code": r.username, "name": r.full_name, "name_en": None, "parent": r.role}
                for r in conn.execute(select(Person.id, Person.username, Person.full_name, Person.role)
                                      .where(Person.id.in_(ids)))}
        none = {"id": None, "code": None, "name": "（无）", "name_en": "(none)", "parent": None}
    keys = [k for k in meta if only is None or k == only]
    out = [{**meta[k], **_zero()} for k in keys]
    for row in out:
        if row["id"] in sums:
            _add(row, sums[row["id"]])
    if only is None and 0 in sums and any(sums[0].get(c) for c in COUNTERS):
        out.append({**none, **{c: sums[0][c] for c in COUNTERS}})
    return out


# --- maintenance --------------------------------------------------------------------------------------

CUT_KEYS = ("community_id", "department_id", "category_code", "level", "channel")
# the community key of a delta (``ug``: its grid's row): 0 outside every grid, AWAITING_KEY unlocated
_CUT_COMMUNITY = f"CASE WHEN d.grid_id = {AWAITING_KEY} THEN {AWAITING_KEY} ELSE COALESCE(ug.community_id, 0) END"

# the keys ``k`` of a delta ``d`` of the event-lag rows ``x`` in both roll-ups (and its month)
_CUT_KEYS_OF_DELTA = f"""CROSS JOIN LATERAL (SELECT date_trunc('month', d.day)::date AS month, {_CUT_COMMUNITY} AS community_id,
                                   COALESCE(d.department_id, 0) AS department_id,
                                   COALESCE(d.category_code, '') AS category_code, COALESCE(d.level, '') AS level,
                                   COALESCE(x.channel, '') AS channel) k"""


def cut_sums_sql(case_filter: str) -> str:
    """The rows of ``case_stat_cut`` (grain, day, keys, counters) that the events selected by
    ``case_filter`` (a WHERE clause on ``case_event e``) add up to; for maintenance that takes
    events back out."""
    sums = ", ".join(f"COALESCE(sum(d.{c}), 0) AS {c}" for c in COUNTERS)
    keys = "k.community_id, k.department_id, k.category_code, k.level, k.channel"
    return f"""
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END AS grain, COALESCE(d.day, k.month) AS day,
               {keys}, {sums}
        FROM ({EVENT_LAGS_SQL.format(case_filter=case_filter)}) x {_CUT_DELTAS}
        LEFT JOIN unit_grid ug ON ug.id = d.grid_id
        {_CUT_KEYS_OF_DELTA}
        GROUP BY GROUPING SETS ((d.day, {keys}), (k.month, {keys}))"""


# The groups of ``case_stat_group`` (migration 0021) each delta of ``_CUT_DELTAS`` counts in:
# (dim, key): its grid (0 outside every grid, AWAITING_KEY unlocated) and its person.
GROUP_DIMS_SQL = """
    CROSS JOIN LATERAL (VALUES ('grid', COALESCE(d.grid_id, 0)), ('person', COALESCE(d.person_id, 0))) g(dim, key)"""
GROUP_KEYS = ("dim", "category_code", "key_id", "community_id", "department_id", "level", "channel")


def group_sums_sql(case_filter: str) -> str:
    """The rows of ``case_stat_group`` (grain, day, keys, counters) that the events selected by
    ``case_filter`` (a WHERE clause on ``case_event e``) add up to; for maintenance that takes
    events back out."""
    sums = ", ".join(f"COALESCE(sum(d.{c}), 0) AS {c}" for c in COUNTERS)
    keys = "g.dim, k.category_code, g.key, k.community_id, k.department_id, k.level, k.channel"
    return f"""
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END AS grain, COALESCE(d.day, k.month) AS day,
               g.dim, k.category_code, g.key AS key_id, k.community_id, k.department_id, k.level, k.channel, {sums}
        FROM ({EVENT_LAGS_SQL.format(case_filter=case_filter)}) x {_CUT_DELTAS}
        LEFT JOIN unit_grid ug ON ug.id = d.grid_id
        {_CUT_KEYS_OF_DELTA} {GROUP_DIMS_SQL}
        GROUP BY GROUPING SETS ((d.day, {keys}), (k.month, {keys}))"""


# The rows of ``case_stat_one`` (migration 0025) each delta counts in: (dim, filter, value, key)
# per pair of ``ONE_SETS``, from expressions for the delta's group per dim and value per filter.
ONE_KEYS = ("dim", "filter", "value", "key_id", "community_id")


def one_sets_sql(key: dict[str, str], value: dict[str, str]) -> str:
    rows = ", ".join(f"('{dim}', '{f}', {value[f] if f else chr(39) * 2}, {key[dim]})" for dim, f in sorted(ONE_SETS))
    return f"CROSS JOIN LATERAL (VALUES {rows}) o(dim, filter, value, key)"


_ONE_VALUE = {"category_code": "k.category_code", "level": "k.level", "channel": "k.channel",
              "department_id": "k.department_id::text"}
_ONE_OF_DELTA = one_sets_sql(
    {"grid": "COALESCE(d.grid_id, 0)", "person": "COALESCE(d.person_id, 0)", "department": "k.department_id"},
    {**_ONE_VALUE, **{f: " || '|' || ".join(_ONE_VALUE[x] for x in f.split("+")) for _, f in ONE_SETS if "+" in f}})


def one_sums_sql(case_filter: str) -> str:
    """The rows of ``case_stat_one`` (grain, day, keys, counters) that the events selected by
    ``case_filter`` (a WHERE clause on ``case_event e``) add up to — their deltas dated before the
    table's mark only, as it holds them; for maintenance that takes events back out."""
    sums = ", ".join(f"COALESCE(sum(d.{c}), 0) AS {c}" for c in COUNTERS)
    keys = "o.dim, o.filter, o.value, o.key, k.community_id"
    return f"""
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END AS grain, COALESCE(d.day, k.month) AS day,
               o.dim, o.filter, o.value, o.key AS key_id, k.community_id, {sums}
        FROM ({EVENT_LAGS_SQL.format(case_filter=case_filter)}) x {_CUT_DELTAS}
        LEFT JOIN unit_grid ug ON ug.id = d.grid_id
        {_CUT_KEYS_OF_DELTA} {_ONE_OF_DELTA}
        WHERE d.day < (SELECT folded_before FROM case_stat_one_mark)
        GROUP BY GROUPING SETS ((d.day, {keys}), (k.month, {keys}))"""


def refold_one(conn: Connection) -> None:
    """``case_stat_one`` made again from the fine roll-ups (``case_stat_group``, ``case_stat_cut``):
    emptied, then every day before its mark W summed in (``case_stat_one_refold``, migration 0025);
    W stays where it was."""
    conn.execute(text("SELECT case_stat_one_refold()"))


def fold_due(conn: Connection) -> date | None:
    """Fold the days before today into ``case_stat_one`` (``case_stat_one_fold_due``, migration
    0025: the scheduled job; never in an event's transaction): W moved to today, or to the first
    day of the oldest other client transaction still open. Returns W after, or None when a writer
    of past-dated deltas held the fold's lock (nothing done; the next run folds)."""
    return conn.execute(text("SELECT case_stat_one_fold_due()")).scalar_one()


def rebuild_stats(conn: Connection) -> int:
    """Recompute the roll-ups (``case_stat_day``, ``case_stat_cut``, ``case_stat_group`` and
    ``case_stat_one``) from the whole event log in one pass over it (repair, or after bulk loads
    that bypassed the triggers). Returns the number of ``case_stat_day`` rows."""
    for table in ("case_stat_day", "case_stat_cut", "case_stat_group"):
        conn.execute(text(f"DELETE FROM {table}"))
    sums = ", ".join(f"COALESCE(sum(d.{c}), 0)" for c in COUNTERS)
    nonzero = " OR ".join(f"COALESCE(sum(d.{c}), 0) <> 0" for c in COUNTERS)
    keys = "k.com, k.dep, k.cat, k.lvl, k.ch"
    gkeys = "g.dim, d.cat, g.key, d.com, d.dep, d.lvl, d.ch"
    conn.execute(text(f"""
        WITH x AS MATERIALIZED ({EVENT_LAGS_SQL.format(case_filter="")}),
        by_day AS (
            INSERT INTO case_stat_day (dim, day, key_id, {', '.join(COUNTERS)})
            SELECT CASE WHEN GROUPING(d.grid_id) = 0 THEN 'grid' WHEN GROUPING(d.department_id) = 0 THEN 'department'
                        ELSE 'person' END,
                   d.day, COALESCE(d.grid_id, d.department_id, d.person_id, 0), {sums}
            FROM x {_DELTAS}
            GROUP BY GROUPING SETS ((d.day, d.grid_id), (d.day, d.department_id), (d.day, d.person_id))
            HAVING {nonzero}
        ),
        cut AS MATERIALIZED (
            SELECT x.channel, d.*, k.* FROM x {_CUT_DELTAS}
            LEFT JOIN unit_grid ug ON ug.id = d.grid_id
            CROSS JOIN LATERAL (SELECT date_trunc('month', d.day)::date AS month, {_CUT_COMMUNITY} AS com,
                                       COALESCE(d.department_id, 0) AS dep, COALESCE(d.category_code, '') AS cat,
                                       COALESCE(d.level, '') AS lvl, COALESCE(x.channel, '') AS ch) k
        ),
        by_cut AS (
            INSERT INTO case_stat_cut (grain, day, {', '.join(CUT_KEYS)}, {', '.join(COUNTERS)})
            SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month),
                   {keys.replace('k.', 'd.')}, {sums}
            FROM cut d
            GROUP BY GROUPING SETS ((d.day, {keys.replace('k.', 'd.')}), (d.month, {keys.replace('k.', 'd.')}))
            HAVING {nonzero}
        )
        INSERT INTO case_stat_group (grain, day, {', '.join(GROUP_KEYS)}, {', '.join(COUNTERS)})
        SELECT CASE WHEN GROUPING(d.day) = 0 THEN 'day' ELSE 'month' END, COALESCE(d.day, d.month), {gkeys}, {sums}
        FROM cut d {GROUP_DIMS_SQL}
        GROUP BY GROUPING SETS ((d.day, {gkeys}), (d.month, {gkeys}))
        HAVING {nonzero}"""))
    refold_one(conn)
    return conn.execute(text("SELECT count(*) FROM case_stat_day")).scalar_one()


# --- charts helpers --------------------------------------------------------------------------------------

def _filtered_days(conn: Connection, r: Rollup, first: date, horizon: date, live: tuple[str, dict] | None = None):
    """A filtered trend's rows (``_rollup_for``): the counters per day of [first, horizon) and the
    states before ``first`` (its month rows), in one statement. ``case_stat_one`` gives the days
    before its mark W and the fine roll-up those from W on (a period starting after W reads the
    fine roll-up alone); a W moved by a fold in between is read again (as in ``_cut_sums``).
    ``live`` (a ``_live_part`` "all"): the states before ``first`` are those of the cases now
    minus every day's deltas from ``first`` on (future days included), read in the same
    statement instead of the month rows before it."""
    def part(x: Rollup, grain: str, lo: date | None, hi: date, params: dict) -> str:
        conds, fparams = _cut_conds(x.filters)
        params.update(fparams, **x.params)
        i = len(params)
        params.update({f"f{i}": lo or date.min, f"t{i}": hi})
        return (f"SELECT {'day' if grain == 'day' else 'NULL::date'} AS day, {', '.join(COUNTERS)} FROM {x.table} "
                f"WHERE grain = '{grain}' AND day >= :f{i} AND day < :t{i}" + "".join(f" AND {c}" for c in [*x.where, *conds]))

    last = FAR if live is not None else horizon
    for _ in range(5):
        params: dict = {}
        if r.fine is None:
            parts = [part(r, "day", first, last, params)]
        else:
            w = conn.execute(text(_MARK_SQL)).scalar_one()
            if first <= w:
                parts = [part(r, "day", first, w, params), part(r.fine, "day", w, last, params)]
            else:
                parts = [part(r.fine, "day", first, last, params)]
            params["mark"] = w
            parts.append(f"SELECT DATE '0001-01-01', {', '.join('0' for _ in COUNTERS)} WHERE ({_MARK_SQL}) <> :mark")
        if live is None:  # the month rows before the first: of case_stat_one if it holds them
            parts.append(part(r.fine if r.fine is not None and first > w else r, "month", None, first, params))
        else:
            parts.append(f"SELECT NULL::date, {', '.join(COUNTERS)} FROM ({live[0]}) l")
            params.update(live[1])
        rows = conn.execute(text(f"SELECT day, {', '.join(f'sum({c}) AS {c}' for c in COUNTERS)} FROM ("
                                 + " UNION ALL ".join(parts) + ") s GROUP BY day ORDER BY day NULLS FIRST"), params).all()
        if any(row[0] == date(1, 1, 1) for row in rows):
            continue
        return _with_base(rows, live is not None, horizon)
    raise RuntimeError("case_stat_one's mark moved on every read: folds in a loop?")


def _with_base(rows, from_now: bool, horizon: date):
    """(the day rows before ``horizon`` as a DataFrame, the states before the first of them) from
    rows (day, *COUNTERS) whose first, of day NULL, holds the states before the first day — or,
    ``from_now``, the states now and every delta to come: less the states of every day row (the
    rows from ``horizon`` on too, deadlines ahead, then left out)."""
    import pandas as pd

    base = {c: 0.0 for c in STATES}
    if rows and rows[0][0] is None:
        base = {c: float(v or 0) for c, v in zip(COUNTERS, rows[0][1:]) if c in STATES}
        rows = rows[1:]
    if from_now:
        for i, c in enumerate(COUNTERS):
            if c in STATES:
                base[c] -= float(sum(r[1 + i] or 0 for r in rows))
    return pd.DataFrame([r for r in rows if r[0] < horizon], columns=["day", *COUNTERS]), base


def trend(conn: Connection, *, start, end, freq: str = "day", subdistrict_id: int | None = None,
          community_id: int | None = None, department_id: int | None = None, category_code: str | None = None,
          level: str | None = None, channel: str | None = None):
    """Indicators per day, ISO week (from Monday) or month over [start, end), for the whole
    district or what the filters select (same formulas and filters as ``indicators``). Returns a
    DataFrame: period (first day), registered, closed, due, closure_rate, on_time_rate,
    rework_rate, avg_disposal_wh, self_handled_share, on_spot, open, overdue.

    Unfiltered: the days of ``case_stat_day``. Filtered: the roll-up ``_rollup_for`` names, its
    day rows from the period's first month on. The states before the first day read are the open
    cases now minus every later day's deltas (``_from_now``: when the period lies nearer today
    than the first day of the history) or the sum of every earlier day (the month rows before
    it), so what is read grows with the period and its distance to today, not with the history."""
    import pandas as pd

    if freq not in ("day", "week", "month"):
        raise ValueError("freq must be day, week or month")
    d0, d1 = _day(start, "start"), _day(end, "end")
    if d1 <= d0:
        raise ValueError(f"the period is empty: {d0} to {d1}")
    _, today = _clock(conn)
    _not_ahead(d0, today)
    filters = {k: v for k, v in (("subdistrict_id", subdistrict_id), ("community_id", community_id),
                                 ("department_id", department_id), ("category_code", category_code),
                                 ("level", level), ("channel", channel)) if v is not None}
    horizon = max(d1, today + timedelta(days=1))
    first = _month(d0) if filters else d0
    back = _from_now(conn, first, today)
    if not filters:  # the unfiltered roll-up (its deltas are the unfiltered figures' own)
        sql = (f"SELECT day, {', '.join(f'sum({c}) AS {c}' for c in COUNTERS)} FROM case_stat_day "
               f"WHERE dim = 'grid' AND day < :h" + (" AND day >= :first" if back else "") + " GROUP BY day")
        params = {"h": FAR if back else horizon, "first": first}
        if back:
            live, lparams = _live_part(conn, "all", {}, "all")
            sql = (f"SELECT NULL::date AS day, {', '.join(COUNTERS)} FROM ({live}) l UNION ALL {sql}")
            params.update(lparams)
        daily, base = _with_base(conn.execute(text(sql + " ORDER BY day NULLS FIRST"), params).all(), back, horizon)
        if not back:
            first = min([d0] + list(daily["day"]))
    else:
        r = _rollup_for("trend", filters)[1]
        daily, base = _filtered_days(conn, r, first, horizon, _live_part(conn, "all", filters, "all") if back else None)
    index = pd.date_range(first, horizon - timedelta(days=1), freq="D")
    daily = daily.assign(day=pd.to_datetime(daily["day"])).set_index("day").reindex(index, fill_value=0).astype(float)
    state = daily[list(STATES)].cumsum() + pd.Series(base)  # as it stood at the end of each day
    live_rows = _overdue_now(conn, "all", filters).values()
    live = {c: sum(v[c] for v in live_rows) for c in ("overdue", "overdue_np")}
    sel = daily.loc[pd.Timestamp(d0):pd.Timestamp(d1 - timedelta(days=1))]
    flows = sel[list(FLOWS)].groupby(sel.index.to_period({"day": "D", "week": "W-SUN", "month": "M"}[freq])).sum()
    out = []
    for p, f in flows.iterrows():
        last = min(p.end_time.normalize(), pd.Timestamp(d1 - timedelta(days=1)))
        if last.date() >= today:  # reaches today: overdue as of now, live (see _overdue_now)
            st = dict(state.loc[pd.Timestamp(today)])
            for c in ("overdue", "overdue_np"):
                st[c] = live[c]
        else:
            st = dict(state.loc[last])
        r = _finish({**{c: f[c] for c in FLOWS}, **st})
        out.append({"period": p.start_time.date(), **{k: r[k] for k in (
            "registered", "closed", "due", "closure_rate", "on_time_rate", "rework_rate", "avg_disposal_wh",
            "self_handled_share", "on_spot", "open", "overdue")}})
    return pd.DataFrame(out)


AGE_BUCKETS = ((1, "<1天", "<1 d"), (3, "1–3天", "1–3 d"), (7, "3–7天", "3–7 d"), (15, "7–15天", "7–15 d"),
               (30, "15–30天", "15–30 d"), (None, ">30天", ">30 d"))


def ageing(conn: Connection, *, by: str | None = None, lang: str = "zh") -> list[dict]:
    """Open cases by age since report (calendar days), optionally per subdistrict/community/department."""
    cases = " ".join(f"WHEN now() - c.reported_at < interval '{d} days' THEN {i}" for i, (d, _, _) in enumerate(AGE_BUCKETS) if d)
    key = {None: "NULL::int", "subdistrict": "c.subdistrict_id", "community": "c.community_id",
           "department": "c.department_id"}[by]
    rows = conn.execute(text(
        f"SELECT {key} AS key_id, CASE {cases} ELSE {len(AGE_BUCKETS) - 1} END AS bucket, count(*) AS n, "
        f"count(*) FILTER (WHERE {overdue_sql('c')}) AS overdue "
        f"FROM cases c WHERE {open_sql('c')} AND {live_months(conn)} GROUP BY 1, 2 ORDER BY 1, 2")).mappings()
    li = 1 if lang == "zh" else 2
    return [{"key_id": r["key_id"], "bucket": AGE_BUCKETS[r["bucket"]][li], "bucket_index": r["bucket"], "open": r["n"],
             "overdue": r["overdue"]} for r in rows]


def format_table(rows: Iterable[dict], *, lang: str = "zh", columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """A plain-text table of indicator rows (for the command line)."""
    rows = list(rows)
    name_col = "名称" if lang == "zh" else "Name"
    head = [name_col] + [INDICATOR_LABELS[c][lang] for c in columns]

    def cell(r, c):
        v = r.get(c)
        if v is None:
            return "—"
        if c.endswith("_rate") or c.endswith("_share"):
            return f"{100 * v:.1f}%"
        if isinstance(v, float):
            return f"{v:.1f}"
        return str(v)

    body = [[name_in(r, lang) or "—"]
            + [cell(r, c) for c in columns] for r in rows]
    width = lambda s: sum(2 if ord(ch) > 0x2E7F else 1 for ch in s)  # noqa: E731  (CJK takes two columns)
    widths = [max(width(x[i]) for x in [head] + body) for i in range(len(head))]
    pad = lambda s, w, left: (s + " " * (w - width(s))) if left else (" " * (w - width(s)) + s)  # noqa: E731
    lines = ["  ".join(pad(h, widths[i], i == 0) for i, h in enumerate(head))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(pad(v, widths[i], i == 0) for i, v in enumerate(row)) for row in body]
    return "\n".join(lines)
