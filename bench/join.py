"""``bench join --points N``: the project's bulk point→grid statement against the raw join.

Both run in the same session on the same N random points (the sample district's bounding box,
GiST-indexed) and are materialised the same way (CREATE TEMP TABLE … AS). The project statement
is ``gis.assign.bulk_assign_sql`` (covers rule, lowest-code tie-break, grid/community/subdistrict
ids); the raw one is the best-orientation PostGIS join with no tie-break and no parents:

    SELECT p.id, gv.id FROM grid_version gv JOIN pts p ON ST_Intersects(gv.geom, p.geom)
    WHERE gv.valid_to IS NULL

Each is run ``--repeat`` times, alternating, and the best time counts. Last line:
``join_ratio=X`` = project rate / raw rate (target ≥ 0.8 at N = 1,000,000).

The benchmark database ``gridgov_bench`` (same server as the app's) is created, migrated and
given the sample district on first use.
"""
from __future__ import annotations

import time

from sqlalchemy import text

from bench import common

BENCH_DB = "gridgov_bench"
RAW_SQL = ("SELECT p.id AS point_id, gv.id AS grid_version_id FROM grid_version gv "
           "JOIN bench_pts p ON ST_Intersects(gv.geom, p.geom) WHERE gv.valid_to IS NULL")


def bench_url() -> str:
    """The benchmark database on the app's server: ``gridgov_bench``."""
    return common.bench_url(BENCH_DB)


def bench_engine():
    """``gridgov_bench`` with the sample district (no cases)."""
    return common.bench_engine(BENCH_DB, cases=0)


def configure(p) -> None:
    p.add_argument("--points", type=int, default=1_000_000, help="random points to assign (default 1,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each statement; the best counts (default 3)")
    p.add_argument("--seed", type=float, default=0.42, help="setseed() value for the points")


def main(args) -> int:
    from db.config import STORAGE_SRID
    from gis.assign import bulk_assign_sql

    if args.points < 1:
        raise ValueError("--points must be at least 1")
    eng = bench_engine()
    with eng.connect() as c:
        tx = c.begin()
        x0, y0, x1, y1 = c.execute(text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM district WHERE code = '211103'")).one()
        t = time.perf_counter()
        c.execute(text("SELECT setseed(:s)"), {"s": args.seed})
        c.execute(text(f"CREATE TEMP TABLE bench_pts (id integer NOT NULL, geom geometry(Point, {STORAGE_SRID}) NOT NULL)"))
        c.execute(text(
            f"INSERT INTO bench_pts SELECT i, ST_SetSRID(ST_MakePoint(:x0 + random() * :dx, :y0 + random() * :dy), {STORAGE_SRID}) "
            "FROM generate_series(1, :n) AS i"), {"x0": x0, "y0": y0, "dx": x1 - x0, "dy": y1 - y0, "n": args.points})
        c.execute(text("CREATE INDEX ON bench_pts USING gist (geom)"))
        c.execute(text("ANALYZE bench_pts"))
        print(f"points={args.points}")
        print(f"setup_s={time.perf_counter() - t:.2f}")
        best = {"project": float("inf"), "raw": float("inf")}
        rows = {}
        statements = {"project": bulk_assign_sql("bench_pts"), "raw": RAW_SQL}
        for _ in range(max(1, args.repeat)):
            for name, sql in statements.items():
                t = time.perf_counter()
                c.execute(text(f"CREATE TEMP TABLE bench_out AS {sql}"))
                best[name] = min(best[name], time.perf_counter() - t)
                rows[name] = c.execute(text("SELECT count(*), count(DISTINCT point_id) FROM bench_out")).one()
                c.execute(text("DROP TABLE bench_out"))
        tx.rollback()
    inside, distinct = rows["project"]
    if inside != distinct or distinct != rows["raw"][1]:
        raise RuntimeError(f"the project statement gave {inside} rows for {distinct} points; raw join saw "
                           f"{rows['raw'][1]} points: not one grid per point")
    project_rate, raw_rate = args.points / best["project"], args.points / best["raw"]
    print(f"points_inside={distinct}")
    print(f"raw_pairs={rows['raw'][0]}")
    print(f"project_s={best['project']:.3f}")
    print(f"raw_s={best['raw']:.3f}")
    print(f"project_rate={project_rate:.0f}")
    print(f"raw_rate={raw_rate:.0f}")
    print(f"join_ratio={project_rate / raw_rate:.3f}")
    return 0
