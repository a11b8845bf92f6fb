"""Impact preview: the cases it says would move are those publish moves; workload per worker."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from planning.impact import balance, impact
from planning.publish import publish
from tests.planning.draft_rows import draft_of, set_responsibility
from tests.planning.test_publish import G1, G2, G3, case_at, moved_boundary_draft


@pytest.fixture
def staffed(world):
    """Live responsibility grids: R1 (grid of C1) worked by gw_c1, R2 (grid of C2) by gw_c3."""
    w = world
    for code, com, grid, person in (("R1", "C1", G1, "gw_c1"), ("R2", "C2", G2, "gw_c3")):
        rid = w.conn.execute(text("INSERT INTO responsibility_grid(community_id, code, name) VALUES (:c, :code, :code) "
                                  "RETURNING id"), {"c": w.com[com], "code": code}).scalar_one()
        w.conn.execute(text("INSERT INTO responsibility_grid_worker VALUES (:r, :p)"),
                       {"r": rid, "p": w[person].person_id})
        w.conn.execute(text("UPDATE unit_grid SET responsibility_grid_id = :r WHERE code = :g"), {"r": rid, "g": grid})
    return w


def test_impact_lists_the_moves_publish_then_makes(staffed):
    w = staffed
    moving = case_at(w, 0.75, 0.5, "dispatched")
    case_at(w, 0.25, 0.5)
    case_at(w, 0.8, 0.5, "closed")
    case_at(w, 1.5, 0.5)
    case_at(w, 2.5, 0.5)
    d = moved_boundary_draft(w)
    imp = impact(w.conn, d)
    assert [m.case_id for m in imp.moves] == [moving["id"]]
    m = imp.moves[0]
    assert (m.old_grid, m.new_grid, m.grid_changes, m.community_changes, m.subdistrict_changes, m.worker_changes) == \
        (G1, G2, True, True, False, True)
    assert (m.old_workers, m.new_workers) == ((w["gw_c1"].person_id,), (w["gw_c3"].person_id,))
    assert imp.per_grid == [{"code": G1, "moved_out": 1, "moved_in": 0}, {"code": G2, "moved_out": 0, "moved_in": 1}]
    # last 90 days, every status: C1's worker had 0.25, 0.75 and 0.8; C2's had 1.5
    loads = {x.person_id: (x.before, x.after) for x in imp.workload}
    assert loads == {w["gw_c1"].person_id: (3, 1), w["gw_c3"].person_id: (1, 3)}
    assert imp.balance_before == imp.balance_after == pytest.approx(1.5)
    assert len(imp.geojson["moves"]["features"]) == 1
    assert {f["properties"]["code"]: f["properties"]["moved_in"] for f in imp.geojson["grids"]["features"]} == \
        {G1: 0, G2: 1}

    res = publish(w.conn, d, actor_id=None, reason="核对影响")
    assert res.cases_moved == imp.cases_moved == 1
    assert impact(w.conn, draft_of(w.conn, [w.com["C1"], w.com["C2"]])).moves == []  # nothing left to move


def test_moving_workers_only_moves_no_case_but_is_listed(staffed):
    w = staffed
    case_at(w, 0.5, 0.5)
    d = draft_of(w.conn, [w.com["C1"]])
    set_responsibility(w.conn, d, "R1", w.com["C1"], [w["gw_c3"].person_id], [G1])
    imp = impact(w.conn, d)
    assert [(m.grid_changes, m.worker_changes) for m in imp.moves] == [(False, True)]
    assert imp.cases_moved == 0
    assert publish(w.conn, d, actor_id=None, reason="换人").cases_moved == 0


def test_tie_break_on_a_shared_edge_agrees_with_the_database(staffed):
    """A case on the new edge x = 0.5 goes to the lower code (G1), as grid_at_point says."""
    w = staffed
    on_edge = case_at(w, 0.5, 0.5)
    on_far_edge = case_at(w, 2.0, 0.5)  # G2 | G3, G3 outside the draft: the lower code G2 keeps it
    imp = impact(w.conn, moved_boundary_draft(w))
    assert on_edge["id"] not in [m.case_id for m in imp.moves]
    assert on_far_edge["grid_code"] == G2 and on_far_edge["id"] not in [m.case_id for m in imp.moves]
    assert G3 > G2


def test_balance_is_max_over_mean():
    assert balance([2, 2, 2]) == 1.0
    assert balance([3, 1]) == 1.5
    assert balance([]) is None and balance([0, 0]) is None
