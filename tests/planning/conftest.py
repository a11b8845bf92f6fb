"""A small hand-built district for the planner's tests (squares you can check by eye).

District 999997 on the Gulf of Guinea (far from the sample district and from tests.world), one
subdistrict, two communities of squares 0.01° (about 1.1 km) on a side:

    y 0.02 +------+------+------+
           | 003  | 004  | 002  |
    y 0.01 +------+------+------+       C1: 001–004 (and 005, retired: never to be reused)
           | 001  | 002  | 001  |       C2: 001, 002
    y 0    +------+------+------+
           x 0   0.01   0.02   0.03
                C1            C2

Responsibility grid R1 (C1's 001 and 002) with a grid worker; the outlines of the communities
are left NULL, so the validator takes the union of their current grids.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from tests.factories import EPOCH, square

D = "999997"
C1, C2 = D + "001001", D + "001002"


def code(comm: str, seq: int) -> str:
    return f"{comm}{seq:03d}"


@dataclass
class Plan:
    conn: object
    planner: int
    worker: int
    community: dict[str, int] = field(default_factory=dict)
    grid: dict[str, int] = field(default_factory=dict)


CELLS = {code(C1, 1): (0, 0), code(C1, 2): (0.01, 0), code(C1, 3): (0, 0.01), code(C1, 4): (0.01, 0.01),
         code(C2, 1): (0.02, 0), code(C2, 2): (0.02, 0.01)}


def build_plan(conn) -> Plan:
    did = conn.execute(text("INSERT INTO district(code, name, geom) VALUES (:c, '规划测试区', "
                            "ST_Multi(ST_MakeEnvelope(0, 0, 0.03, 0.02, 4326))) RETURNING id"), {"c": D}).scalar_one()
    sid = conn.execute(text("INSERT INTO subdistrict(district_id, code, name) VALUES (:d, :c, '规划街道') RETURNING id"),
                       {"d": did, "c": D + "001"}).scalar_one()
    comm = {c: conn.execute(text("INSERT INTO community(subdistrict_id, code, name) VALUES (:s, :c, :n) RETURNING id"),
                            {"s": sid, "c": c, "n": n}).scalar_one() for c, n in ((C1, "东社区"), (C2, "西社区"))}
    planner = conn.execute(text("INSERT INTO person(username, full_name, role, unit_level) "
                                "VALUES ('t_plan_planner', '规划员甲', 'planner', 'district') RETURNING id")).scalar_one()
    worker = conn.execute(text("INSERT INTO person(username, full_name, role, unit_level, community_id) "
                               "VALUES ('t_plan_worker', '网格员乙', 'grid_worker', 'community', :c) RETURNING id"),
                          {"c": comm[C1]}).scalar_one()
    r1 = conn.execute(text("INSERT INTO responsibility_grid(community_id, code, name) VALUES (:c, 'R1', '责任一') "
                           "RETURNING id"), {"c": comm[C1]}).scalar_one()
    conn.execute(text("INSERT INTO responsibility_grid_worker(responsibility_grid_id, person_id) VALUES (:r, :p)"),
                 {"r": r1, "p": worker})
    p = Plan(conn, planner, worker, comm)
    for c, (x, y) in CELLS.items():
        gid = conn.execute(text("INSERT INTO unit_grid(community_id, code, name, responsibility_grid_id) "
                                "VALUES (:c, :code, :n, :r) RETURNING id"),
                           {"c": comm[c[:12]], "code": c, "n": f"网格{c[-3:]}",
                            "r": r1 if c in (code(C1, 1), code(C1, 2)) else None}).scalar_one()
        conn.execute(text("INSERT INTO grid_version(grid_id, version_no, geom, valid_from) "
                          "VALUES (:g, 1, ST_GeomFromText(:w, 4326), :t)"), {"g": gid, "w": square(x, y, 0.01), "t": EPOCH})
        p.grid[c] = gid
    # a retired grid of C1 (its code 005 is never to be given again)
    gid = conn.execute(text("INSERT INTO unit_grid(community_id, code, name, retired_at) "
                            "VALUES (:c, :code, '旧网格', :t + interval '1 day') RETURNING id"),
                       {"c": comm[C1], "code": code(C1, 5), "t": EPOCH}).scalar_one()
    conn.execute(text("INSERT INTO grid_version(grid_id, version_no, geom, valid_from, valid_to) "
                      "VALUES (:g, 1, ST_GeomFromText(:w, 4326), :t, :t + interval '1 day')"),
                 {"g": gid, "w": square(5, 5, 0.01), "t": EPOCH})
    return p


@pytest.fixture
def plan(conn) -> Plan:
    return build_plan(conn)
