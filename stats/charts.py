"""The tables behind the clearance charts (结案统计), shaped for charts and export.

Plain Python, no UI imports. The figures are the lifecycle's indicators
(``stats.indicators``: closure rate, on-time rate, self-handled share … as docs/domain.md
defines them, from the event log); this module picks the rows a chart needs, ranks them, grades
them and gives every table the same columns on screen, in CSV and in Excel.

Rates are given in per cent rounded to one decimal (``*_pct`` columns), so the exported table
shows exactly what the chart shows.

Two small read queries live here (``open_backlog`` and ``category_table``); they reuse the
lifecycle's definitions of open and overdue. The filter choices are ``stats.filters``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import TIME_ZONE
from db.partitions import live_months
from dispatch.queries import open_sql, overdue_sql
from dispatch.states import LOWER_LEVELS, OPEN_STATUSES, label
from i18n import name_in
from stats import indicators as ind

PERIODS = ("this_month", "last_month", "last_30", "last_90", "this_year", "custom")
FREQS = ("day", "week", "month")
RANK_METRICS = ("on_time_rate", "closure_rate", "self_handled_share", "rework_rate", "avg_disposal_wh", "overdue")
# Lower is better for these: they rank ascending.
ASCENDING = frozenset({"rework_rate", "avg_disposal_wh", "overdue"})
# Colour grades of the monthly evaluation (考核等级): on-time closure rate bands.
GRADE_BANDS: tuple[tuple[float, str], ...] = ((0.95, "A"), (0.85, "B"), (0.70, "C"))
GRADE_COLOURS = {"A": "#22c55e", "B": "#38bdf8", "C": "#f59e0b", "D": "#ef4444", "none": "#64748b"}
RATE_COLUMNS = ("closure_rate", "on_time_rate", "rework_rate", "self_handled_share")


@dataclass(frozen=True)
class ChartFilter:
    """What the charts count: the days [start, end) and optional area, department and case filters."""
    start: date
    end: date  # exclusive
    subdistrict_id: int | None = None
    community_id: int | None = None
    department_id: int | None = None
    category_code: str | None = None
    level: str | None = None
    channel: str | None = None

    def indicator_args(self) -> dict:
        return {k: getattr(self, k) for k in ("subdistrict_id", "community_id", "department_id", "category_code",
                                              "level", "channel") if getattr(self, k) is not None}


def period(preset: str, today: date, custom: tuple[date, date] | None = None) -> tuple[date, date]:
    """[start, end) of a preset period; ``custom`` is (first day, last day) inclusive."""
    if preset == "this_month":
        return today.replace(day=1), today + timedelta(days=1)
    if preset == "last_month":
        first = today.replace(day=1)
        return (first - timedelta(days=1)).replace(day=1), first
    if preset == "last_30":
        return today - timedelta(days=29), today + timedelta(days=1)
    if preset == "last_90":
        return today - timedelta(days=89), today + timedelta(days=1)
    if preset == "this_year":
        return today.replace(month=1, day=1), today + timedelta(days=1)
    if preset == "custom" and custom:  # days after today have no figures yet: the period ends today
        a, b = (min(d, today) for d in sorted(custom))
        return a, b + timedelta(days=1)
    raise ValueError(f"unknown period {preset!r}")


def grade(rate: float | None) -> str:
    """The colour grade of an on-time closure rate: A (≥95 %), B (≥85 %), C (≥70 %), D; 'none' without data."""
    if rate is None:
        return "none"
    return next((g for floor, g in GRADE_BANDS if rate >= floor), "D")


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100.0 * x, 1)


def _with_pct(row: dict) -> dict:
    out = dict(row)
    for c in RATE_COLUMNS:
        if c in out:
            out[f"{c}_pct"] = _pct(out.pop(c))
    return out


# --- headline figures -------------------------------------------------------------------------------

def summary(conn: Connection, f: ChartFilter) -> dict:
    """The filtered district's (or area's) indicator totals for the period."""
    rows = ind.indicators(conn, start=f.start, end=f.end, by="community" if f.community_id else "subdistrict",
                          total=True, **f.indicator_args())
    total = rows[-1]
    total["grade"] = grade(total["on_time_rate"])
    total.update(satisfaction(conn, f))
    return total


def satisfaction(conn: Connection, f: ChartFilter) -> dict:
    """满意率: (满意 + 基本满意) / answers given in the period, by the day of the answer, over the
    cases the filter selects (answers come through the public status link, intake/public.py)."""
    where, params = _case_filter_sql(f)
    got = conn.execute(text(
        "SELECT count(*) AS n, count(*) FILTER (WHERE s.rating IN ('satisfied', 'basically_satisfied')) AS good "
        "FROM case_satisfaction s JOIN cases c ON c.id = s.case_id "
        f"WHERE (s.answered_at AT TIME ZONE '{TIME_ZONE}')::date >= :d0 "
        f"AND (s.answered_at AT TIME ZONE '{TIME_ZONE}')::date < :d1 AND {where}"),
        {**params, "d0": f.start, "d1": f.end}).one()
    return {"satisfaction_answers": got.n, "satisfaction_rate": got.good / got.n if got.n else None}


# --- ranking by area, department or person -------------------------------------------------------------

RANK_COLUMNS = ("rank", "name", "parent", "grade", "registered", "closed", "due", "closure_rate_pct", "on_time_rate_pct",
                "rework_rate_pct", "avg_disposal_wh", "self_handled_share_pct", "open", "overdue")


def ranking(conn: Connection, f: ChartFilter, *, by: str, metric: str = "on_time_rate", lang: str = "zh") -> pd.DataFrame:
    """Indicator rows per area / department / person, best first by ``metric``, with rank and grade.

    Groups with nothing to count in the period (no case registered, closed, due or open) are left out.
    """
    if metric not in RANK_METRICS:
        raise ValueError(f"metric must be one of {RANK_METRICS}")
    rows = ind.indicators(conn, start=f.start, end=f.end, by=by, **f.indicator_args())
    rows = [r for r in rows if r["registered"] or r["closed"] or r["due"] or r["open"]]
    for r in rows:
        r["name"] = name_in(r, lang) or "—"
        r["grade"] = grade(r["on_time_rate"])
        if by == "person" and r.get("parent"):
            r["parent"] = label("role", r["parent"], lang)
    present = [r for r in rows if r[metric] is not None]
    missing = [r for r in rows if r[metric] is None]
    present.sort(key=lambda r: (r[metric], -r["due"]) if metric in ASCENDING else (-r[metric], -r["due"]))
    ranked = present + missing
    out = []
    for i, r in enumerate(ranked):
        item = _with_pct(r)
        item["rank"] = i + 1 if r[metric] is not None else None
        out.append(item)
    df = pd.DataFrame(out, columns=list(RANK_COLUMNS) + ["closed_lower", "on_spot"])
    df["rank"] = df["rank"].astype("Int64")
    df["parent"] = df["parent"].fillna("")
    return df


# --- trends ---------------------------------------------------------------------------------------------

TREND_COLUMNS = ("period", "registered", "closed", "due", "closure_rate_pct", "on_time_rate_pct", "open", "overdue")


def trend(conn: Connection, f: ChartFilter, *, freq: str) -> pd.DataFrame:
    """Indicators per day, week or month of the period, under every filter of the page."""
    df = ind.trend(conn, start=f.start, end=f.end, freq=freq, **f.indicator_args())
    if df.empty:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    df = df.copy()
    for c in ("closure_rate", "on_time_rate"):
        df[f"{c}_pct"] = df[c].map(lambda x: _pct(x) if pd.notna(x) else None)
    for c in ("registered", "closed", "due", "open", "overdue"):
        df[c] = df[c].astype(int)
    df["period"] = pd.to_datetime(df["period"]).dt.date
    return df[list(TREND_COLUMNS)]


# --- open cases: ageing and backlog by state ------------------------------------------------------------

AGEING_COLUMNS = ("bucket", "open", "overdue")


def ageing(conn: Connection, f: ChartFilter, *, lang: str = "zh") -> pd.DataFrame:
    """Open cases by age since report (the lifecycle's buckets), of which overdue; for the chosen
    area or department (the finest one chosen)."""
    by, key = (("community", f.community_id) if f.community_id else ("subdistrict", f.subdistrict_id)
               if f.subdistrict_id else ("department", f.department_id) if f.department_id else (None, None))
    rows = ind.ageing(conn, by=by, lang=lang)
    names = [b[1 if lang == "zh" else 2] for b in ind.AGE_BUCKETS]
    sums = {n: [0, 0] for n in names}
    for r in rows:
        if by is None or r["key_id"] == key:
            sums[r["bucket"]][0] += int(r["open"])
            sums[r["bucket"]][1] += int(r["overdue"])
    return pd.DataFrame([{"bucket": n, "open": v[0], "overdue": v[1]} for n, v in sums.items()],
                        columns=list(AGEING_COLUMNS))


BACKLOG_COLUMNS = ("state", "status", "open", "overdue")


def _case_filter_sql(f: ChartFilter) -> tuple[str, dict]:
    conds, params = [], {}
    for col in ("subdistrict_id", "community_id", "department_id", "category_code", "level", "channel"):
        val = getattr(f, col)
        if val is not None:
            conds.append(f"c.{col} = :{col}")
            params[col] = val
    return (" AND ".join(conds) or "TRUE"), params


def open_backlog(conn: Connection, f: ChartFilter, *, lang: str = "zh") -> pd.DataFrame:
    """Open cases now, per state, with how many of them are overdue (every filter but the period
    applies: this is the backlog as it stands). Candidate for dispatch.queries."""
    where, params = _case_filter_sql(f)
    got = {r.status: (r.n, r.overdue) for r in conn.execute(text(
        f"SELECT c.status, count(*) AS n, count(*) FILTER (WHERE {overdue_sql('c')}) AS overdue "
        f"FROM cases c WHERE {open_sql('c')} AND {live_months(conn)} AND {where} GROUP BY c.status"), params)}
    rows = [{"state": label("status", s, lang), "status": s, "open": int(got.get(s, (0, 0))[0]),
             "overdue": int(got.get(s, (0, 0))[1])} for s in OPEN_STATUSES]
    return pd.DataFrame(rows, columns=list(BACKLOG_COLUMNS))


# --- level split: self-handled vs reported up ---------------------------------------------------------------

LEVEL_COLUMNS = ("name", "closed", "self_handled", "reported_up", "on_spot", "self_handled_share_pct")


def level_split(conn: Connection, f: ChartFilter, *, lang: str = "zh") -> pd.DataFrame:
    """Closed cases per subdistrict (per community inside one subdistrict): closed at grid,
    community or subdistrict level (self-handled) vs at district level (reported up), and the
    total row last. The lifecycle's self-handled share (closed at LOWER_LEVELS / closed)."""
    by = "community" if f.subdistrict_id or f.community_id else "subdistrict"
    rows = ind.indicators(conn, start=f.start, end=f.end, by=by, total=True, **f.indicator_args())
    out = []
    for r in rows:
        if not r["closed"] and r is not rows[-1]:
            continue
        out.append({"name": name_in(r, lang), "closed": r["closed"],
                    "self_handled": r["closed_lower"], "reported_up": r["closed"] - r["closed_lower"],
                    "on_spot": r["on_spot"], "self_handled_share_pct": _pct(r["self_handled_share"])})
    return pd.DataFrame(out, columns=list(LEVEL_COLUMNS))


assert LOWER_LEVELS == ("grid", "community", "subdistrict")  # what "self-handled" means above


# --- categories ---------------------------------------------------------------------------------------------

CATEGORY_COLUMNS = ("code", "major", "category", "reported", "closed", "closure_share_pct", "self_handled", "share_pct")


def category_table(conn: Connection, f: ChartFilter, *, lang: str = "zh") -> pd.DataFrame:
    """Cases reported in the period per category: reported, closed since, closed below district
    level, and each category's share of all reports (every case filter applies)."""
    where, params = _case_filter_sql(f)
    rows = conn.execute(text(f"""
        SELECT c.category_code AS code, cat.major_name, cat.name, cat.name_en, count(*) AS reported,
               count(*) FILTER (WHERE c.status = 'closed') AS closed,
               count(*) FILTER (WHERE c.status = 'closed' AND c.level <> 'district') AS closed_lower
        FROM cases c LEFT JOIN case_category cat ON cat.code = c.category_code
        WHERE c.reported_at >= (CAST(:d0 AS date)::timestamp AT TIME ZONE '{TIME_ZONE}')
          AND c.reported_at < (CAST(:d1 AS date)::timestamp AT TIME ZONE '{TIME_ZONE}') AND {where}
        GROUP BY 1, 2, 3, 4 ORDER BY reported DESC, code"""), {**params, "d0": f.start, "d1": f.end}).mappings().all()
    total = sum(r["reported"] for r in rows) or 1
    out = [{"code": r["code"] or "—", "major": r["major_name"] or "—",
            "category": name_in(r, lang) or "—",
            "reported": int(r["reported"]), "closed": int(r["closed"]),
            "closure_share_pct": round(100.0 * r["closed"] / r["reported"], 1) if r["reported"] else None,
            "self_handled": int(r["closed_lower"]), "share_pct": round(100.0 * r["reported"] / total, 1)}
           for r in rows]
    return pd.DataFrame(out, columns=list(CATEGORY_COLUMNS))


def today(conn: Connection) -> date:
    """Today in the district's time zone, by the database clock (the indicators' clock)."""
    return conn.execute(text(f"SELECT (now() AT TIME ZONE '{TIME_ZONE}')::date")).scalar_one()
