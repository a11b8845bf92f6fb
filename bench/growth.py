"""``bench growth``: how the figures grow with the case count (100k, 1M, 3M cases).

    python manage.py bench growth [--sizes 100000,1000000,3000000] [--repeat 5] [--reports 300]
                                  [--rebuild] [--skip-exact] [--out docs/measurements.md]

For each size a database of its own, ``gridgov_bench_growth_<N>`` (same server as the app's; at
1,000,000 the one ``bench indicators`` uses, ``gridgov_bench_indicators``), gets
the sample district with N reports over the 61 days before now, played forward by
``sample_data.history.play_history`` — exactly ``manage.py load-sample --cases N``, which takes
the bulk paths from 20,000 cases on (COPY, grids by the one set-based statement, triggers and
indexes deferred, each case written once in its final state, roll-ups summed once). Databases are reused when they hold N cases already.
The load time is printed when a database is built (``load_s``, ``history_s``).

Measured at each size, in the same run, best or median of ``--repeat``:

- ``report_ms``: the median of ``--reports`` single reports, each its own INSERT and commit,
  assigned by the ``cases_assign_grid`` trigger (as bench report; deleted again);
- ``indicators_ratio`` and ``filtered_ratio``: the month's indicator table by subdistrict, and the
  slowest of the charts page's filter combinations (``bench.indicators.FILTER_SETS``), against a
  bare ``count(*)`` of the case table (as bench indicators);
- ``wall_msg_mb``, ``wall_rerun_ms``, ``wall_query_ms``: the desk wall's chart message (its
  size), its whole server-side refresh and the database part of it (as bench wall, server side);
- ``dispatch_rerun_ms``: the data a dispatch desk rerun reads for the district's dispatcher
  (queue counts, the default queue's rows, the reopen requests), server side: Streamlit's own
  rendering and the wall frame (measured above) are not in it. No browser is started.

The table (one row per size reached) is printed and, with ``--out``, written into that file
between the markers ``<!-- growth:begin -->`` and ``<!-- growth:end -->``. Sizes are run in
order; a size whose build fails (e.g. out of disk) ends the run with what was reached. Last line:
``growth_indicators_ratio_max`` (target ≤ 3 at every size).
"""
from __future__ import annotations

import random
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db.config import TIME_ZONE
from bench.common import best_rolled_back

MARK_BEGIN, MARK_END = "<!-- growth:begin -->", "<!-- growth:end -->"


def configure(p) -> None:
    p.add_argument("--sizes", default="100000,1000000,3000000", help="case counts, comma-separated")
    p.add_argument("--repeat", type=int, default=5, help="runs of each timed query (default 5)")
    p.add_argument("--reports", type=int, default=300, help="single reports timed per size (default 300)")
    p.add_argument("--rebuild", action="store_true", help="drop and reload the growth databases")
    p.add_argument("--skip-exact", action="store_true", help="do not check the slowest filter against the event log")
    p.add_argument("--out", help="write the table into this Markdown file (between the growth markers)")


def _url(n: int) -> str:
    from bench.indicators import BENCH_DB
    from db.config import owner_database_url

    name = BENCH_DB if n == 1_000_000 else f"gridgov_bench_growth_{n}"  # one 1M build for both benchmarks
    return make_url(owner_database_url()).set(database=name).render_as_string(hide_password=False)



def _indicator_ratios(eng, repeat: int, skip_exact: bool) -> dict:
    from bench.indicators import FILTER_SETS, _filter_values, _filters, agrees_with_event_log, filtered_timings, periods
    from stats.indicators import indicators

    with eng.connect() as c:
        last = c.execute(text("SELECT local_day(max(reported_at)) FROM cases")).scalar_one()
        start = (last.replace(day=1) - timedelta(days=1)).replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        values = _filter_values(c)
        c.rollback()

        def run(fn):
            return best_rolled_back(c, fn, repeat)

        t_count = run(lambda: c.execute(text("SELECT count(*) FROM cases")).scalar_one())
        t_ind = run(lambda: indicators(c, start=start, end=end, by="subdistrict"))
        spans = periods(c)
        c.rollback()
        timed = filtered_timings(c, values, spans, repeat)
        slowest = max(timed, key=timed.get)
        agrees = None
        if not skip_exact:
            by, spec = FILTER_SETS[slowest[0]]
            kw = _filters(spec, values)
            s0, s1 = spans[slowest[1]]
            agrees = agrees_with_event_log(c, by, kw, s0, s1)
            c.rollback()
    return {"count_ms": t_count * 1000, "indicators_ms": t_ind * 1000, "indicators_ratio": t_ind / t_count,
            "filtered_ratio": timed[slowest] / t_count, "filtered_slowest": "@".join(slowest), "filtered_agrees": agrees,
            **{f"filtered_{p}_ratio": max(t for (_, q), t in timed.items() if q == p) / t_count for p in spans}}


def _report_ms(eng, reports: int) -> float:
    from bench.report import INSERT_CASE, _delete_reports

    with eng.connect() as c:
        x0, y0, x1, y1 = c.execute(text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM district WHERE code = '211103'")).one()
    rnd = random.Random(7)
    raw = eng.raw_connection()
    ms, ids = [], []
    try:
        raw.autocommit = True
        cur = raw.cursor()
        for _ in range(reports):
            x, y = x0 + rnd.random() * (x1 - x0), y0 + rnd.random() * (y1 - y0)
            t = time.perf_counter()
            cur.execute(INSERT_CASE, (x, y, x, y))
            ms.append((time.perf_counter() - t) * 1000)
            ids.append(cur.fetchone()[0])
        left = _delete_reports(cur, ids)
        if left:
            print(f"note: {left} bench reports (description 'bench report') were left in the database", flush=True)
    finally:
        raw.close()
    return statistics.median(ms)


def _dispatch_rerun_ms(eng, repeat: int) -> float:
    from accounts.actors import load_actor
    from dispatch import desk
    from intake import public

    with eng.connect() as c:
        pid = c.execute(text("SELECT id FROM person WHERE role = 'dispatcher' AND unit_level = 'district' AND active "
                             "ORDER BY id LIMIT 1")).scalar_one()
        who = load_actor(c, pid)
    times = []
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        with eng.connect() as c:
            desk.queue_counts(c, actor=who)
            desk.queue_rows(c, queue="awaiting_sorting", actor=who)
            public.reopen_queue(c, who)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def measure(n: int, args) -> dict:
    from bench.indicators import _provision
    from bench.wall import _server_side

    url = _url(n)
    built = _provision(url, n, args.rebuild, None)
    eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
    try:
        with eng.connect() as c:
            cases, events = c.execute(text("SELECT (SELECT count(*) FROM cases), (SELECT count(*) FROM case_event)")).one()
            open_ = c.execute(text("SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'rejected', 'merged')")).scalar()
        row = {"cases": cases, "events": events, "open": open_}
        if built:
            row.update(built)
        row["report_ms"] = _report_ms(eng, args.reports)
        row.update(_indicator_ratios(eng, args.repeat, args.skip_exact))
        wall = _server_side(eng, args.repeat)
        row.update(wall_msg_mb=wall["deck_msg_mb"], wall_rerun_ms=wall["rerun_ms"], wall_query_ms=wall["query_ms"],
                   wall_open_drawn=wall["open_drawn"])
        row["dispatch_rerun_ms"] = _dispatch_rerun_ms(eng, args.repeat)
    finally:
        eng.dispose()
    return row


COLUMNS = (("cases", "{:,}"), ("events", "{:,}"), ("open", "{:,}"), ("load_s", "{}"), ("history_s", "{}"),
           ("report_ms", "{:.2f}"), ("count_ms", "{:.0f}"), ("indicators_ratio", "{:.2f}"),
           ("filtered_month_ratio", "{:.2f}"), ("filtered_last30_ratio", "{:.2f}"), ("filtered_mid30_ratio", "{:.2f}"),
           ("filtered_ratio", "{:.2f}"), ("filtered_slowest", "{}"), ("wall_msg_mb", "{:.2f}"),
           ("wall_rerun_ms", "{:.0f}"), ("wall_query_ms", "{:.0f}"), ("dispatch_rerun_ms", "{:.0f}"))


def table(rows: list[dict]) -> str:
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join((f.format(r[c]) if r.get(c) is not None else "—") for c, f in COLUMNS) + " |"
            for r in rows]
    return "\n".join([head, rule, *body])


def _write(path: str, rows: list[dict]) -> None:
    p = Path(path)
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    block = f"{MARK_BEGIN}\n_Measured {stamp} by `manage.py bench growth`._\n\n{table(rows)}\n{MARK_END}"
    old = p.read_text(encoding="utf-8") if p.exists() else ""
    if MARK_BEGIN in old and MARK_END in old:
        new = old[:old.index(MARK_BEGIN)] + block + old[old.index(MARK_END) + len(MARK_END):]
    else:
        new = old.rstrip("\n") + "\n\n## Growth (bench growth)\n\n" + block + "\n"
    p.write_text(new, encoding="utf-8")


def main(args) -> int:
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 1:
        raise ValueError("--sizes must be positive case counts, such as 100000,1000000")
    rows = []
    for n in sizes:
        print(f"--- {n:,} cases", flush=True)
        try:
            row = measure(n, args)
        except Exception as e:  # noqa: BLE001 - report what was reached
            print(f"stopped at {n:,} cases: {type(e).__name__}: {e}", flush=True)
            break
        rows.append(row)
        for k, v in row.items():
            print(f"{k}[{n}]={v:.3f}" if isinstance(v, float) else f"{k}[{n}]={v}", flush=True)
    if not rows:
        return 1
    print(table(rows))
    if args.out:
        _write(args.out, rows)
        print(f"written to {args.out}")
    print(f"growth_indicators_ratio_max={max(max(r['indicators_ratio'], r['filtered_ratio']) for r in rows):.2f}")
    return 0
