"""Two communities merged: every grid of one moved into the other (``move_grid``: a new code there,
the old one retired) and published. The emptied community keeps its row (closed cases and the
roll-ups name it) but no outline (migration 0033): the walls and the planner's map stop drawing it
over the community that took its grids, and a later draft does not take its land for its own."""
from __future__ import annotations

from sqlalchemy import text

from planning import drafts
from planning.publish import publish
from planning.validate import validate
from tests.planning.conftest import C1, C2, D, code


def _geom_area(conn, table: str, code_: str):
    return conn.execute(text(f"SELECT ST_Area(geom) FROM {table} WHERE code = :c"), {"c": code_}).scalar_one()


def test_a_community_whose_grids_all_moved_has_no_outline(plan):
    conn = plan.conn
    d = drafts.create_draft(conn, name="合并社区", reason="西社区并入东社区", actor_id=plan.planner, district_code=D)
    for seq in (1, 2):
        drafts.apply_edit(conn, d, {"op": "move_grid", "code": code(C2, seq), "community_code": C1},
                          actor_id=plan.planner)
    # the outlines as publish keeps them (this world starts with none stored)
    conn.execute(text("UPDATE community c SET geom = (SELECT ST_Multi(ST_Union(gv.geom)) FROM unit_grid g "
                      "JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL WHERE g.community_id = c.id)"))
    assert _geom_area(conn, "community", C2) is not None
    warnings = [p.kind for p in validate(conn, d) if p.severity == "warning"]
    publish(conn, d, actor_id=plan.planner, reason="西社区并入东社区",
            warnings_reason="合并社区" if warnings else None)
    assert _geom_area(conn, "community", C2) is None  # not drawn any more
    assert abs(_geom_area(conn, "community", C1) - 0.03 * 0.02) < 1e-12  # C1 took all of it
    assert conn.execute(text("SELECT count(*) FROM community WHERE code = :c"), {"c": C2}).scalar_one() == 1
    assert abs(_geom_area(conn, "subdistrict", D + "001") - 0.03 * 0.02) < 1e-12  # its subdistrict still has grids
    # the planner's map and the next draft: no outline of the emptied community, no problem from it
    d2 = drafts.create_draft(conn, name="下一稿", reason="", actor_id=plan.planner, district_code=D)
    names = [f["properties"].get("name") for f in drafts.context_geojson(conn, d2)["features"]]
    assert "西社区" not in names and "东社区" in names
    assert [p.kind for p in validate(conn, d2)] == []
