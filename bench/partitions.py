"""``bench partitions``: the wall's, the dispatch desk's and the charts' queries as months of
closed history are added to the month-partitioned case and event tables (issue 12 §6, migration
0024), against the same data in plain tables, in one run.

    python manage.py bench partitions [--months 6,12,24] [--per-month 20000] [--base 20000]
                                      [--repeat 5] [--rebuild]

Two databases: ``gridgov_bench_partitions`` (at head: partitioned) holds the sample district
with ``--base`` reports over the 61 days before now, played forward (the open set: the same at
every step); ``gridgov_bench_partitions_plain`` is a copy of it made after that load, migrated
down to before 0024 and then given every later migration but the partitions' own (0024, 0027) again
(plain tables with the same roll-ups and indexes: the baseline). Then, step by step, the same closed history
is added to both until they hold each of ``--months`` months: month k (k = 1, 2, …) is a copy
of ``--per-month`` closed cases of the base with their whole event histories, every timestamp
moved k + 2 months back (written the bulk way: ``session_replication_role = replica``; the
roll-ups are rebuilt once per step, as after any bulk load). After each step, in the same run,
on both databases, best of ``--repeat`` (the wall's: median, as ``bench wall``):

- ``wall_query_ms``: the database part of a desk wall refresh (as ``bench wall``, server side:
  the map's open cases, the tiles, the ticker, the month's rates);
- ``desk_ms``: what a dispatch desk rerun reads for the district's dispatcher (queue counts, the
  sorting queue, the overdue list);
- ``case_ms``: one case's detail panel with its timeline (``dispatch.queries.case_detail``), the
  oldest closed case of the base;
- ``charts_ms``: this month's indicator table by subdistrict (the roll-up);
- ``charts_filtered_ms``: the slowest of the charts page's filter combinations this month (tables
  and the weekly trend, ``bench indicators``' ``FILTER_SETS``);
- ``charts_exact_ms``: this month's indicator table computed from the event log (the check the
  roll-ups are held to, not a page's query: it reads every earlier event of the cases it
  touches, so it grows with history by design);
- ``wall_plan_ms``, ``desk_plan_ms``, ``case_plan_ms``: the planning time alone of the statements
  of one wall refresh, one desk rerun and one case panel (``EXPLAIN (SUMMARY)`` of each statement
  as it was sent);
- ``wall_plan_partition_scans``, ``desk_plan_partition_scans``, ``case_plan_partition_scans``: how many month (or DEFAULT)
  partitions those plans scan — a count the machine's load cannot blur;
- ``dups_ms``, ``dups_plan_partition_scans``: the panel's list of the case's duplicates as it is read
  (``case_key`` by ``duplicate_of`` where partitioned; ``cases`` on the plain tables), planned and
  run; ``dups_unbounded_ms``, ``dups_unbounded_plan_partition_scans``: the same list read from
  ``cases`` by ``duplicate_of`` (how the panel read it before ``case_key`` carried it: any month
  may hold a duplicate, so every month is planned and read), in the same minutes;
- ``count_all_ms``: a bare ``count(*)`` of the case table — it grows with the history, and
  shows the history is there.

Last lines: for each figure ``<figure>_flat`` (last step / first step, partitioned) and
``<figure>_vs_plain_<m>`` (partitioned / plain at step m), ``<figure>_flat_vs_plain`` (the flat
ratio with each step divided by the plain tables' figure of the same minutes: what is left of
it when the machine's load changes between steps); ``partitions_flat_ratio`` and
``partitions_vs_plain_ratio``, the largest of those over the page queries (wall, desk, charts,
filtered charts). Targets: both ≤ 1.2.
"""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from bench.common import best_of, best_rolled_back
from db.config import TIME_ZONE

BENCH_DB = "gridgov_bench_partitions"
PLAIN_DB = BENCH_DB + "_plain"
BUILDING = PLAIN_DB + "_building"
TIMED = ("wall_query_ms", "desk_ms", "case_ms", "charts_ms", "charts_filtered_ms", "charts_exact_ms", "wall_plan_ms",
         "desk_plan_ms", "case_plan_ms", "dups_ms", "dups_unbounded_ms", "count_all_ms")
SCANS = ("wall_plan_partition_scans", "desk_plan_partition_scans", "case_plan_partition_scans",
         "dups_plan_partition_scans", "dups_unbounded_plan_partition_scans")
PAGES = ("wall_query_ms", "desk_ms", "case_ms", "charts_ms", "charts_filtered_ms")  # what the targets are about
PARTITION_REVISIONS = ("0024", "0027")  # what the plain baseline leaves out: the partitioning and its upkeep
ID_STEP = 1_000_000_000  # copy k of case id i is i + k * ID_STEP (events: i + k * 10 * ID_STEP)


def configure(p) -> None:
    p.add_argument("--months", default="6,12,24", help="months of closed history at each step (default 6,12,24)")
    p.add_argument("--per-month", type=int, default=20000, help="closed cases per month of history (default 20000)")
    p.add_argument("--base", type=int, default=20000, help="cases of the recent 61 days, the open set (default 20000)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each timed query (default 5)")
    p.add_argument("--rebuild", action="store_true", help="drop and rebuild the benchmark databases")
    p.add_argument("--skip-exact", action="store_true", help="skip charts_exact_ms (seconds per run; not a page's query)")


def bench_url(name: str = BENCH_DB) -> str:
    from db.config import owner_database_url

    return make_url(owner_database_url()).set(database=name).render_as_string(hide_password=False)


def _columns(c, table: str) -> list[tuple[str, str]]:
    return [tuple(r) for r in c.execute(text(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
        "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"), {"t": table}).all()]


def _history_months(c) -> int:
    return c.execute(text(f"SELECT COALESCE(max(id / {ID_STEP}), 0) FROM cases WHERE id >= {ID_STEP}")).scalar_one()


def add_month(c, k: int, per_month: int) -> int:
    """Copy ``per_month`` closed base cases and their events ``k + 2`` months back; returns the count.
    Every time of a copy moves by the same number of days (the days in ``k + 2`` months before today):
    ``- interval 'N months'`` clamps month ends (31 Oct and 30 Oct both become 28 Feb), so a case's
    times lost their order and the cases' checks refused the copy (seen on 2 December)."""
    days = c.execute(text(f"SELECT current_date - (current_date - interval '{k + 2} months')::date")).scalar_one()
    shift = f"interval '{int(days)} days'"

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


def _provision(args) -> bool:
    """The partitioned database (loaded when missing); whether it was (re)built."""
    from bench.indicators import _provision as provision_sample

    return provision_sample(bench_url(), args.base, args.rebuild, None) is not None


def _make_plain(fresh: bool) -> None:
    """The baseline: a copy of the partitioned database with plain tables and every other migration."""

    from db.schedule import schedule_maintenance, unschedule

    admin = create_engine(make_url(bench_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PLAIN_DB}).scalar()
            if exists and not fresh:
                return
            print(f"copying {BENCH_DB} to {PLAIN_DB} and migrating it below 0024 ...", flush=True)
            c.execute(text(f'DROP DATABASE IF EXISTS "{PLAIN_DB}" WITH (FORCE)'))
            c.execute(text(f'DROP DATABASE IF EXISTS "{BUILDING}" WITH (FORCE)'))
            c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{BENCH_DB}' "
                           "AND pid <> pg_backend_pid()"))
            c.execute(text(f'CREATE DATABASE "{BUILDING}" TEMPLATE "{BENCH_DB}"'))
        _unpartition(bench_url(BUILDING))
        unschedule(bench_url(BUILDING))  # pg_cron's jobs name the database: given again under the new name
        with admin.connect() as c:  # named as the baseline only once whole (a cut run leaves none half-made)
            c.execute(text(f'ALTER DATABASE "{BUILDING}" RENAME TO "{PLAIN_DB}"'))
    finally:
        admin.dispose()
    schedule_maintenance(bench_url(PLAIN_DB))


def _unpartition(url: str) -> None:
    """Plain tables with every other migration (``_make_plain``) in the database at ``url``."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config, downgrade

    script = ScriptDirectory.from_config(alembic_config(url))
    downgrade(url, script.get_revision("0024").down_revision)
    # every later migration but the partitions' own, applied again over the plain tables (0025's
    # case_stat_one and 0028's index are what the charts read): the baseline differs in the
    # partitioning alone. alembic_version stays below 0024; the app reads which tables exist.
    later = [r for r in reversed(list(script.walk_revisions("0024", "head"))) if r.revision not in PARTITION_REVISIONS]
    eng = create_engine(url)
    try:
        for rev in later:
            print(f"  applying {rev.revision} over the plain tables ...", flush=True)
            with eng.begin() as conn, Operations.context(MigrationContext.configure(conn)):
                rev.module.upgrade()
    finally:
        eng.dispose()
    auto = create_engine(url, isolation_level="AUTOCOMMIT")
    with auto.connect() as c:
        c.execute(text("VACUUM ANALYZE"))
    auto.dispose()


class _Statements:
    """The statements sent through an engine while ``on``, as sent (parameters in place)."""

    def __init__(self, eng):
        self.on, self.sent = False, []
        event.listen(eng, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            self.sent.append(cursor.mogrify(statement, parameters).decode())


def _planned(eng, statements: list[str]) -> tuple[float, int]:
    """Planning time alone of each SELECT (EXPLAIN (SUMMARY): planned, not run), summed; and how
    many scans of a month (or DEFAULT) partition of cases or case_event the plans hold (0 on
    plain tables) — a count the machine's load cannot blur."""
    total, scans = 0.0, 0
    raw = eng.raw_connection()

    def count(node) -> int:
        own = node.get("Relation Name", "").startswith(("cases_", "case_event_"))
        return own + sum(count(child) for child in node.get("Plans", []))
    try:
        cur = raw.cursor()
        for sql in statements:
            head = sql.lstrip().upper()
            if not (head.startswith("SELECT") or head.startswith("WITH")):
                continue
            cur.execute("EXPLAIN (SUMMARY, FORMAT JSON) " + sql)
            plan = cur.fetchone()[0][0]
            total += plan["Planning Time"]
            scans += count(plan["Plan"])
        raw.rollback()
    finally:
        raw.close()
    return total, scans


def _desk(eng):
    from accounts.actors import load_actor
    from dispatch import desk

    with eng.connect() as c:
        pid = c.execute(text("SELECT id FROM person WHERE role = 'dispatcher' AND unit_level = 'district' AND active "
                             "ORDER BY id LIMIT 1")).scalar_one()
        who = load_actor(c, pid)

    def rerun():
        with eng.connect() as c:
            desk.queue_counts(c, actor=who)
            desk.queue_rows(c, queue="awaiting_sorting", actor=who)
            desk.queue_rows(c, queue="overdue", actor=who)
    return rerun


def _case_id(eng) -> int:
    with eng.connect() as c:  # a case of the base (the history's copies have ids from ID_STEP on)
        return c.execute(text(f"SELECT id FROM cases WHERE status = 'closed' AND id < {ID_STEP} "
                              "ORDER BY reported_at, id LIMIT 1")).scalar_one()


def _duplicates(eng, unbounded: bool):
    """The case's duplicates list, as the panel reads it, or from ``cases`` (``unbounded``)."""
    from db.partitions import numbers

    cid = _case_id(eng)

    def read():
        with eng.connect() as c:
            table = "cases" if unbounded else numbers(c)
            c.execute(text(f"SELECT id, case_no, reported_at FROM {table} WHERE duplicate_of = :i "
                           "ORDER BY reported_at, id"), {"i": cid}).all()
    return read


def _case_page(eng):
    from dispatch import queries

    cid = _case_id(eng)

    def show():
        with eng.connect() as c:
            assert queries.case_detail(c, cid) is not None
    return show


def _wall_refresh(eng):
    from datetime import datetime

    from dispatch.calendar import TZ
    from ui.wall_view import DESK_MAP
    from wall.frame import WallFilter, base_map, boundary_stamp, kpis
    from wall.live_map import live_map

    with eng.connect() as c:
        base = base_map(c, "zh")  # cached by the page across refreshes

    def refresh():
        with eng.connect() as c:
            boundary_stamp(c)
            now = datetime.now(TZ)
            live_map(c, WallFilter(), "zh", now, base=base, size=DESK_MAP, outlines_url="app/static/wall/x.json")
            kpis(c, WallFilter(), now)
    return refresh


def measure(eng, repeat: int, skip_exact: bool = False) -> dict:
    from bench.indicators import FILTER_SETS, _filter_values, _filters, run_combination
    from bench.wall import _server_side
    from stats.indicators import indicators

    out = {"wall_query_ms": _server_side(eng, repeat)["query_ms"]}
    desk = _desk(eng)
    desk()
    out["desk_ms"] = best_of(desk, repeat) * 1000
    case = _case_page(eng)
    case()
    out["case_ms"] = best_of(case, repeat) * 1000
    dups = {"dups_ms": _duplicates(eng, False), "dups_unbounded_ms": _duplicates(eng, True)}
    for name, fn in dups.items():
        fn()
        out[name] = best_of(fn, repeat) * 1000
    seen = _Statements(eng)
    for name, fn in (("wall_plan_ms", _wall_refresh(eng)), ("desk_plan_ms", desk), ("case_plan_ms", case),
                     ("dups_plan_ms", dups["dups_ms"]), ("dups_unbounded_plan_ms", dups["dups_unbounded_ms"])):
        fn()  # warm: the connection's first use reads the catalogue
        seen.on, seen.sent = True, []
        fn()
        seen.on = False
        out[name] = statistics.median(_planned(eng, seen.sent)[0] for _ in range(max(1, repeat)))
        out[name.replace("_ms", "_partition_scans")] = _planned(eng, seen.sent)[1]
    with eng.connect() as c:
        today = c.execute(text("SELECT local_day(now())")).scalar_one()
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        values = _filter_values(c)
        c.rollback()

        def run(fn):  # in ms
            return best_rolled_back(c, fn, repeat) * 1000

        out["charts_ms"] = run(lambda: indicators(c, start=start, end=end, by="subdistrict"))
        out["charts_filtered_ms"] = max(  # tables and the weekly trend (by "trend") under filters
            run(lambda by=by, kw=_filters(spec, values): run_combination(c, by, kw, start, end))
            for by, spec in FILTER_SETS.values())
        out["charts_exact_ms"] = float("nan") if skip_exact else run(
            lambda: indicators(c, start=start, end=end, by="subdistrict", exact=True))
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
    built = _provision(args)
    opts = {"options": f"-c timezone={TIME_ZONE} -c work_mem=64MB"}
    eng = create_engine(bench_url(), connect_args=opts)
    with eng.connect() as c:
        if not is_partitioned(c, "cases"):
            raise RuntimeError(f"{BENCH_DB}: the case table is not partitioned (migration 0024 missing?)")
        have = _history_months(c)
    eng.dispose()
    if have > steps[0]:
        raise RuntimeError(f"{BENCH_DB} already holds {have} months of history, more than the first step "
                           f"({steps[0]}): run with --rebuild")
    _make_plain(fresh=built or have == 0)
    engines = {"": create_engine(bench_url(), connect_args=opts),
               "_plain": create_engine(bench_url(PLAIN_DB), connect_args=opts)}
    rows: dict[tuple[int, str], dict] = {}
    try:
        with engines["_plain"].connect() as c:
            if is_partitioned(c, "cases") or _history_months(c) != have:
                raise RuntimeError(f"{PLAIN_DB} does not match {BENCH_DB}: run with --rebuild")
        for m in steps:
            t = time.perf_counter()
            added = 0
            for kind, eng in engines.items():
                with eng.begin() as c:
                    if kind == "":
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
            print(f"--- {m} months of history ({added:,} cases added to each in {time.perf_counter() - t:.0f} s)",
                  flush=True)
            for kind, eng in engines.items():
                rows[m, kind] = measure(eng, args.repeat, args.skip_exact)
                for k, v in rows[m, kind].items():
                    print(f"{k}{kind}[{m}]={v:.2f}" if isinstance(v, float) else f"{k}{kind}[{m}]={v}", flush=True)
    finally:
        for eng in engines.values():
            eng.dispose()
    first, last = rows[steps[0], ""], rows[steps[-1], ""]
    flat, vs_plain = [], []
    for k in TIMED:
        r = last[k] / first[k]
        print(f"{k}_flat={r:.2f}  ({k} {steps[-1]} / {steps[0]} months, partitioned; plain: "
              f"{rows[steps[-1], '_plain'][k] / rows[steps[0], '_plain'][k]:.2f})")
        if k in PAGES:
            flat.append(r)
    for m in steps:
        for k in TIMED:
            r = rows[m, ""][k] / rows[m, "_plain"][k]
            print(f"{k}_vs_plain_{m}={r:.2f}")
            if k in PAGES:
                vs_plain.append(r)
    for k in TIMED:  # the flat ratio with each step measured against the plain tables in the same minutes
        r = (last[k] / rows[steps[-1], "_plain"][k]) / (first[k] / rows[steps[0], "_plain"][k])
        print(f"{k}_flat_vs_plain={r:.2f}")
    for k in SCANS:
        print(f"{k}=" + ",".join(str(rows[m, ""][k]) for m in steps) + f" (at {args.months} months)")
    print(f"cases_ratio_{steps[-1]}_to_{steps[0]}={last['cases'] / first['cases']:.2f}")
    print(f"partitions_flat_ratio={max(flat):.2f}")
    print(f"partitions_vs_plain_ratio={max(vs_plain):.2f}")
    return 0
