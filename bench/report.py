"""``bench report``: one report inserted and assigned by the trigger, one statement each.

Inserts ``--reports`` single reports (each its own INSERT and its own commit, as a phone's report
would be) into ``cases``, where the ``cases_assign_grid`` trigger stamps grid, community,
subdistrict and boundary version; and, interleaved with them, the same rows into a trigger-less
table of the same shape (``LIKE cases`` with its defaults, checks and indexes, no triggers or
foreign keys). Prints the medians ``report_ms`` (target ≤ 1 ms) and ``bare_ms``, and last
``report_ratio`` = report_ms / bare_ms. The inserted reports are deleted again.
"""
from __future__ import annotations

import random
import statistics
import time

from sqlalchemy import text

from bench.join import bench_engine
from db.config import STORAGE_SRID

INSERT_CASE = ("INSERT INTO cases(channel, category_code, description, received_x, received_y, received_crs, geom) "
               f"VALUES ('grid_worker', '0102', 'bench report', %s, %s, 'WGS84', ST_SetSRID(ST_MakePoint(%s, %s), {STORAGE_SRID})) "
               "RETURNING id")
INSERT_BARE = ("INSERT INTO bench_cases_bare(case_no, channel, category_code, description, received_x, received_y, "
               "received_crs, geom, outside_jurisdiction) VALUES (%s, 'grid_worker', '0102', 'bench report', %s, %s, "
               f"'WGS84', ST_SetSRID(ST_MakePoint(%s, %s), {STORAGE_SRID}), true) RETURNING id")


def configure(p) -> None:
    p.add_argument("--reports", type=int, default=2000, help="single reports to insert (default 2,000)")
    p.add_argument("--seed", type=int, default=7, help="seed for the report locations")


def main(args) -> int:
    if args.reports < 1:
        raise ValueError("--reports must be at least 1")
    eng = bench_engine()
    with eng.begin() as c:
        x0, y0, x1, y1 = c.execute(text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM district WHERE code = '211103'")).one()
        c.execute(text("DROP TABLE IF EXISTS bench_cases_bare"))
        c.execute(text("CREATE TABLE bench_cases_bare (LIKE cases INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                       "INCLUDING INDEXES)"))
    rnd = random.Random(args.seed)
    points = [(x0 + rnd.random() * (x1 - x0), y0 + rnd.random() * (y1 - y0)) for _ in range(args.reports)]
    raw = eng.raw_connection()
    report_ms, bare_ms, ids = [], [], []
    try:
        raw.autocommit = True  # each report is its own transaction, committed
        cur = raw.cursor()
        cur.execute("SELECT 1")
        for k, (x, y) in enumerate(points):
            t = time.perf_counter()
            cur.execute(INSERT_CASE, (x, y, x, y))
            report_ms.append((time.perf_counter() - t) * 1000)
            ids.append(cur.fetchone()[0])
            t = time.perf_counter()
            cur.execute(INSERT_BARE, (f"bench{k}", x, y, x, y))
            bare_ms.append((time.perf_counter() - t) * 1000)
        cur.execute("SELECT count(*) FROM cases WHERE id = ANY(%s) AND NOT outside_jurisdiction", (ids,))
        inside = cur.fetchone()[0]
        cur.execute("DROP TABLE bench_cases_bare")
        left = _delete_reports(cur, ids)
    finally:
        raw.close()
    report, bare = statistics.median(report_ms), statistics.median(bare_ms)
    print(f"reports={args.reports}")
    print(f"reports_inside={inside}")
    print(f"report_ms={report:.3f}")
    print(f"report_p95_ms={sorted(report_ms)[int(0.95 * (len(report_ms) - 1))]:.3f}")
    print(f"bare_ms={bare:.3f}")
    if left:
        print(f"note: the {left} bench reports (description 'bench report') were left in gridgov_bench")
    print(f"report_ratio={report / bare:.2f}")
    return 0


def _delete_reports(cur, ids: list[int]) -> int:
    """Delete the bench reports; returns how many were left.

    A plain DELETE checks ``cases.duplicate_of`` (not indexed) once per row: minutes on a million
    cases. Nothing refers to rows just inserted, which one set-based check confirms, so the
    per-row foreign-key triggers are skipped (replica role, superuser only); otherwise the rows stay.
    """
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    if not cur.fetchone()[0]:
        return len(ids)
    cur.execute("BEGIN")
    cur.execute("SELECT id FROM cases WHERE id = ANY(%s) FOR UPDATE", (ids,))
    cur.execute("""SELECT EXISTS (SELECT 1 FROM case_event WHERE case_id = ANY(%(i)s))
                       OR EXISTS (SELECT 1 FROM case_department WHERE case_id = ANY(%(i)s))
                       OR EXISTS (SELECT 1 FROM case_presence WHERE case_id = ANY(%(i)s))
                       OR EXISTS (SELECT 1 FROM cases WHERE duplicate_of = ANY(%(i)s))""", {"i": ids})
    if cur.fetchone()[0]:
        cur.execute("ROLLBACK")
        return len(ids)
    cur.execute("SET LOCAL session_replication_role = replica")
    cur.execute("DELETE FROM cases WHERE id = ANY(%s)", (ids,))
    cur.execute("COMMIT")
    return 0
