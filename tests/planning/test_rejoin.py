"""The re-assignment of every open case (``reassign_open_cases`` without grid ids, migration
0014): cases strictly inside their own grid are left without a spatial search, the rest take the
point rule (lowest code on shared edges) — and the result is the point rule's for every case,
also where two live grids overlap; each move is one ``regrid`` event, and the roll-ups the
events feed equal the ones computed again from the event log."""
from __future__ import annotations

from sqlalchemy import text

from stats.indicators import rebuild_stats
from tests.planning.test_publish import box, case_at, moved_boundary_draft
from planning.publish import publish

LOWER = "999998001001000"  # a code below G1's, in C1

RULE = text("""
    SELECT p.id, (SELECT g.id FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
                  WHERE gv.valid_to IS NULL AND ST_Intersects(gv.geom, p.geom) ORDER BY g.code LIMIT 1) AS grid_id
    FROM cases p WHERE p.status NOT IN ('closed', 'rejected', 'merged') AND NOT p.outside_jurisdiction
      AND p.id = ANY(:ids) ORDER BY p.id""")


def _rollups(conn, w) -> tuple[list, list]:
    grids = conn.execute(text("SELECT id FROM unit_grid WHERE community_id = ANY(:c)"),
                         {"c": list(w.com.values())}).scalars().all()
    day = conn.execute(text("SELECT * FROM case_stat_day WHERE dim = 'grid' AND key_id = ANY(:g) AND NOT (reported = 0 "
                            "AND registered = 0 AND closed = 0 AND verified = 0 AND open = 0 AND overdue = 0 "
                            "AND overdue_np = 0) ORDER BY day, key_id"), {"g": grids}).all()
    cut = conn.execute(text("SELECT * FROM case_stat_cut WHERE community_id = ANY(:c) AND NOT (reported = 0 "
                            "AND registered = 0 AND closed = 0 AND verified = 0 AND open = 0 AND overdue = 0 "
                            "AND overdue_np = 0) ORDER BY grain, day, community_id, department_id, category_code, "
                            "level, channel"), {"c": list(w.com.values())}).all()
    return day, cut


def test_whole_reassignment_follows_the_point_rule_where_grids_overlap(world):
    w, c = world, world.conn
    cases = {k: case_at(w, x, 0.5, s)["id"] for k, x, s in (
        ("inside", 0.5, "reported"), ("edge", 1.0, "dispatched"), ("overlap1", 0.9, "reported"),
        ("overlap2", 1.1, "dispatched"), ("closed", 0.95, "closed"), ("c2", 1.6, "reported"), ("c3", 2.5, "reported"))}
    # a live grid of C1 overlapping G1 and G2 (x 0.8–1.2), with a lower code than both: the point
    # rule gives it every point there, also points strictly inside G1 or G2
    gid = c.execute(text("INSERT INTO unit_grid(community_id, code, name) VALUES (:c, :code, '重叠') RETURNING id"),
                    {"c": w.com["C1"], "code": LOWER}).scalar_one()
    c.execute(text("INSERT INTO grid_version(grid_id, version_no, geom, valid_from) "
                   "VALUES (:g, 1, ST_GeomFromText(:w, 4326), now())"), {"g": gid, "w": box(0.8, 1.2)})
    ids = list(cases.values())
    expected = dict(c.execute(RULE, {"ids": ids}).all())
    assert expected[cases["overlap1"]] == expected[cases["overlap2"]] == expected[cases["edge"]] == gid
    before = dict(c.execute(text("SELECT id, grid_id FROM cases WHERE id = ANY(:i)"), {"i": ids}).all())
    n = c.execute(text("SELECT reassign_open_cases(clock_timestamp())")).scalar_one()
    after = dict(c.execute(text("SELECT id, grid_id FROM cases WHERE id = ANY(:i)"), {"i": ids}).all())
    assert {k: after[k] for k in expected} == expected
    assert after[cases["closed"]] == before[cases["closed"]]  # closed cases keep their grid
    moved = sorted(k for k in expected if before[k] != after[k])
    assert sorted([cases["edge"], cases["overlap1"], cases["overlap2"]]) == moved
    ev = c.execute(text("SELECT case_id, grid_id, data->>'to_grid_code', category_code, channel FROM case_event "
                        "WHERE action = 'regrid' AND case_id = ANY(:i) ORDER BY case_id"), {"i": ids}).all()
    assert n >= len(moved) and [e[0] for e in ev] == moved
    assert all(e[1] == gid and e[2] == LOWER and e[3] == "0102" and e[4] == "hotline" for e in ev)
    # nothing left to move; the roll-ups are what the event log adds up to
    assert c.execute(text("SELECT reassign_open_cases(clock_timestamp())")).scalar_one() == 0
    rolled = _rollups(c, w)
    rebuild_stats(c)
    assert _rollups(c, w) == rolled


def test_rollups_after_a_publish_equal_the_event_log(world):
    w, c = world, world.conn
    for x, s in ((0.75, "dispatched"), (0.25, "reported"), (0.8, "closed"), (1.5, "reported"), (0.6, "disposing")):
        case_at(w, x, 0.5, s)
    d = moved_boundary_draft(w)
    res = publish(c, d, actor_id=w["planner"].person_id, reason="边界调整")
    assert res.cases_moved == 2  # 0.75 and 0.6; the closed case at 0.8 stays
    rolled = _rollups(c, w)
    assert rolled[0] and rolled[1]
    rebuild_stats(c)
    assert _rollups(c, w) == rolled
