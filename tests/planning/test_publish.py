"""Publishing a draft: versions, case stamps, events, unchanged grids, refusals, the walls' stamp.

The hand-built world (tests/world.py): three unit squares side by side, x = 0-1 (C1), 1-2 (C2),
2-3 (C3), y = 0-1, each the one grid of its community; C1 and C2 in subdistrict S1, C3 in S2.
"""
from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc, text

from dispatch import service
from planning.publish import PublishRefused, publish
from tests.planning.draft_rows import add_grid, draft_of, retire, set_geom
from tests.world import PATH_TO, params_for
from wall.frame import boundary_stamp

G1, G2, G3 = "999998001001001", "999998001002001", "999998002003001"
NEW = "999998001001002"


def box(x0, x1, y0=0.0, y1=1.0) -> str:
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def case_at(w, lon, lat, status="reported"):
    """A case reported at (lon, lat) and moved to ``status`` by legal moves."""
    case = service.report_case(w.conn, channel="hotline", lon=lon, lat=lat, crs="EPSG:4326", category_code="0102",
                               description="测试案件")
    for action in PATH_TO[status]:
        case = service.transition(w.conn, case_id=case["id"], action=action, actor=w["admin"],
                                  **params_for(w, action, case))
    return case


def row(conn, case_id):
    return conn.execute(text("SELECT * FROM cases WHERE id = :i"), {"i": case_id}).mappings().one()


def versions(conn, code):
    return conn.execute(text(
        "SELECT gv.version_no, gv.valid_from, gv.valid_to, gv.change_id, ST_AsText(gv.geom) AS wkt "
        "FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id WHERE g.code = :c ORDER BY version_no"),
        {"c": code}).all()


def moved_boundary_draft(w):
    """C1 | C2 boundary moved from x = 1 to x = 0.5 (C2 grows west)."""
    d = draft_of(w.conn, [w.com["C1"], w.com["C2"]], actor_id=w["planner"].person_id)
    set_geom(w.conn, d, G1, box(0, 0.5))
    set_geom(w.conn, d, G2, box(0.5, 2))
    return d


def test_publish_adds_versions_moves_open_cases_and_keeps_closed_ones(world):
    w = world
    moving = case_at(w, 0.75, 0.5, "dispatched")
    staying = case_at(w, 0.25, 0.5)
    closed = case_at(w, 0.8, 0.5, "closed")
    far = case_at(w, 2.5, 0.5)
    d = moved_boundary_draft(w)
    res = publish(w.conn, d, actor_id=w["planner"].person_id, reason="调整社区边界")
    assert (res.status, res.versions_added, res.grids_added, res.grids_retired, res.grids_unchanged,
            res.cases_moved) == ("applied", 2, 0, 0, 0, 1)

    after = row(w.conn, moving["id"])
    assert (after["grid_code"], after["community_id"]) == (G2, w.com["C2"])
    assert after["reported_grid_code"] == G1  # the report-time stamp never changes
    assert after["reported_grid_version_id"] == moving["reported_grid_version_id"]
    assert after["version"] == moving["version"] + 1
    assert after["status"] == "dispatched" and after["due_at"] == moving["due_at"]
    ev = w.conn.execute(text("SELECT * FROM case_event WHERE case_id = :i ORDER BY id DESC LIMIT 1"),
                        {"i": moving["id"]}).mappings().one()
    assert ev["action"] == "regrid" and ev["actor_id"] == w["planner"].person_id and ev["actor_role"] == "planner"
    assert ev["data"] == {"from_grid_code": G1, "to_grid_code": G2, "from_community_id": w.com["C1"],
                          "to_community_id": w.com["C2"], "change_id": res.change_id}
    assert (ev["from_status"], ev["to_status"], ev["grid_id"]) == ("dispatched", "dispatched", w.grid["C2"])

    for untouched in (staying, closed, far):
        r = row(w.conn, untouched["id"])
        assert (r["grid_code"], r["version"]) == (untouched["grid_code"], untouched["version"])
    assert w.conn.execute(text("SELECT count(*) FROM case_event WHERE action = 'regrid'")).scalar_one() == 1

    v1, v2 = versions(w.conn, G1)
    assert v1.valid_to == v2.valid_from == res.effective_at and v2.change_id == res.change_id
    assert v2.valid_to is None and v2.wkt == "POLYGON((0 0,0.5 0,0.5 1,0 1,0 0))"
    assert len(versions(w.conn, G3)) == 1
    chg = w.conn.execute(text("SELECT * FROM boundary_change WHERE id = :i"), {"i": res.change_id}).mappings().one()
    assert (chg["kind"], chg["reason"], chg["created_by"], chg["status"], chg["draft_id"]) == \
        ("publish", "调整社区边界", w["planner"].person_id, "applied", d)
    assert sorted(chg["community_ids"]) == sorted([w.com["C1"], w.com["C2"]])
    assert w.conn.execute(text("SELECT status FROM boundary_draft WHERE id = :d"), {"d": d}).scalar_one() == "published"
    # the communities' outlines follow their grids
    c1 = w.conn.execute(text("SELECT ST_Area(geom) FROM community WHERE id = :c"), {"c": w.com["C1"]}).scalar_one()
    assert c1 == pytest.approx(0.5)


def test_unchanged_grid_gets_no_new_version_and_a_split_gets_the_new_code(world):
    w = world
    in_new = case_at(w, 0.75, 0.5)
    d = draft_of(w.conn, [w.com["C1"], w.com["C2"]])
    set_geom(w.conn, d, G1, box(0, 0.5))
    add_grid(w.conn, d, NEW, w.com["C1"], box(0.5, 1))
    # C2's polygon written from another starting vertex: the same polygon (ST_Equals)
    set_geom(w.conn, d, G2, "POLYGON((2 1,1 1,1 0,2 0,2 1))")
    res = publish(w.conn, d, actor_id=w["planner"].person_id, reason="拆分网格")
    assert (res.versions_added, res.grids_added, res.grids_unchanged, res.cases_moved) == (2, 1, 1, 1)
    assert len(versions(w.conn, G2)) == 1
    assert row(w.conn, in_new["id"])["grid_code"] == NEW
    assert w.conn.execute(text("SELECT community_id FROM unit_grid WHERE code = :c"), {"c": NEW}).scalar_one() \
        == w.com["C1"]


def test_retired_grid_is_closed_and_its_cases_go_to_the_merged_grid(world):
    w = world
    case = case_at(w, 0.5, 0.5)
    d = draft_of(w.conn, [w.com["C1"], w.com["C2"]])
    set_geom(w.conn, d, G2, box(0, 2))
    retire(w.conn, d, G1)
    res = publish(w.conn, d, actor_id=None, reason="合并网格", warnings_reason="跨社区并入，社区边界随之调整")
    assert (res.versions_added, res.grids_retired, res.cases_moved) == (1, 1, 1)
    assert versions(w.conn, G1)[-1].valid_to == res.effective_at
    assert w.conn.execute(text("SELECT retired_at FROM unit_grid WHERE code = :c"), {"c": G1}).scalar_one() \
        == res.effective_at
    r = row(w.conn, case["id"])
    assert (r["grid_code"], r["reported_grid_code"]) == (G2, G1)
    ev = w.conn.execute(text("SELECT actor_role FROM case_event WHERE case_id = :i AND action = 'regrid'"),
                        {"i": case["id"]}).scalar_one()
    assert ev == "system"  # no actor given


def test_publish_changes_the_walls_boundary_stamp(world):
    w = world
    before = boundary_stamp(w.conn)
    publish(w.conn, moved_boundary_draft(w), actor_id=None, reason="边界调整")
    assert boundary_stamp(w.conn) != before


def test_worker_assignments_and_new_responsibility_grids_are_applied(world):
    w = world
    from tests.planning.draft_rows import set_responsibility

    d = draft_of(w.conn, [w.com["C1"]])
    set_responsibility(w.conn, d, "999998001001R01", w.com["C1"], [w["gw_c1"].person_id], [G1])
    publish(w.conn, d, actor_id=None, reason="配置网格员")
    got = w.conn.execute(text("""
        SELECT r.code, r.community_id, array_agg(x.person_id) AS workers FROM unit_grid g
        JOIN responsibility_grid r ON r.id = g.responsibility_grid_id
        JOIN responsibility_grid_worker x ON x.responsibility_grid_id = r.id WHERE g.code = :c GROUP BY 1, 2"""),
        {"c": G1}).one()
    assert (got.code, got.community_id, got.workers) == ("999998001001R01", w.com["C1"], [w["gw_c1"].person_id])
    assert len(versions(w.conn, G1)) == 1  # no geometry change, no version


@pytest.mark.parametrize("what", ["no reason", "twice", "overlap", "reused code", "community changed"])
def test_refusals_leave_nothing_written(world, what):
    w = world
    d = moved_boundary_draft(w)
    reason = "边界调整"
    if what == "no reason":
        reason = "  "
    elif what == "twice":
        publish(w.conn, d, actor_id=None, reason=reason)
    elif what == "overlap":
        set_geom(w.conn, d, G2, box(0.4, 2))
    elif what == "reused code":
        add_grid(w.conn, d, G3, w.com["C1"], box(0, 0.5, 1, 2))
    elif what == "community changed":  # G1 kept under its code in C2 (edits.move_grid never writes this)
        w.conn.execute(text("UPDATE boundary_draft_grid SET community_id = :c WHERE draft_id = :d AND code = :g"),
                       {"c": w.com["C2"], "d": d, "g": G1})
    n_changes = w.conn.execute(text("SELECT count(*) FROM boundary_change")).scalar_one()
    n_versions = w.conn.execute(text("SELECT count(*) FROM grid_version")).scalar_one()
    with pytest.raises(PublishRefused) as e:
        publish(w.conn, d, actor_id=None, reason=reason)
    assert e.value.message_zh and e.value.message_en
    assert w.conn.execute(text("SELECT count(*) FROM boundary_change")).scalar_one() == n_changes
    assert w.conn.execute(text("SELECT count(*) FROM grid_version")).scalar_one() == n_versions
    if what == "overlap":
        assert "overlap" in e.value.message_en and G1 in e.value.message_en
        # found by the database's check and by the validator: said once (the page counted both)
        assert [f.codes for f in e.value.findings if f.kind == "overlap"] == [(G1, G2)], e.value.findings
    if what == "reused code":
        assert G3 in e.value.message_en and "never reused" in e.value.message_en
    if what == "community changed":
        assert [f.kind for f in e.value.findings] == ["community_changed"], e.value.findings
        assert G1 in e.value.message_en and "new code" in e.value.message_en
        assert w.conn.execute(text("SELECT community_id FROM unit_grid WHERE code = :g"), {"g": G1}).scalar_one() \
            == w.com["C1"]


def test_the_database_keeps_a_grids_community(world):
    """Migration 0030: the roll-ups keep past deltas under a grid's community, so no grid changes it."""
    w = world
    with pytest.raises(sa_exc.IntegrityError, match="keeps its community"):
        with w.conn.begin_nested():
            w.conn.execute(text("UPDATE unit_grid SET community_id = :c WHERE code = :g"), {"c": w.com["C2"], "g": G1})
    # writing the same community back (as apply_boundary_change does for every published grid) is no change
    w.conn.execute(text("UPDATE unit_grid SET community_id = community_id, name = name WHERE code = :g"), {"g": G1})


def test_a_new_grid_outside_the_old_outline_grows_the_district_and_its_community(world):
    w = world
    d = draft_of(w.conn, [w.com["C3"]])
    add_grid(w.conn, d, "999998002003002", w.com["C3"], box(3, 4))
    res = publish(w.conn, d, actor_id=None, reason="新建小区", warnings_reason="新小区在社区原边界外，边界随之扩大")
    assert (res.grids_added, res.versions_added, res.grids_unchanged) == (1, 1, 1)
    areas = w.conn.execute(text(
        "SELECT (SELECT ST_Area(geom) FROM community WHERE id = :c), "
        "(SELECT ST_Area(d.geom) FROM district d JOIN subdistrict s ON s.district_id = d.id "
        " JOIN community c ON c.subdistrict_id = s.id WHERE c.id = :c)"), {"c": w.com["C3"]}).one()
    assert tuple(areas) == (pytest.approx(2.0), pytest.approx(4.0))  # the union of its grids
    assert row_at(w, 3.5, 0.5) == "999998002003002"


def row_at(w, lon, lat):
    return case_at(w, lon, lat)["grid_code"]


def test_warnings_without_a_reason_are_listed_in_the_refusal(world):
    w = world
    d = draft_of(w.conn, [w.com["C1"], w.com["C2"]])
    set_geom(w.conn, d, G2, box(0, 2))
    retire(w.conn, d, G1)  # C2's grid takes C1's area: C2 now reaches beyond its outline (a warning)
    with pytest.raises(PublishRefused) as e:
        publish(w.conn, d, actor_id=None, reason="合并网格")
    assert e.value.findings and all(f.severity == "warning" for f in e.value.findings)
    first = e.value.findings[0]
    assert first.message_en in e.value.message_en and first.message_zh in e.value.message_zh
