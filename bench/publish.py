"""``bench publish``: re-assigning open cases at publish, against the raw join; a one-community publish.

The benchmark database ``gridgov_bench_publish`` holds the sample district and ``--cases``
cases (default 1,000,000) of which every 20th is open (50,000), all inside the district. They
are made directly with generate_series, not by playing history (minutes instead of hours):
random points over the district's bounding box, stamped by the project's bulk statement
(``gis.assign.bulk_assign_sql``) in the same INSERT, with the triggers off for that load only
(``session_replication_role = replica``, as the schema's owner); the first 1,000,000 inside a
grid are kept. They are committed once and reused by later runs (made again if the count differs).

Measured in one session, each ``--repeat`` times, alternating, best time counts, every write
rolled back:

- ``raw``: the best-orientation PostGIS join over the open cases (polygons outer, GiST on the
  cases, no tie-break, no parents, nothing written), materialised like bench join's.
- ``rejoin``: what publish runs, ``reassign_open_cases`` over every open case of the district
  (the polygons-outer join with the lowest-code tie-break and parents, the UPDATE of cases
  whose grid differs, one ``regrid`` event each, the triggers on), after a tenth of the open
  cases were put in a wrong grid (committed once; so it moves 5,000 cases and writes their
  events); ``rejoin_steady`` the same statement again right after, with nothing left to move
  (the join and the comparison only).
  ``rejoin_ratio`` = open cases per second of rejoin / of raw (target ≥ 0.8).
  ``rejoin_cpu_ratio``: the same from the server process's CPU time (``/proc/<pid>/schedstat``,
  only when the server runs on this machine), which a loaded machine disturbs less than the
  clock: the two agree on a quiet machine.
- ``publish_s``: ``planning.publish.publish`` of a one-community redraw (two adjacent grids of
  the community with the most grids merged: one redrawn, one retired), from the draft to the
  applied change with its cases moved and events written (the merge leaves a responsibility
  grid empty, a warning: published with a reason); ``impact_s`` the preview of the same.

docs/planning.md ("Where a publish's seconds go") splits these figures by part of the statement.

``--parts`` (issue 10, session 6) then splits the re-assignment into its parts and the floors of
other designs, each statement alone in its own rolled-back transaction, alternating, best CPU
time of ``--repeat`` (docs/planning.md, *Can the re-assignment reach 0.8 of the raw join?*): the
join and comparison (a copy of ``reassign_open_cases``' CTEs, into a temporary table of the
moves), the rest placed polygons-outer instead, the UPDATE of the moved cases (triggers on,
off, with the four indexes holding a grid column dropped, with only the primary key), the
``regrid`` events (triggers on, foreign-key checks off, roll-ups off, all off), a narrow side
table of the moves instead of the case row, and, once, the UPDATE when it can be HOT (those
four indexes dropped, ``fillfactor`` 90, the table rewritten by CLUSTER: ~40 s more).
"""
from __future__ import annotations

import time

from sqlalchemy import text

from bench import common

BENCH_DB = "gridgov_bench_publish"
OPEN_EVERY = 20
OPEN = "status NOT IN ('closed', 'rejected', 'merged')"
RAW_SQL = ("SELECT p.id AS point_id, gv.id AS grid_version_id FROM grid_version gv "
           f"JOIN cases p ON ST_Intersects(gv.geom, p.geom) WHERE gv.valid_to IS NULL AND p.{OPEN}")


def configure(p) -> None:
    p.add_argument("--cases", type=int, default=1_000_000, help="cases in the database (default 1,000,000)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each statement; the best counts (default 3)")
    p.add_argument("--seed", type=float, default=0.42, help="setseed() value for the points")
    p.add_argument("--parts", action="store_true",
                   help="also time the re-assignment's parts and other designs' floors (docs/planning.md)")


def _make_cases(eng, n: int, seed: float) -> None:
    from db.config import STORAGE_SRID
    from gis.assign import bulk_assign_sql

    with eng.connect() as c:
        have = c.execute(text("SELECT count(*), count(*) FILTER (WHERE " + OPEN + ") FROM cases")).one()
    if tuple(have) == (n, n // OPEN_EVERY):
        return
    print(f"making {n} cases ({n // OPEN_EVERY} open) in {BENCH_DB} ...", flush=True)
    t = time.perf_counter()
    with eng.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off for this load only
        c.execute(text("DELETE FROM case_event"))
        c.execute(text("DELETE FROM cases"))
        c.execute(text("DELETE FROM case_stat_day"))
        x0, y0, x1, y1 = c.execute(text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM district WHERE code = '211103'")).one()
        c.execute(text("SELECT setseed(:s)"), {"s": seed})
        c.execute(text(f"CREATE TEMP TABLE bench_pts ON COMMIT DROP AS SELECT i AS id, "
                       f"ST_SetSRID(ST_MakePoint(:x0 + random() * :dx, :y0 + random() * :dy), {STORAGE_SRID}) AS geom, "
                       "now() - random() * interval '180 days' AS at FROM generate_series(1, :m) AS i"),
                  {"x0": x0, "y0": y0, "dx": x1 - x0, "dy": y1 - y0, "m": int(n * 2)})
        c.execute(text("CREATE INDEX ON bench_pts USING gist (geom)"))
        c.execute(text("ANALYZE bench_pts"))
        c.execute(text(f"""
            INSERT INTO cases(case_no, channel, received_x, received_y, received_crs, geom, reported_grid_version_id,
                              reported_grid_code, grid_id, grid_code, community_id, subdistrict_id, status, level,
                              closed_at, reported_at)
            SELECT 'B' || lpad(k::text, 9, '0'), 'hotline', ST_X(geom), ST_Y(geom), 'EPSG:4326', geom,
                   grid_version_id, grid_code, grid_id, grid_code, community_id, subdistrict_id,
                   CASE WHEN k % {OPEN_EVERY} = 0 THEN 'reported' ELSE 'closed' END,
                   CASE WHEN k % {OPEN_EVERY} = 0 THEN NULL ELSE 'community' END,
                   CASE WHEN k % {OPEN_EVERY} = 0 THEN NULL ELSE at + interval '1 day' END, at
            FROM (SELECT row_number() OVER (ORDER BY p.id) AS k, p.geom, p.at, m.*
                  FROM bench_pts p JOIN ({bulk_assign_sql('bench_pts')}) m ON m.point_id = p.id) x
            WHERE k <= :n"""), {"n": n})
    with eng.connect() as c:
        c.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE cases"))
    print(f"setup_s={time.perf_counter() - t:.1f}", flush=True)


def _misplace(eng) -> None:
    """A tenth of the open cases committed in a wrong grid (the first one), so the re-assignment
    also writes (moves and their events) as after a redraw. Committed, not made in the measured
    transaction: rows changed by the same transaction would force foreign-key re-checks that a
    real publish does not pay. Triggers off: no events for this setup."""
    with eng.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        c.execute(text(f"UPDATE cases SET grid_id = g.id, grid_code = g.code FROM (SELECT id, code FROM unit_grid "
                       f"ORDER BY id LIMIT 1) g WHERE {OPEN} AND cases.id % (10 * {OPEN_EVERY}) = 0 "
                       "AND cases.grid_id <> g.id"))


def _draft(c) -> int:
    """A draft of the community with the most grids: its two adjacent grids with the lowest codes
    whose union is one polygon merged into the first, the second retired."""
    comm, a, b, merged = c.execute(text("""
        WITH big AS (SELECT community_id FROM unit_grid WHERE retired_at IS NULL GROUP BY 1 ORDER BY count(*) DESC, 1
                     LIMIT 1)
        SELECT g1.community_id, g1.code, g2.code, ST_AsEWKB(ST_Union(v1.geom, v2.geom))
        FROM unit_grid g1 JOIN grid_version v1 ON v1.grid_id = g1.id AND v1.valid_to IS NULL
        JOIN unit_grid g2 ON g2.community_id = g1.community_id AND g2.code > g1.code
        JOIN grid_version v2 ON v2.grid_id = g2.id AND v2.valid_to IS NULL
        WHERE g1.community_id = (SELECT community_id FROM big)
          AND ST_Relate(v1.geom, v2.geom, 'F***1****')
          AND GeometryType(ST_Union(v1.geom, v2.geom)) = 'POLYGON'
        ORDER BY g1.code, g2.code LIMIT 1""")).one()
    d = c.execute(text("""
        INSERT INTO boundary_draft(name, reason, district_id, scope_community_ids, base_change_id)
        SELECT 'bench', 'bench', s.district_id, ARRAY[c.id], (SELECT max(id) FROM boundary_change)
        FROM community c JOIN subdistrict s ON s.id = c.subdistrict_id WHERE c.id = :c RETURNING id"""),
        {"c": comm}).scalar_one()
    c.execute(text("""
        INSERT INTO boundary_draft_responsibility(draft_id, code, name, community_id, responsibility_grid_id, person_ids)
        SELECT :d, r.code, r.name, r.community_id, r.id,
               ARRAY(SELECT w.person_id FROM responsibility_grid_worker w WHERE w.responsibility_grid_id = r.id)
        FROM responsibility_grid r WHERE r.community_id = :c"""), {"d": d, "c": comm})
    c.execute(text("""
        INSERT INTO boundary_draft_grid(draft_id, code, grid_id, name, community_id, responsibility_code, geom, retired)
        SELECT :d, g.code, g.id, g.name, g.community_id, r.code,
               CASE WHEN g.code = :a THEN ST_GeomFromEWKB(:m) ELSE gv.geom END, g.code = :b
        FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
        LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
        WHERE g.community_id = :c AND g.retired_at IS NULL"""), {"d": d, "c": comm, "a": a, "b": b, "m": merged})
    return d


def _cpu_reader(c):
    """A function giving the CPU seconds the server process of connection ``c`` has used so far,
    or None when it cannot be read (a server elsewhere, not Linux)."""
    pid = c.execute(text("SELECT pg_backend_pid()")).scalar_one()
    c.rollback()

    def cpu() -> float | None:
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                return int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return None
    return cpu


def main(args) -> int:
    from planning.impact import impact
    from planning.publish import publish

    if args.cases < OPEN_EVERY:
        raise ValueError(f"--cases must be at least {OPEN_EVERY}")
    eng = common.bench_engine(BENCH_DB, cases=0)
    _make_cases(eng, args.cases, args.seed)
    _misplace(eng)
    best = {"raw": float("inf"), "rejoin": float("inf"), "rejoin_steady": float("inf"), "publish": float("inf"),
            "impact": float("inf")}
    out: dict = {}
    cpu_best = {"raw": float("inf"), "rejoin": float("inf")}
    with eng.connect() as c:
        cpu = _cpu_reader(c)
        n_open = c.execute(text(f"SELECT count(*) FROM cases WHERE {OPEN} AND NOT outside_jurisdiction")).scalar_one()
        c.rollback()
        for _ in range(max(1, args.repeat)):
            tx = c.begin()
            u, t = cpu(), time.perf_counter()
            c.execute(text(f"CREATE TEMP TABLE bench_out AS {RAW_SQL}"))
            best["raw"] = min(best["raw"], time.perf_counter() - t)
            u1 = cpu()
            if u is not None and u1 is not None:
                cpu_best["raw"] = min(cpu_best["raw"], u1 - u)
            out["raw_pairs"] = c.execute(text("SELECT count(*) FROM bench_out")).scalar_one()
            tx.rollback()

            tx = c.begin()
            u, t = cpu(), time.perf_counter()
            out["rejoin_moved"] = c.execute(text("SELECT reassign_open_cases(clock_timestamp())")).scalar_one()
            best["rejoin"] = min(best["rejoin"], time.perf_counter() - t)
            u1 = cpu()
            if u is not None and u1 is not None:
                cpu_best["rejoin"] = min(cpu_best["rejoin"], u1 - u)
            t = time.perf_counter()
            c.execute(text("SELECT reassign_open_cases(clock_timestamp())")).scalar_one()  # nothing left to move
            best["rejoin_steady"] = min(best["rejoin_steady"], time.perf_counter() - t)
            tx.rollback()

            tx = c.begin()
            d = _draft(c)
            t = time.perf_counter()
            imp = impact(c, d)
            best["impact"] = min(best["impact"], time.perf_counter() - t)
            t = time.perf_counter()
            res = publish(c, d, actor_id=None, reason="bench", warnings_reason="bench: the merge empties a responsibility grid")
            best["publish"] = min(best["publish"], time.perf_counter() - t)
            if res.cases_moved != imp.cases_moved:
                raise RuntimeError(f"impact said {imp.cases_moved} cases would move, publish moved {res.cases_moved}")
            out["publish_moved"], out["publish_versions"] = res.cases_moved, res.versions_added
            tx.rollback()
    raw_rate, rejoin_rate = n_open / best["raw"], n_open / best["rejoin"]
    print(f"cases={args.cases}")
    print(f"open_cases={n_open}")
    print(f"raw_pairs={out['raw_pairs']}")
    print(f"rejoin_moved={out['rejoin_moved']}")
    print(f"raw_s={best['raw']:.3f}")
    print(f"rejoin_s={best['rejoin']:.3f}")
    print(f"raw_rate={raw_rate:.0f}")
    print(f"rejoin_rate={rejoin_rate:.0f}")
    print(f"rejoin_steady_s={best['rejoin_steady']:.3f}")
    print(f"rejoin_steady_ratio={n_open / best['rejoin_steady'] / raw_rate:.3f}")
    print(f"publish_moved={out['publish_moved']}")
    print(f"publish_versions={out['publish_versions']}")
    print(f"impact_s={best['impact']:.3f}")
    print(f"publish_s={best['publish']:.3f}")
    if cpu_best["raw"] < float("inf") and cpu_best["rejoin"] < float("inf"):
        print(f"raw_cpu_s={cpu_best['raw']:.3f}")
        print(f"rejoin_cpu_s={cpu_best['rejoin']:.3f}")
        print(f"rejoin_cpu_ratio={cpu_best['raw'] / cpu_best['rejoin']:.3f}")
    print(f"rejoin_ratio={rejoin_rate / raw_rate:.3f}")
    if args.parts:
        _parts(eng, args.repeat)
    return 0


# --- --parts: where the re-assignment's CPU goes, and the floors of other designs ----------------

# reassign_open_cases' CTEs (migration 0014, unchanged by 0018) up to the moves, into a temp table
_LIVE_REST = f"""
WITH live AS MATERIALIZED (
    SELECT gv.grid_id, gv.geom, g.code AS grid_code, g.community_id, c.subdistrict_id
    FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN community c ON c.id = g.community_id
    WHERE gv.valid_to IS NULL
), overlapping AS MATERIALIZED (
    SELECT a.grid_id FROM live a
    CROSS JOIN LATERAL (SELECT b.geom FROM grid_version b JOIN unit_grid bg ON bg.id = b.grid_id
                        WHERE b.geom && a.geom AND b.valid_to IS NULL AND bg.code < a.grid_code OFFSET 0) b
    WHERE ST_Relate(a.geom, b.geom, '2********')
), rest AS MATERIALIZED (
    SELECT p.id, p.geom, p.grid_id, p.grid_code, p.community_id, p.subdistrict_id
    FROM cases p LEFT JOIN live l ON l.grid_id = p.grid_id
    WHERE p.{OPEN} AND NOT p.outside_jurisdiction
      AND NOT (l.grid_id IS NOT NULL AND ST_Contains(l.geom, p.geom)
               AND (p.community_id, p.subdistrict_id) IS NOT DISTINCT FROM (l.community_id, l.subdistrict_id)
               AND l.grid_id NOT IN (SELECT grid_id FROM overlapping))
)"""
_DIFF = ("WHERE (m.old_grid_id, m.old_community_id, m.old_subdistrict_id) "
         "IS DISTINCT FROM (m.grid_id, m.community_id, m.subdistrict_id)")
PARTS_JOIN = _LIVE_REST + f""", m AS (
    SELECT r.id AS case_id, x.grid_id, x.grid_code, x.community_id, x.subdistrict_id, r.grid_id AS old_grid_id,
           r.grid_code AS old_grid_code, r.community_id AS old_community_id, r.subdistrict_id AS old_subdistrict_id
    FROM rest r
    CROSS JOIN LATERAL (SELECT g.id AS grid_id, g.code AS grid_code, g.community_id, c.subdistrict_id
                        FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                        JOIN community c ON c.id = g.community_id
                        WHERE gv.valid_to IS NULL AND ST_Intersects(gv.geom, r.geom) ORDER BY g.code LIMIT 1) x
) SELECT * FROM m {_DIFF}"""
# the same moves with the rest placed polygons-outer over a GiST of the rest (lowest code kept)
PARTS_POLY_OUTER = f"""
SELECT * FROM (
    SELECT DISTINCT ON (r.id) r.id AS case_id, gg.grid_id, gg.grid_code, gg.community_id, gg.subdistrict_id,
           r.grid_id AS old_grid_id, r.grid_code AS old_grid_code, r.community_id AS old_community_id,
           r.subdistrict_id AS old_subdistrict_id
    FROM (SELECT gv.geom, g.id AS grid_id, g.code AS grid_code, g.community_id, c.subdistrict_id
          FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN community c ON c.id = g.community_id
          WHERE gv.valid_to IS NULL) gg
    JOIN bench_rest r ON ST_Intersects(gg.geom, r.geom)
    ORDER BY r.id, gg.grid_code) m {_DIFF}"""
PARTS_UPDATE = """
UPDATE cases c SET grid_id = m.grid_id, grid_code = m.grid_code, community_id = m.community_id,
       subdistrict_id = m.subdistrict_id, version = c.version + 1, updated_at = clock_timestamp()
FROM bench_mv m WHERE c.id = m.case_id AND c.id = ANY(ARRAY(SELECT case_id FROM bench_mv))"""
PARTS_EVENTS = """
INSERT INTO case_event(case_id, at, actor_id, actor_role, action, from_status, to_status, from_level, to_level,
                       department_id, grid_id, handler_id, due_at, postponed, data, category_code, channel)
SELECT c.id, clock_timestamp(), NULL, 'system', 'regrid', c.status, c.status, c.level, c.level, c.department_id,
       m.grid_id, c.handler_id, c.due_at, c.postponed_at IS NOT NULL,
       jsonb_build_object('from_grid_code', m.old_grid_code, 'to_grid_code', m.grid_code,
                          'from_community_id', m.old_community_id, 'to_community_id', m.community_id, 'change_id', NULL),
       c.category_code, c.channel
FROM bench_mv m JOIN cases c ON c.id = m.case_id"""
PARTS_SIDE = ("CREATE TABLE bench_case_place(case_id integer PRIMARY KEY{fk_case}, grid_id integer{fk_grid}, "
              "grid_code text, community_id integer{fk_comm}, subdistrict_id integer{fk_sub}, at timestamptz)")
PARTS_SIDE_INSERT = ("INSERT INTO bench_case_place SELECT case_id, grid_id, grid_code, community_id, subdistrict_id, "
                     "clock_timestamp() FROM bench_mv")
# every index of cases holding grid_id, community_id or subdistrict_id (key, INCLUDE): while one
# does, no move can be a HOT update
GRID_KEYED = ("cases_grid_idx", "cases_subdistrict_idx", "cases_open_scope_idx", "cases_open_overdue_idx")
REPLICA = "SET LOCAL session_replication_role = replica"


def _parts(eng, repeat: int) -> None:
    best: dict[str, float] = {}
    with eng.connect() as c:
        cpu = _cpu_reader(c)
        if cpu() is None:
            print("parts: the server's CPU time cannot be read here (not the same machine): skipped")
            return
        others = [r for r, in c.execute(text(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'cases'::regclass AND NOT indisprimary "
            "ORDER BY 1"))]
        c.rollback()
        drop_all = [("ALTER TABLE cases DROP CONSTRAINT cases_case_no_key" if i == "cases_case_no_key"
                     else f"DROP INDEX {i}") for i in others]

        def run(name: str, sql: str, *setup: str, moves: bool = True) -> None:
            with c.begin() as tx:
                c.execute(text("SET LOCAL jit = off"))
                if moves:
                    c.execute(text(f"CREATE TEMP TABLE bench_mv ON COMMIT DROP AS {PARTS_JOIN}"))
                    c.execute(text("ANALYZE bench_mv"))
                for s in setup:
                    c.execute(text(s))
                u = cpu()
                for s in sql.split(";\n"):
                    c.execute(text(s))
                best[name] = min(best.get(name, float("inf")), cpu() - u)
                tx.rollback()

        nofk = {"fk_case": "", "fk_grid": "", "fk_comm": "", "fk_sub": ""}
        fk = {"fk_case": " REFERENCES cases(id)", "fk_grid": " REFERENCES unit_grid(id)",
              "fk_comm": " REFERENCES community(id)", "fk_sub": " REFERENCES subdistrict(id)"}
        for _ in range(max(1, repeat)):
            run("raw join", f"CREATE TEMP TABLE bench_out AS {RAW_SQL}", moves=False)
            run("reassign_open_cases (all of it)", "SELECT reassign_open_cases(clock_timestamp())", moves=False)
            run("join + comparison (the function's CTEs)", f"CREATE TEMP TABLE bench_j AS {PARTS_JOIN}", moves=False)
            run("join + comparison, the rest polygons-outer",
                f"CREATE TEMP TABLE bench_rest AS {_LIVE_REST} SELECT * FROM rest;\n"
                "CREATE INDEX ON bench_rest USING gist (geom);\nANALYZE bench_rest;\n"
                f"CREATE TEMP TABLE bench_j AS {PARTS_POLY_OUTER}", moves=False)
            run("UPDATE cases, triggers on", PARTS_UPDATE)
            run("UPDATE cases, triggers off", PARTS_UPDATE, REPLICA)
            run("UPDATE cases, triggers on, 4 grid-column indexes dropped", PARTS_UPDATE,
                *[f"DROP INDEX {i}" for i in GRID_KEYED])
            run("UPDATE cases, triggers off, only the primary key", PARTS_UPDATE, *drop_all, REPLICA)
            run("events, triggers on", PARTS_EVENTS)
            run("events, foreign-key checks off", PARTS_EVENTS, "ALTER TABLE case_event DISABLE TRIGGER ALL",
                "ALTER TABLE case_event ENABLE TRIGGER USER")
            run("events, roll-up triggers off", PARTS_EVENTS,
                "ALTER TABLE case_event DISABLE TRIGGER case_event_collect_stats",
                "ALTER TABLE case_event DISABLE TRIGGER case_event_collect_cuts")
            run("events, all triggers off", PARTS_EVENTS, REPLICA)
            run("statement check: the events' cases exist",
                "SELECT count(*) FROM bench_mv m WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = m.case_id)")
            run("side table of the moves, no foreign keys", PARTS_SIDE_INSERT, PARTS_SIDE.format(**nofk))
            run("side table of the moves, 4 foreign keys", PARTS_SIDE_INSERT, PARTS_SIDE.format(**fk))
        hot = _hot_update(c, cpu)
    raw = best["raw join"]
    for name, v in best.items():
        print(f"part: {name}: cpu_s={v:.3f} of_raw={v / raw:.2f}")
    for name, (v, n_hot, n) in hot.items():
        print(f"part: {name}: cpu_s={v:.3f} of_raw={v / raw:.2f} hot={n_hot}/{n}")


def _hot_update(c, cpu) -> dict:
    """The UPDATE when moves can be HOT: no index holds a grid column, 10 % free room in each page
    (fillfactor 90, the table rewritten); one rolled-back transaction, each run in a savepoint."""
    out: dict = {}
    stat = text("SELECT n_tup_hot_upd, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'cases'")
    with c.begin() as tx:
        c.execute(text("SET LOCAL jit = off"))
        for i in GRID_KEYED:
            c.execute(text(f"DROP INDEX {i}"))
        c.execute(text("ALTER TABLE cases SET (fillfactor = 90)"))
        c.execute(text("CLUSTER cases USING cases_pkey"))
        c.execute(text("ANALYZE cases"))
        c.execute(text(f"CREATE TEMP TABLE bench_mv ON COMMIT DROP AS {PARTS_JOIN}"))
        # the first run only: later ones find the pages' room taken by the rolled-back versions
        for name, setup in (("UPDATE cases, HOT, triggers on", None), ("UPDATE cases, HOT, triggers off", REPLICA)):
            c.execute(text("SAVEPOINT hot"))
            if setup:
                c.execute(text(setup))
            h0 = c.execute(stat).one()
            u = cpu()
            c.execute(text(PARTS_UPDATE))
            v = cpu() - u
            h1 = c.execute(stat).one()
            out[name] = (v, h1[0] - h0[0], h1[1] - h0[1])
            c.execute(text("ROLLBACK TO SAVEPOINT hot"))
            c.execute(text("SET LOCAL session_replication_role = origin"))
        tx.rollback()
    return out
