"""Impact preview (影响预览): what publishing a draft would do to cases and grid workers.

Before a planner publishes: which open cases would move to another grid, community,
subdistrict or grid worker (listed, and counted per grid), and each grid worker's workload
before and after, from the last 90 days of cases re-bucketed into the draft's grids (balance =
max / mean per worker). The same point rule as the database (``grid_at_point``: covered,
lowest code on shared edges) and the same join orientation as ``reassign_open_cases``: the
polygons are the outer loop, the GiST index on the cases the inner one. So the number of cases
it says would move is the number ``publish`` then moves (tests/planning/test_impact.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.statuses import open_sql, terminal_sql

WORKLOAD_DAYS = 90

# The grids as they would be: the draft's (not retired), and the live grids outside the draft
# that touch one of them (every other grid that could hold a point inside a draft grid).
_FUTURE = """
d AS (SELECT code, grid_id, community_id, responsibility_code, geom FROM boundary_draft_grid
      WHERE draft_id = :d AND NOT retired),
future AS (
    SELECT d.code, d.community_id, d.responsibility_code AS resp_code, d.geom, true AS in_draft FROM d
    UNION ALL
    SELECT g.code, g.community_id, r.code, gv.geom, false
    FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
    LEFT JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
    WHERE gv.valid_to IS NULL
      AND NOT EXISTS (SELECT 1 FROM boundary_draft_grid x WHERE x.draft_id = :d AND x.code = g.code)
      AND EXISTS (SELECT 1 FROM d WHERE ST_Intersects(d.geom, gv.geom))),
-- the grid workers of a responsibility grid as they would be: the draft's list, else the live one
resp_after AS (
    SELECT code, person_ids FROM boundary_draft_responsibility WHERE draft_id = :d
    UNION ALL
    SELECT r.code, ARRAY(SELECT w.person_id FROM responsibility_grid_worker w WHERE w.responsibility_grid_id = r.id
                         ORDER BY 1)
    FROM responsibility_grid r
    WHERE NOT EXISTS (SELECT 1 FROM boundary_draft_responsibility x WHERE x.draft_id = :d AND x.code = r.code))
"""

MOVES_SQL = f"""
WITH {_FUTURE},
-- the open cases inside a draft grid (polygons outer: the draft's grids probe the open cases' index)
cand AS (SELECT DISTINCT p.id FROM d JOIN cases p ON ST_Intersects(d.geom, p.geom)
         WHERE {open_sql('p')} AND NOT p.outside_jurisdiction),
m AS (
    SELECT DISTINCT ON (p.id) p.id, p.case_no, p.status, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat,
           p.grid_id AS old_grid_id, p.grid_code AS old_code, p.community_id AS old_comm,
           p.subdistrict_id AS old_sub, f.code AS new_code, f.community_id AS new_comm, f.resp_code AS new_resp
    FROM future f JOIN cases p ON ST_Intersects(f.geom, p.geom)
    WHERE {open_sql('p')} AND p.id IN (SELECT id FROM cand)
    ORDER BY p.id, f.code)
SELECT m.id, m.case_no, m.status, m.lon, m.lat, m.old_code, m.new_code,
       oc.code AS old_community, nc.code AS new_community, oc.name AS old_community_name,
       nc.name AS new_community_name, m.old_sub, nc.subdistrict_id AS new_sub,
       ARRAY(SELECT w.person_id FROM unit_grid g JOIN responsibility_grid_worker w
             ON w.responsibility_grid_id = g.responsibility_grid_id WHERE g.id = m.old_grid_id ORDER BY 1)
         AS old_workers,
       COALESCE((SELECT ra.person_ids FROM resp_after ra WHERE ra.code = m.new_resp), '{{}}') AS new_workers
FROM m
LEFT JOIN community oc ON oc.id = m.old_comm
JOIN community nc ON nc.id = m.new_comm
ORDER BY m.id
"""

WORKLOAD_SQL = f"""
WITH {_FUTURE},
-- the cases of the last 90 days in the draft's grids now or after (polygons outer again; every
-- status, so both halves of the point index: open, then ended, migration 0018)
recent AS (
    SELECT p.id, p.grid_id, p.geom FROM d JOIN cases p ON ST_Intersects(d.geom, p.geom)
    WHERE p.reported_at > :since AND p.reported_at <= :at AND NOT p.outside_jurisdiction AND {open_sql('p')}
    UNION ALL
    SELECT p.id, p.grid_id, p.geom FROM d JOIN cases p ON ST_Intersects(d.geom, p.geom)
    WHERE p.reported_at > :since AND p.reported_at <= :at AND NOT p.outside_jurisdiction AND {terminal_sql('p')}
    UNION
    SELECT p.id, p.grid_id, p.geom FROM cases p
    WHERE p.grid_id IN (SELECT grid_id FROM boundary_draft_grid WHERE draft_id = :d AND grid_id IS NOT NULL)
      AND p.reported_at > :since AND p.reported_at <= :at AND NOT p.outside_jurisdiction),
after AS (
    SELECT DISTINCT ON (p.id) p.id, f.resp_code
    FROM future f JOIN recent p ON ST_Intersects(f.geom, p.geom)
    ORDER BY p.id, f.code),
before_w AS (
    SELECT w.person_id, count(*) AS n FROM recent p JOIN unit_grid g ON g.id = p.grid_id
    JOIN responsibility_grid_worker w ON w.responsibility_grid_id = g.responsibility_grid_id GROUP BY 1),
after_w AS (
    SELECT pid AS person_id, count(*) AS n FROM after a JOIN resp_after ra ON ra.code = a.resp_code
    CROSS JOIN LATERAL unnest(ra.person_ids) AS pid GROUP BY 1),
scope_w AS (
    SELECT unnest(ra.person_ids) AS person_id FROM resp_after ra
    WHERE ra.code IN (SELECT responsibility_code FROM d)
    UNION SELECT w.person_id FROM boundary_draft_grid x JOIN unit_grid g ON g.id = x.grid_id
      JOIN responsibility_grid_worker w ON w.responsibility_grid_id = g.responsibility_grid_id WHERE x.draft_id = :d)
SELECT s.person_id, pe.full_name, COALESCE(b.n, 0) AS before, COALESCE(a.n, 0) AS after
FROM (SELECT person_id FROM scope_w UNION SELECT person_id FROM before_w UNION SELECT person_id FROM after_w) s
JOIN person pe ON pe.id = s.person_id
LEFT JOIN before_w b ON b.person_id = s.person_id
LEFT JOIN after_w a ON a.person_id = s.person_id
ORDER BY pe.full_name, s.person_id
"""


@dataclass(frozen=True)
class CaseMove:
    case_id: int
    case_no: str
    status: str
    lon: float
    lat: float
    old_grid: str | None
    new_grid: str
    old_community: str | None
    new_community: str
    grid_changes: bool
    community_changes: bool
    subdistrict_changes: bool
    worker_changes: bool
    old_workers: tuple[int, ...]
    new_workers: tuple[int, ...]


@dataclass(frozen=True)
class WorkerLoad:
    person_id: int
    name: str
    before: int
    after: int


@dataclass(frozen=True)
class Impact:
    moves: list[CaseMove]                 # every open case that would change grid, community or worker
    per_grid: list[dict]                  # {"code", "moved_out", "moved_in"} for each grid with moves
    cases_moved: int                      # open cases whose grid or community changes (= publish's count)
    workload: list[WorkerLoad]            # cases of the last 90 days per grid worker, before and after
    balance_before: float | None          # max / mean of the workers' counts (1.0 = even)
    balance_after: float | None
    geojson: dict = field(default_factory=dict)  # {"grids": FeatureCollection, "moves": FeatureCollection}


def impact(conn: Connection, draft_id: int, *, at: datetime | None = None) -> Impact:
    """What publishing ``draft_id`` would change, as of ``at`` (default now)."""
    if at is None:
        at = conn.execute(text("SELECT now()")).scalar_one()
    moves = [_move(r) for r in conn.execute(text(MOVES_SQL), {"d": draft_id})]
    moves = [m for m in moves if m.grid_changes or m.community_changes or m.worker_changes]
    per: dict[str, dict] = {}
    for m in moves:
        if m.grid_changes:
            per.setdefault(m.old_grid, {"code": m.old_grid, "moved_out": 0, "moved_in": 0})["moved_out"] += 1
            per.setdefault(m.new_grid, {"code": m.new_grid, "moved_out": 0, "moved_in": 0})["moved_in"] += 1
    load = [WorkerLoad(r.person_id, r.full_name, r.before, r.after) for r in conn.execute(
        text(WORKLOAD_SQL), {"d": draft_id, "at": at, "since": at - timedelta(days=WORKLOAD_DAYS)})]
    return Impact(
        moves=moves, per_grid=sorted(per.values(), key=lambda x: x["code"] or ""),
        cases_moved=sum(1 for m in moves if m.grid_changes or m.community_changes),
        workload=load, balance_before=balance([w.before for w in load]),
        balance_after=balance([w.after for w in load]),
        geojson={"grids": _grids_geojson(conn, draft_id, per), "moves": _moves_geojson(moves)})


def balance(counts: list[int]) -> float | None:
    """max / mean of the counts: 1.0 when every worker has the same load; None with no load."""
    if not counts or sum(counts) == 0:
        return None
    return max(counts) / (sum(counts) / len(counts))


def _move(r) -> CaseMove:
    old_w, new_w = tuple(r.old_workers or ()), tuple(r.new_workers or ())
    return CaseMove(
        case_id=r.id, case_no=r.case_no, status=r.status, lon=r.lon, lat=r.lat, old_grid=r.old_code,
        new_grid=r.new_code, old_community=r.old_community, new_community=r.new_community,
        grid_changes=r.old_code != r.new_code, community_changes=r.old_community != r.new_community,
        subdistrict_changes=r.old_sub != r.new_sub, worker_changes=set(old_w) != set(new_w),
        old_workers=old_w, new_workers=new_w)


def _grids_geojson(conn: Connection, draft_id: int, per: dict[str, dict]) -> dict:
    rows = conn.execute(text(
        "SELECT code, name, retired, ST_AsGeoJSON(geom, 7) AS g FROM boundary_draft_grid "
        "WHERE draft_id = :d ORDER BY code"), {"d": draft_id})
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": json.loads(r.g),
         "properties": {"code": r.code, "name": r.name, "retired": r.retired,
                        "moved_out": per.get(r.code, {}).get("moved_out", 0),
                        "moved_in": per.get(r.code, {}).get("moved_in", 0)}} for r in rows]}


def _moves_geojson(moves: list[CaseMove]) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [m.lon, m.lat]},
         "properties": {"case_no": m.case_no, "from": m.old_grid, "to": m.new_grid,
                        "community_changes": m.community_changes, "worker_changes": m.worker_changes}}
        for m in moves]}
