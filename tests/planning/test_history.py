"""History: list, compare, export a version as GeoPackage, roll back (a new change, history kept)."""
from __future__ import annotations

import pyogrio
import pytest
import shapely
from sqlalchemy import text

from planning.history import compare, export_version, list_changes, rollback
from planning.publish import PublishRefused, publish
from tests.planning.draft_rows import add_grid, draft_of, retire, set_geom
from tests.planning.test_publish import G1, G2, G3, NEW, box, case_at, row, versions


@pytest.fixture
def two_changes(world):
    """change 1 splits C1's grid (NEW = x 0.5-1); change 2 gives NEW's area to C2's grid."""
    w = world
    d1 = draft_of(w.conn, [w.com["C1"], w.com["C2"]])
    set_geom(w.conn, d1, G1, box(0, 0.5))
    add_grid(w.conn, d1, NEW, w.com["C1"], box(0.5, 1))
    c1 = publish(w.conn, d1, actor_id=w["planner"].person_id, reason="拆分").change_id
    d2 = draft_of(w.conn, [w.com["C1"], w.com["C2"]])
    set_geom(w.conn, d2, G2, box(0.5, 2))
    retire(w.conn, d2, NEW)
    c2 = publish(w.conn, d2, actor_id=w["planner"].person_id, reason="并入", warnings_reason="C2 的网格接收 C1 的区域，社区边界随之调整").change_id
    return w, c1, c2


def test_list_changes_newest_first_with_who_and_why(two_changes):
    w, c1, c2 = two_changes
    got = [c for c in list_changes(w.conn) if c.id in (c1, c2)]
    assert [(c.id, c.kind, c.reason, c.by, c.status) for c in got] == [
        (c2, "publish", "并入", w["planner"].full_name, "applied"),
        (c1, "publish", "拆分", w["planner"].full_name, "applied")]
    assert [c.versions for c in got] == [1, 2]


def test_compare_names_added_removed_and_changed_grids(two_changes):
    w, c1, c2 = two_changes
    diff = compare(w.conn, c1, c2)
    assert [(r["code"], r["change"]) for r in diff["table"] if r["code"].startswith("999998")] == \
        [(NEW, "removed"), (G2, "changed")]
    changed = [f for f in diff["changed"]["features"] if f["properties"]["code"] == G2][0]
    assert shapely.geometry.shape(changed["geometry"]).bounds == (0.5, 0.0, 2.0, 1.0)
    assert shapely.geometry.shape(changed["properties"]["before"]).bounds == (1.0, 0.0, 2.0, 1.0)
    back = compare(w.conn, c2, c1)
    assert [(r["code"], r["change"]) for r in back["table"] if r["code"].startswith("999998")] == \
        [(NEW, "added"), (G2, "changed")]


def test_export_a_version_as_geopackage(two_changes, tmp_path):
    w, c1, _ = two_changes
    out = tmp_path / "v.gpkg"
    assert export_version(w.conn, out, change_id=c1, district_code="999998") == 4
    assert pyogrio.list_layers(out)[0][0] == "unit_grid"
    df = pyogrio.read_dataframe(out)
    assert str(df.crs.to_epsg()) == "4326"
    got = {r.code: r.geometry.bounds for r in df.itertuples()}
    assert got == {G1: (0, 0, 0.5, 1), NEW: (0.5, 0, 1, 1), G2: (1, 0, 2, 1), G3: (2, 0, 3, 1)}
    assert set(df.columns) >= {"community_code", "subdistrict_code", "district_code", "version_no"}
    with pytest.raises(ValueError, match="gpkg"):
        export_version(w.conn, tmp_path / "v.json", change_id=c1)


def test_rollback_publishes_the_old_version_again_and_keeps_history(two_changes):
    w, c1, c2 = two_changes
    open_case = case_at(w, 0.75, 0.5)
    assert open_case["grid_code"] == G2
    res = rollback(w.conn, c1, actor_id=w["admin"].person_id, reason="撤回并入")
    assert (res.versions_added, res.grids_added, res.cases_moved) == (2, 0, 1)
    assert [v.change_id for v in versions(w.conn, G2)] == [None, c2, res.change_id]
    assert versions(w.conn, G2)[-1].wkt == versions(w.conn, G2)[0].wkt  # as it was after change 1
    assert [v.change_id for v in versions(w.conn, NEW)] == [c1, res.change_id]
    assert w.conn.execute(text("SELECT retired_at FROM unit_grid WHERE code = :c"), {"c": NEW}).scalar_one() is None
    r = row(w.conn, open_case["id"])
    assert (r["grid_code"], r["reported_grid_code"]) == (NEW, G2)
    chg = w.conn.execute(text("SELECT kind, rollback_of, created_by FROM boundary_change WHERE id = :i"),
                         {"i": res.change_id}).one()
    assert tuple(chg) == ("rollback", c1, w["admin"].person_id)
    # rolling back to the current state again changes nothing and says so
    with pytest.raises(PublishRefused, match="nothing to roll back"):
        rollback(w.conn, res.change_id, actor_id=None, reason="再来")


def test_rollback_and_export_take_the_responsibility_grids_and_workers_of_then(world, tmp_path):
    """Change 1 puts G1 in R01 with worker gw_c1; change 2 moves G1 to R02 (no worker) and leaves
    R01 with no worker. Rolling back to change 1 restores both; the GeoPackage as of change 1 says
    R01 (session 14's review: both kept today's)."""
    from tests.planning.draft_rows import set_responsibility

    w = world
    r1, r2, gw = "999998001001R01", "999998001001R02", w["gw_c1"].person_id
    d1 = draft_of(w.conn, [w.com["C1"]])
    set_responsibility(w.conn, d1, r1, w.com["C1"], [gw], [G1])
    c1 = publish(w.conn, d1, actor_id=None, reason="配置").change_id
    d2 = draft_of(w.conn, [w.com["C1"]])
    set_responsibility(w.conn, d2, r1, w.com["C1"], [], [])
    set_responsibility(w.conn, d2, r2, w.com["C1"], [], [G1])
    publish(w.conn, d2, actor_id=None, reason="调整", warnings_reason="R01 暂时空缺")

    def state():
        resp = w.conn.execute(text("SELECT r.code FROM unit_grid g JOIN responsibility_grid r "
                                   "ON r.id = g.responsibility_grid_id WHERE g.code = :c"), {"c": G1}).scalar_one()
        workers = w.conn.execute(text("SELECT array_agg(x.person_id) FROM responsibility_grid r "
                                      "JOIN responsibility_grid_worker x ON x.responsibility_grid_id = r.id "
                                      "WHERE r.code = :c"), {"c": r1}).scalar_one()
        return resp, workers

    assert state() == (r2, None)
    out = tmp_path / "v1.gpkg"
    export_version(w.conn, out, change_id=c1, district_code="999998")
    df = pyogrio.read_dataframe(out)
    assert dict(zip(df.code, df.responsibility_code))[G1] == r1
    res = rollback(w.conn, c1, actor_id=None, reason="恢复")
    assert res.versions_added == 0  # no polygon differs: only the assignment
    assert state() == (r1, [gw])
