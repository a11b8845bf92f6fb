"""``bench partitions``: the wall's and the charts' query times as months of closed history are
added to the month-partitioned case and event tables (issue 12 §6, migration 0017).

    python manage.py bench partitions [--months 6,12,24] [--per-month 20000] [--base 20000]
                                      [--repeat 5] [--rebuild]

One database, ``gridgov_bench_partitions``: the sample district with ``--base`` reports over the
61 days before now, played forward (the open set: the same at every step). Then, step by step,
closed history is added until it holds each of ``--months`` months: month k (k = 1, 2, …) is a
copy of ``--per-month`` closed cases of the base with their whole event histories, every
timestamp moved k + 2 months back (written the bulk way: ``session_replication_role = replica``,
so the key table is filled by its set-wise trigger; the roll-ups are rebuilt once per step, as
after any bulk load). After each step, in the same run, best of ``--repeat``:

- ``wall_query_ms``: the database part of a desk wall refresh (as bench wall, server side);
- ``charts_ms``: this month's indicator table by subdistrict (the roll-up);
- ``charts_filtered_ms``: the slowest of the charts page's filter combinations this month;
- ``charts_exact_ms``: this month's indicator table computed from the event log (the
  computation the roll-ups are checked against: it reads the month's partitions);
- ``count_all_ms``: a bare ``count(*)`` of the case table — it grows with the history, and
  shows the history is there.

Last lines: for each figure its ratio last step / first step, and ``partitions_flat_ratio``, the
largest of the wall and charts ratios (flat: near 1; the case count grows 5× from 6 to 24 months
at the defaults).
"""
from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import best_of
from db.config import TIME_ZONE

BENCH_DB = "gridgov_bench_partitions"
TIMED = ("wall_query_ms", "charts_ms", "charts_filtered_ms", "charts_exact_ms", "count_all_ms")
FLAT = ("wall_query_ms", "charts_ms", "charts_filtered_ms", "charts_exact_ms")
ID_STEP = 1_000_000_000  # copy k of case id i is i + k * ID_STEP (events: i + k * 10 * ID_STEP)


def configure(p) -> None:
    p.add_argument("--months", default="6,12,24", help="months of closed history at each step (default 6,12,24)")
    p.add_argument("--per-month", type=int, default=20000, help="closed cases per month of history (default 20000)")
    p.add_argument("--base", type=int, default=20000, help="cases of the recent 61 days, the open set (default 20000)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each timed query (default 5)")
    p.add_argument("--rebuild", action="store_true", help="drop and rebuild the benchmark database")


def bench_url() -> str:
    from db.config import owner_database_url

    return make_url(owner_database_url()).set(database=BENCH_DB).render_as_string(hide_password=False)


def _columns(c, table: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in c.execute(text(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
        "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"), {"t": table}).all()]


def _history_months(c) -> int:
    return c.execute(text(f"SELECT COALESCE(max(id / {ID_STEP}), 0) FROM case_key WHERE id >= {ID_STEP}")).scalar_one()


def add_month(c, k: int, per_month: int) -> int:
    """Copy ``per_month`` closed base cases and their events ``k + 2`` months back; returns the count."""
    shift = f"interval '{k + 2} months'"

    def select(table: str, overrides: dict) -> tuple[str, str]:
        cols = _columns(c, table)
        names = ", ".join(f'"{n}"' for n, _ in cols)
        exprs = ", ".join(overrides.get(n) or (f'"{n}" - {shift}' if t == "timestamp with time zone" else f'"{n}"')
                          for n, t in cols)
        return names, exprs

    c.execute(text(
        f"CREATE TEMP TABLE bench_template ON COMMIT DROP AS SELECT id FROM cases WHERE id < {ID_STEP} "
        f"AND status = 'closed' ORDER BY id LIMIT {int(per_month)}"))
    names, exprs = select("cases", {"id": f"id + {k * ID_STEP}", "case_no": f"'H{k:03d}' || case_no",
                                    "duplicate_of": "NULL"})
    c.execute(text("SET LOCAL session_replication_role = replica"))
    n = c.execute(text(f"INSERT INTO cases ({names}) SELECT {exprs} FROM cases WHERE id IN (SELECT id FROM bench_template)")
                  ).rowcount
    names, exprs = select("case_event", {"id": f"id + {k * 10 * ID_STEP}", "case_id": f"case_id + {k * ID_STEP}"})
    c.execute(text(f"INSERT INTO case_event ({names}) SELECT {exprs} FROM case_event "
                   "WHERE case_id IN (SELECT id FROM bench_template)"))
    c.execute(text("SET LOCAL session_replication_role = origin"))
    c.execute(text("DROP TABLE bench_template"))
    return n


def _provision(args) -> None:
    from bench.indicators import _provision as provision_sample

    provision_sample(bench_url(), args.base, args.rebuild, None)


def measure(eng, repeat: int) -> dict:
    from bench.indicators import FILTER_SETS, _filter_values, _filters
    from bench.wall import _server_side
    from stats.indicators import indicators

    out = {"wall_query_ms": _server_side(eng, repeat)["query_ms"]}
    with eng.connect() as c:
        today = c.execute(text("SELECT local_day(now())")).scalar_one()
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        values = _filter_values(c)
        c.rollback()

        def run(fn):
            def go():
                fn()
                c.rollback()
            go()
            return best_of(go, repeat) * 1000

        out["charts_ms"] = run(lambda: indicators(c, start=start, end=end, by="subdistrict"))
        out["charts_filtered_ms"] = max(
            run(lambda by=by, kw=_filters(spec, values): indicators(c, start=start, end=end, by=by, **kw))
            for by, spec in FILTER_SETS.values())
        out["charts_exact_ms"] = run(lambda: indicators(c, start=start, end=end, by="subdistrict", exact=True))
        out["count_all_ms"] = run(lambda: c.execute(text("SELECT count(*) FROM cases")).scalar_one())
        out["cases"], out["events"] = c.execute(text(
            "SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM case_event)")).one()
        out["partitions"] = c.execute(text(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'cases'::regclass")).scalar_one()
    return out


def main(args) -> int:
    from db.partitions import ensure_partitions, is_partitioned
    from stats.indicators import rebuild_stats

    steps = sorted({int(m) for m in args.months.split(",") if m.strip()})
    if not steps or steps[0] < 1:
        raise ValueError("--months must be positive month counts, such as 6,12,24")
    if args.per_month < 1:
        raise ValueError("--per-month must be at least 1")
    _provision(args)
    eng = create_engine(bench_url(), connect_args={"options": f"-c timezone={TIME_ZONE} -c work_mem=64MB"})
    rows = {}
    try:
        with eng.connect() as c:
            if not is_partitioned(c, "cases"):
                raise RuntimeError(f"{BENCH_DB}: the case table is not partitioned (migration 0017 missing?)")
            have = _history_months(c)
        if have > steps[0]:
            raise RuntimeError(f"{BENCH_DB} already holds {have} months of history, more than the first step "
                               f"({steps[0]}): run with --rebuild")
        for m in steps:
            t = time.perf_counter()
            with eng.begin() as c:
                oldest = c.execute(text("SELECT min(reported_at) FROM cases")).scalar_one()
                ensure_partitions(c, since=oldest - timedelta(days=31 * (m + 3)))
                added = sum(add_month(c, k, args.per_month) for k in range(have + 1, m + 1))
                if added:
                    rebuild_stats(c)
            if added:
                with eng.connect() as c:
                    c.execution_options(isolation_level="AUTOCOMMIT")
                    c.execute(text("ANALYZE"))
            have = m
            print(f"--- {m} months of history ({added:,} cases added in {time.perf_counter() - t:.0f} s)", flush=True)
            rows[m] = measure(eng, args.repeat)
            for k, v in rows[m].items():
                print(f"{k}[{m}]={v:.2f}" if isinstance(v, float) else f"{k}[{m}]={v}", flush=True)
    finally:
        eng.dispose()
    first, last = rows[steps[0]], rows[steps[-1]]
    for k in TIMED:
        print(f"{k}_ratio_{steps[-1]}_to_{steps[0]}={last[k] / first[k]:.2f}")
    print(f"cases_ratio_{steps[-1]}_to_{steps[0]}={last['cases'] / first['cases']:.2f}")
    print(f"partitions_flat_ratio={max(last[k] / first[k] for k in FLAT):.2f}")
    return 0
