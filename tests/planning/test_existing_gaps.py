"""A gap already in the live tiling (a hole in a community's grids, say from an imported file) is
listed by the validator as a warning (``gap_existing``) with its place, so the planner sees it and
can fill it with "add"; a grid drawn into it is not "outside its community"; a hole filled by
another community's grids (an enclave) is no gap."""
from __future__ import annotations

import shapely
from shapely.geometry import shape
from sqlalchemy import text

from planning import drafts
from planning.validate import validate
from tests.planning.conftest import C1, C2, D, code

HOLE = shapely.box(0.003, 0.003, 0.006, 0.006)  # inside C1's grid 001 (0..0.01 × 0..0.01)


def _punch(plan, hole=HOLE) -> None:
    """Cut ``hole`` out of C1's grid 001 in the live tiling (as an import could have left it)."""
    plan.conn.execute(text("UPDATE grid_version SET geom = ST_Difference(geom, ST_GeomFromText(:h, 4326)) "
                           "WHERE grid_id = :g AND valid_to IS NULL"), {"h": hole.wkt, "g": plan.grid[code(C1, 1)]})


def _draft(plan, **kw) -> int:
    return drafts.create_draft(plan.conn, name="补缺口", reason="检查", actor_id=plan.planner, **kw)


def _gaps(problems):
    return [p for p in problems if p.kind == "gap_existing"]


def test_a_hole_in_the_live_grids_is_listed_with_its_place(plan):
    assert _gaps(validate(plan.conn, _draft(plan, district_code=D))) == []  # the tiling as built has none
    _punch(plan)
    problems = validate(plan.conn, _draft(plan, district_code=D))
    [gap] = _gaps(problems)
    assert gap.severity == "warning" and code(C1, 1) in gap.codes
    assert shape(gap.location).equals_exact(HOLE.normalize(), 1e-9) or shape(gap.location).symmetric_difference(
        HOLE).area < 1e-12
    assert "东社区" in gap.message_zh and "草稿之前已存在" in gap.message_zh
    m2 = float(gap.message_en.split(" m²")[0].split()[-1])
    assert 110_000 < m2 < 112_000  # 0.003° × 0.003° at the equator: 333.9 m × 331.7 m
    assert [p.kind for p in problems if p.severity == "error"] == []  # not the draft's doing: publish not blocked


def test_filling_it_with_add_clears_it_and_is_not_outside_the_community(plan):
    _punch(plan)
    d = _draft(plan, district_code=D)
    res = drafts.apply_edit(plan.conn, d, {"op": "add", "community_code": C1,
                                           "polygon": [[0.002, 0.002], [0.007, 0.002], [0.007, 0.007], [0.002, 0.007]]},
                            actor_id=plan.planner)
    new = code(C1, 6)
    assert new in res.changed
    assert [p.kind for p in res.problems] == [], [p.message_en for p in res.problems]


def test_part_filled_leaves_the_rest(plan):
    _punch(plan)
    d = _draft(plan, district_code=D)
    res = drafts.apply_edit(plan.conn, d, {"op": "add", "community_code": C1,
                                           "polygon": [[0.002, 0.002], [0.0045, 0.002], [0.0045, 0.007],
                                                       [0.002, 0.007]]}, actor_id=plan.planner)
    [gap] = _gaps(res.problems)
    assert abs(shape(gap.location).area - 0.0015 * 0.003) < 1e-12
    assert "outside_parent" not in [p.kind for p in res.problems]


def test_a_hole_another_community_fills_is_no_gap(plan):
    _punch(plan)
    gid = plan.conn.execute(text("INSERT INTO unit_grid(community_id, code, name) VALUES (:c, :code, '飞地') RETURNING id"),
                            {"c": plan.community[C2], "code": code(C2, 3)}).scalar_one()
    plan.conn.execute(text("INSERT INTO grid_version(grid_id, version_no, geom, valid_from) "
                           "VALUES (:g, 1, ST_GeomFromText(:w, 4326), now() - interval '1 day')"),
                      {"g": gid, "w": HOLE.wkt})
    assert _gaps(validate(plan.conn, _draft(plan, district_code=D, community_codes=[C1]))) == []
    assert _gaps(validate(plan.conn, _draft(plan, district_code=D))) == []
