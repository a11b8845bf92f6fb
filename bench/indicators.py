"""``bench indicators``: the indicator table for one month by subdistrict vs a plain count(*).

    python manage.py bench indicators [--cases 1000000] [--month 2026-10] [--repeat 5] [--rebuild]

Data lives in its own database, ``gridgov_bench_indicators`` on the app's server (tests, the app
and the other benchmarks are untouched). On first use (or with ``--rebuild``, or when it holds
a different number of cases) the database is dropped, recreated, migrated and given the sample
district with ``--cases`` reports over the 61 days before now, played forward by
``sample_data.history.play_history`` — the same path as ``manage.py load-sample --cases N``. At
1,000,000 cases that takes several minutes; later runs reuse the data. Then ``VACUUM ANALYZE``.

Measured in the same session, best of ``--repeat`` runs each:
- ``SELECT count(*) FROM cases`` as PostgreSQL plans it (after VACUUM: an index-only scan);
- ``stats.indicators.indicators(conn, start, end, by='subdistrict')`` for the month (default:
  the last whole calendar month in the data), Python included.
Also printed once for information: the same table computed straight from the event log
(``exact=True``). Then ``indicators_ratio=X`` = indicators time / count(*) time (target ≤ 3).

Filtered tables (what the charts page asks for): tables by subdistrict, community, department,
grid and person under each filter the page offers — area, department, category, level, channel —
and combinations of them, and the weekly trend under filters, with the busiest values in the data
(``FILTER_SETS``), each over three
periods (``PERIODS``): the whole month above, the last 30 days (the charts page's default) and 30
days from the middle of one month to the middle of the next (the worst case for a period that cuts
months: half a month of day rows at each end). Each is timed like the table above;
``filtered_ms[NAME]`` lines with the three periods, ``filtered_<period>_ratio`` per period, and
last ``filtered_ratio=X`` = the slowest of all combinations and periods / count(*) (target ≤ 3).
``table_mb`` prints the sizes (with indexes) of ``cases`` and the three filtered roll-ups,
``group_to_cases`` the group roll-up's over the case table's and ``one_to_cases`` the one-filter
roll-up's (``case_stat_one``, migration 0025; its rows per grain and its mark on the next line).
The slowest one is also computed from the event log and must agree (unless ``--skip-exact``; a
trend week by week against the exact table of each week).
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db.config import TIME_ZONE
from bench.common import best_of

BENCH_DB = "gridgov_bench_indicators"


def bench_url() -> str:
    from db.config import owner_database_url

    return make_url(owner_database_url()).set(database=BENCH_DB).render_as_string(hide_password=False)


def configure(p) -> None:
    p.add_argument("--cases", type=int, default=1_000_000, help="cases in the benchmark history (default 1,000,000)")
    p.add_argument("--month", help="YYYY-MM to evaluate (default: the last whole month in the data)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each query; the best counts (default 5)")
    p.add_argument("--rebuild", action="store_true", help="drop and reload the benchmark database")
    p.add_argument("--seed", type=int, default=None, help="seed of the sample generator")
    p.add_argument("--skip-exact", action="store_true", help="do not time the event-log computation")


def _provision(url: str, cases: int, rebuild: bool, seed: int | None) -> dict | None:
    """Make sure the database at ``url`` holds the sample district with ``cases`` played cases;
    returns the load's timings when it had to be (re)built, else None."""
    import os

    from db import cluster
    from db.migrate import upgrade

    if not os.environ.get("DATABASE_URL"):
        cluster.start()
    u = make_url(url)
    name = u.database
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
    have = None
    if exists and not rebuild:
        eng = create_engine(url)
        try:
            with eng.connect() as c:
                have = c.execute(text("SELECT count(*) FROM cases")).scalar()
        except Exception:  # noqa: BLE001 - an unmigrated or broken database is rebuilt
            have = None
        eng.dispose()
    if have == cases:
        upgrade(url)
        admin.dispose()
        return None
    print(f"building {name} with {cases:,} cases (minutes at 1,000,000) ...", flush=True)
    admin.dispose()
    cluster.drop_database(url)  # and its pg_cron jobs
    cluster.ensure_database(url)
    upgrade(url)
    from sample_data.load import load_sample

    eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE} -c work_mem=256MB"})
    t = time.perf_counter()
    with eng.begin() as c:
        kw = {"seed": seed} if seed is not None else {}
        out = load_sample(c, cases=cases, **kw)
    load_s = time.perf_counter() - t
    hist = out.get("history") or {}
    print(f"loaded in {load_s:.0f} s (history {hist.get('seconds', '?')} s, "
          f"{hist.get('events', '?'):,} events)" if isinstance(hist, dict) else f"loaded: {hist}", flush=True)
    eng.dispose()
    auto = create_engine(url, isolation_level="AUTOCOMMIT")
    with auto.connect() as c:
        c.execute(text("VACUUM ANALYZE"))
    auto.dispose()
    return {"load_s": round(load_s, 1), "history_s": hist.get("seconds") if isinstance(hist, dict) else None,
            "reports_copy_s": out.get("seconds_reports_copy"),
            "events": hist.get("events") if isinstance(hist, dict) else None}



def _same(a: list[dict], b: list[dict]) -> bool:
    """Equal tables, floats up to rounding (sums of working hours add up in another order)."""
    import math

    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(
            math.isclose(x[k], y[k], rel_tol=1e-9) if isinstance(x[k], float) and isinstance(y[k], float) else x[k] == y[k]
            for k in x) for x, y in zip(a, b))


# name → the grouping of the table (or "trend": the page's weekly trend) and its filters (filled
# from the data by _filter_values): every grouping of the charts page under each kind of filter
FILTER_SETS = {
    "category": ("subdistrict", ("category_code",)),
    "level_grid": ("subdistrict", ("level=grid",)),
    "level_district": ("subdistrict", ("level=district",)),
    "channel_grid_worker": ("subdistrict", ("channel=grid_worker",)),
    "channel_hotline": ("subdistrict", ("channel=hotline",)),
    "department": ("subdistrict", ("department_id",)),
    "subdistrict": ("community", ("subdistrict_id",)),
    "community": ("community", ("community_id",)),
    "subdistrict+category": ("community", ("subdistrict_id", "category_code")),
    "category+level+channel": ("subdistrict", ("category_code", "level=grid", "channel=grid_worker")),
    "department+level": ("subdistrict", ("department_id", "level=district")),
    "by_department_in_subdistrict": ("department", ("subdistrict_id",)),
    "by_department+channel": ("department", ("channel=hotline",)),
    "by_department+category": ("department", ("category_code",)),
    "all_six": ("subdistrict", ("subdistrict_id", "department_id", "category_code", "level=grid", "channel=grid_worker")),
    # tables by grid or person under a filter (the event log before the group roll-up, migration 0021)
    "by_grid+channel": ("grid", ("channel=hotline",)),
    "by_grid+level": ("grid", ("level=grid",)),
    "by_grid+category": ("grid", ("category_code",)),
    "by_grid_in_subdistrict+department": ("grid", ("subdistrict_id", "department_id")),
    "by_person_in_subdistrict+level": ("person", ("subdistrict_id", "level=district")),
    "by_person+channel": ("person", ("channel=grid_worker",)),
    "by_person+category": ("person", ("category_code",)),
    # two filters beside the area: case_stat_one's pairs (level, channel, department; migration
    # 0025), or with a category the fine roll-up (case_stat_group: the category leads its key)
    "by_grid+level+channel": ("grid", ("level=grid", "channel=grid_worker")),
    "by_grid+channel+department": ("grid", ("channel=hotline", "department_id")),
    "by_person+level+department": ("person", ("level=district", "department_id")),
    "by_person+category+channel": ("person", ("category_code", "channel=hotline")),
    # three filters by grid: the fine roll-up, every grid row of the period
    "by_grid+level+channel+department": ("grid", ("level=district", "channel=hotline", "department_id")),
    # the weekly trend under filters
    "trend_category": ("trend", ("category_code",)),
    "trend_level+channel": ("trend", ("level=grid", "channel=grid_worker")),
    "trend_subdistrict+department": ("trend", ("subdistrict_id", "department_id")),
    "trend_all_six": ("trend", ("subdistrict_id", "department_id", "category_code", "level=grid", "channel=grid_worker")),
}
SLOW_S = 3.0  # a combination whose first run takes longer is timed by one more run only
PERIODS = ("month", "last30", "mid30")


def periods(c) -> dict[str, tuple]:
    """[start, end) of each of ``PERIODS``: the last whole month in the data, the 30 days up to the
    data's last day, and the 30 days from the 16th of the month before that day's month."""
    last = c.execute(text("SELECT local_day(max(reported_at)) FROM cases")).scalar_one()
    start = (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    mid = start.replace(day=16)
    return {"month": (start, (start + timedelta(days=32)).replace(day=1)),
            "last30": (last - timedelta(days=29), last + timedelta(days=1)),
            "mid30": (mid, mid + timedelta(days=30))}


def run_combination(c, by: str, kw: dict, s0, s1):
    """The table ``by`` a group, or the weekly trend (``by`` "trend"), for [s0, s1) under ``kw``."""
    from stats.indicators import indicators, trend

    if by == "trend":
        return trend(c, start=s0, end=s1, freq="week", **kw)
    return indicators(c, start=s0, end=s1, by=by, **kw)


def agrees_with_event_log(c, by: str, kw: dict, s0, s1) -> bool:
    """The fast figures equal the event log's: the table with its total row, or each week of the
    trend against the exact table of that week (the trend's state columns as the week ends)."""
    from stats.indicators import indicators, trend

    if by != "trend":
        return _same(indicators(c, start=s0, end=s1, by=by, total=True, **kw),
                     indicators(c, start=s0, end=s1, by=by, total=True, exact=True, **kw))
    cols = ("registered", "closed", "due", "closure_rate", "on_time_rate", "open", "overdue")
    for row in trend(c, start=s0, end=s1, freq="week", **kw).to_dict("records"):
        p0 = row["period"]
        p1 = min(s1, p0 + timedelta(days=7 - p0.weekday()))
        want = indicators(c, start=max(p0, s0), end=p1, by="subdistrict", total=True, exact=True, **kw)[-1]
        got = {k: (None if isinstance(row[k], float) and row[k] != row[k] else row[k]) for k in cols}
        if not _same([got], [{k: want[k] for k in cols}]):
            return False
    return True


def filtered_timings(c, values: dict, spans: dict[str, tuple], repeat: int) -> dict[tuple[str, str], float]:
    """{(combination, period): best seconds} for every ``FILTER_SETS`` entry and period."""
    out = {}
    for name, (by, spec) in FILTER_SETS.items():
        kw = _filters(spec, values)
        for period, (s0, s1) in spans.items():
            def run(s0=s0, s1=s1, by=by, kw=kw):
                run_combination(c, by, kw, s0, s1)
                c.rollback()

            t = time.perf_counter()
            run()
            first = time.perf_counter() - t
            # a slow first run is run once more (the first may have read the roll-up from disk)
            out[name, period] = min(first, best_of(run, 1 if first > SLOW_S else repeat))
    return out


def _filter_values(c) -> dict:
    """The busiest subdistrict, community, department and category of the data."""
    def top(sql):
        return c.execute(text(sql + " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar()
    return {"subdistrict_id": top("SELECT subdistrict_id FROM cases WHERE subdistrict_id IS NOT NULL"),
            "community_id": top("SELECT community_id FROM cases WHERE community_id IS NOT NULL"),
            "department_id": top("SELECT department_id FROM cases WHERE department_id IS NOT NULL"),
            "category_code": top("SELECT category_code FROM cases WHERE category_code IS NOT NULL")}


def _filters(spec: tuple[str, ...], values: dict) -> dict:
    out = {}
    for item in spec:
        k, _, v = item.partition("=")
        out[k] = v if v else values[k]
    return out


def main(args) -> int:
    from stats.indicators import indicators

    if args.cases < 1:
        raise ValueError("--cases must be at least 1")
    url = bench_url()
    _provision(url, args.cases, args.rebuild, args.seed)
    eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
    with eng.connect() as c:
        if args.month:
            start = datetime.strptime(args.month, "%Y-%m").date()
        else:
            last = c.execute(text("SELECT local_day(max(reported_at)) FROM cases")).scalar_one()
            start = (last.replace(day=1) - timedelta(days=1)).replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        n = c.execute(text("SELECT count(*) FROM cases")).scalar_one()
        # a partitioned table (cases, migration 0024) is the sum of its partitions
        sizes = {t: int(c.execute(text("SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) "
                                       "FROM pg_partition_tree(to_regclass(:t))), pg_total_relation_size(to_regclass(:t)))"),
                                  {"t": t}).scalar() or 0)
                 for t in ("cases", "case_stat_cut", "case_stat_group", "case_stat_one")}
        rows_one = dict(c.execute(text("SELECT grain, count(*) FROM case_stat_one GROUP BY 1")).all()) \
            if sizes["case_stat_one"] else {}
        mark = c.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar() if sizes["case_stat_one"] else None
        plan = next((r.strip().removeprefix("->").strip().split("  (")[0]
                     for r in c.execute(text("EXPLAIN SELECT count(*) FROM cases")).scalars() if "Scan" in r), "?")
        c.rollback()

        def count():
            c.execute(text("SELECT count(*) FROM cases")).scalar_one()
            c.rollback()

        def table():
            indicators(c, start=start, end=end, by="subdistrict")
            c.rollback()

        count(), table()  # warm the caches alike
        t_count = best_of(count, args.repeat)
        t_ind = best_of(table, args.repeat)
        values = _filter_values(c)
        c.rollback()
        spans = periods(c)
        spans["month"] = (start, end)
        c.rollback()
        timed = filtered_timings(c, values, spans, args.repeat)
        slowest = max(timed, key=timed.get)
        slow_name, slow_period = slowest
        by, spec = FILTER_SETS[slow_name]
        filtered_agrees = None
        if not args.skip_exact:
            kw = _filters(spec, values)
            s0, s1 = spans[slow_period]
            filtered_agrees = agrees_with_event_log(c, by, kw, s0, s1)
            c.rollback()
            if not filtered_agrees:
                print(f"WARNING: the filtered roll-up and the event log disagree for {slow_name} ({slow_period})", flush=True)
        rows = indicators(c, start=start, end=end, by="subdistrict", total=True)
        c.rollback()
        t_exact = None
        if not args.skip_exact:
            t = time.perf_counter()
            exact = indicators(c, start=start, end=end, by="subdistrict", total=True, exact=True)
            t_exact = time.perf_counter() - t
            c.rollback()
            if not _same(exact, rows):
                print("WARNING: the roll-up and the event log disagree", flush=True)
    eng.dispose()
    tot = rows[-1]
    print(f"cases={n}")
    print(f"month={start:%Y-%m}  registered={tot['registered']} closed={tot['closed']} "
          f"closure_rate={tot['closure_rate']:.3f} on_time_rate={tot['on_time_rate']:.3f}")
    print(f"count_plan={plan}")
    print("table_mb " + "  ".join(f"{t}={b / 2 ** 20:.0f}" for t, b in sizes.items())
          + f"  group_to_cases={sizes['case_stat_group'] / max(1, sizes['cases']):.2f}"
          + f"  one_to_cases={sizes['case_stat_one'] / max(1, sizes['cases']):.2f}")
    if rows_one:
        print(f"case_stat_one_rows day={rows_one.get('day', 0)} month={rows_one.get('month', 0)} folded_before={mark}")
    print(f"count_ms={t_count * 1000:.1f}")
    if t_exact is not None:
        print(f"indicators_exact_ms={t_exact * 1000:.0f}  (same table straight from case_event, for information)")
    print(f"indicators_ms={t_ind * 1000:.1f}")
    print(f"indicators_ratio={t_ind / t_count:.2f}")
    for name in FILTER_SETS:
        print(f"filtered_ms[{name}]=" + "  ".join(f"{p}={timed[name, p] * 1000:.1f}" for p in spans))
    for p in spans:
        print(f"filtered_{p}_ratio={max(t for (_, q), t in timed.items() if q == p) / t_count:.2f}")
    print(f"filtered_slowest={slow_name}@{slow_period}" + ("" if filtered_agrees is None else f"  equals_event_log={filtered_agrees}"))
    print(f"filtered_ratio={timed[slowest] / t_count:.2f}")
    return 0
