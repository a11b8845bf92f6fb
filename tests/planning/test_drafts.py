"""Drafts and edits on real PostGIS: edits keep the community tiled, codes are the next free ones
(never a retired one), undo restores exactly, the live boundaries are untouched, bad ops are refused
with messages naming what was wrong."""
from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import text

import manage
from planning import drafts
from planning.errors import EditError
from tests.planning.conftest import C1, C2, D, code
from tests.zh_text import assert_chinese

S = 0.01


def new_draft(p, **kw) -> int:
    return drafts.create_draft(p.conn, name=kw.pop("name", "调整东社区"), reason="新小区", actor_id=p.planner,
                               district_code=D, **kw)


def edit(p, d, **op) -> drafts.EditResult:
    return drafts.apply_edit(p.conn, d, op, actor_id=p.planner)


def grid_rows(conn, d) -> list[tuple]:
    return conn.execute(text("SELECT code, grid_id, name, community_id, responsibility_code, encode(ST_AsBinary(geom), "
                             "'hex'), retired FROM boundary_draft_grid WHERE draft_id = :d ORDER BY code"), {"d": d}).all()


def resp_rows(conn, d) -> list[tuple]:
    return conn.execute(text("SELECT code, name, community_id, responsibility_grid_id, person_ids "
                             "FROM boundary_draft_responsibility WHERE draft_id = :d ORDER BY code"), {"d": d}).all()


def live(conn) -> list[tuple]:
    return conn.execute(text("SELECT g.code, g.name, g.retired_at, g.responsibility_grid_id, g.community_id, gv.id, "
                             "gv.version_no, encode(ST_AsBinary(gv.geom), 'hex'), gv.valid_from, gv.valid_to "
                             "FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id ORDER BY gv.id")).all()


def shapes(conn, d, community: str | None = None) -> dict[str, shapely.Polygon]:
    fc = drafts.draft_geojson(conn, d)
    return {f["properties"]["code"]: shape(f["geometry"]) for f in fc["features"]
            if f["properties"]["change"] != "retired" and (community is None or f["properties"]["community_code"] == community)}


def assert_tiled(conn, d, area: float):
    """The draft's grids form a valid coverage of exactly ``area`` square degrees, no problems."""
    gs = list(shapes(conn, d).values())
    assert shapely.coverage_is_valid(gs)
    assert sum(g.area for g in gs) == pytest.approx(area, rel=1e-12)
    assert shapely.union_all(gs).area == pytest.approx(area, rel=1e-12)
    from planning.validate import validate
    assert [p.kind for p in validate(conn, d) if p.severity == "error"] == []


FULL = 6 * S * S  # the six squares


# --- create, list, show -----------------------------------------------------------------------------

def test_a_draft_copies_the_current_grids_of_its_scope(plan):
    d = new_draft(plan)
    fc = drafts.draft_geojson(plan.conn, d)
    props = [f["properties"] for f in fc["features"]]
    assert [p["code"] for p in props] == sorted(code(c, k) for c, k in ((C1, 1), (C1, 2), (C1, 3), (C1, 4), (C2, 1), (C2, 2)))
    assert {p["change"] for p in props} == {"same"}
    assert props[0]["responsibility_code"] == "R1" and props[0]["community_name"] == "东社区"
    one = new_draft(plan, name="只改西社区", community_codes=[C2])
    assert [p["code"] for p in (f["properties"] for f in drafts.draft_geojson(plan.conn, one)["features"])] == \
        [code(C2, 1), code(C2, 2)]
    (r,) = resp_rows(plan.conn, d)
    assert r.code == "R1" and r.person_ids == [plan.worker]
    assert resp_rows(plan.conn, one) == []


def test_list_drafts_counts_grids_steps_and_errors(plan):
    d = new_draft(plan)
    edit(plan, d, op="move_vertex", **{"from": [S, S], "to": [0.012, 0.012]})
    (s,) = [s for s in drafts.list_drafts(plan.conn) if s.id == d]
    assert (s.name, s.reason, s.created_by, s.n_grids, s.n_steps, s.n_errors) == ("调整东社区", "新小区", "规划员甲", 6, 1, 0)
    drafts.abandon(plan.conn, d, actor_id=plan.planner)
    assert d not in [s.id for s in drafts.list_drafts(plan.conn)]
    assert [s.status for s in drafts.list_drafts(plan.conn, status=None) if s.id == d] == ["abandoned"]


def test_context_has_outlines_with_labels_and_open_cases(plan):
    plan.conn.execute(text("UPDATE community SET geom = ST_Multi(ST_MakeEnvelope(0, 0, 0.02, 0.02, 4326)) "
                           "WHERE code = :c"), {"c": C1})
    from tests.factories import report
    case = report(plan.conn, 0.005, 0.005)
    d = new_draft(plan)
    feats = drafts.context_geojson(plan.conn, d)["features"]
    kinds = [f["properties"]["kind"] for f in feats]
    assert kinds.count("district") == 1 and kinds.count("community") == 1
    (c,) = [f for f in feats if f["properties"]["kind"] == "community"]
    assert c["properties"]["code"] == C1 and shape(c["geometry"]).covers(shapely.Point(c["properties"]["label"]))
    (k,) = [f for f in feats if f["properties"]["kind"] == "case"]
    assert k["properties"]["id"] == case["id"] and k["properties"]["grid_code"] == code(C1, 1)


@pytest.mark.parametrize("kw, words", [
    ({"name": " "}, "name"),
    ({"community_codes": ["999997001009"]}, "999997001009"),
])
def test_create_refuses_bad_input(plan, kw, words):
    with pytest.raises(EditError) as e:
        new_draft(plan, **kw)
    assert words in str(e.value) and e.value.message_zh


# --- edits keep the tiling --------------------------------------------------------------------------

def test_split_keeps_the_community_tiled_and_gives_the_next_free_code(plan):
    d = new_draft(plan)
    res = edit(plan, d, op="split", code=code(C1, 1), line=[[0.003, -0.001], [0.003, 0.0101]])
    # the largest part keeps 001; the other gets 006: 005 was retired and is never reused
    assert res.changed == [code(C1, 1), code(C1, 3), code(C1, 6)] and res.n_errors == 0
    g = shapes(plan.conn, d)
    assert g[code(C1, 1)].equals(shapely.box(0.003, 0, S, S)) and g[code(C1, 6)].equals(shapely.box(0, 0, 0.003, S))
    # the neighbour above got the new vertex on the shared edge
    assert (0.003, S) in list(g[code(C1, 3)].exterior.coords)
    assert_tiled(plan.conn, d, FULL)
    props = {f["properties"]["code"]: f["properties"] for f in drafts.draft_geojson(plan.conn, d)["features"]}
    assert (props[code(C1, 1)]["change"], props[code(C1, 6)]["change"], props[code(C1, 2)]["change"]) == \
        ("changed", "new", "same")
    assert props[code(C1, 3)]["change"] == "changed"  # the new vertex on its edge must be published too
    assert props[code(C1, 6)]["responsibility_code"] == "R1"


def test_a_line_drawn_just_short_of_the_edge_still_splits(plan):
    d = new_draft(plan)
    edit(plan, d, op="split", code=code(C1, 1), line=[[0.005, 0.000002], [0.005, 0.009998]])
    assert_tiled(plan.conn, d, FULL)
    assert len(shapes(plan.conn, d)) == 7


def test_merge_keeps_the_lowest_code_and_retires_the_others(plan):
    d = new_draft(plan)
    res = edit(plan, d, op="merge", codes=[code(C1, 4), code(C1, 3)])
    assert res.changed == [code(C1, 3), code(C1, 4)]
    g = shapes(plan.conn, d)
    assert code(C1, 4) not in g and g[code(C1, 3)].equals(shapely.box(0, S, 2 * S, 2 * S))
    assert_tiled(plan.conn, d, FULL)
    props = {f["properties"]["code"]: f["properties"]["change"] for f in drafts.draft_geojson(plan.conn, d)["features"]}
    assert props[code(C1, 4)] == "retired"


def test_move_vertex_moves_a_shared_vertex_in_every_grid(plan):
    d = new_draft(plan)
    res = edit(plan, d, op="move_vertex", **{"from": [S + 0.000001, S], "to": [0.013, 0.012]})
    assert res.changed == [code(C1, k) for k in (1, 2, 3, 4)]
    g = shapes(plan.conn, d)
    assert all((0.013, 0.012) in list(g[code(C1, k)].exterior.coords) for k in (1, 2, 3, 4))
    assert_tiled(plan.conn, d, FULL)


def test_move_vertex_on_an_edge_without_a_vertex_inserts_it_in_the_neighbour(plan):
    d = new_draft(plan)
    edit(plan, d, op="split", code=code(C1, 1), line=[[0.003, -0.001], [0.003, 0.0101]])
    # (0.003, 0) is a vertex of 001 and 006 only; move the new vertex on the top edge, shared with 003
    edit(plan, d, op="move_vertex", **{"from": [0.003, S], "to": [0.004, 0.011]})
    assert_tiled(plan.conn, d, FULL)


def test_add_fills_only_the_gap_and_nodes_the_neighbours(plan):
    d = new_draft(plan)
    # drawn over 001 and 002 and below them: only the part below the district is kept
    res = edit(plan, d, op="add", polygon=[[0.005, 0.005], [0.015, 0.005], [0.015, -0.005], [0.005, -0.005]],
               community_code=C1)
    g = shapes(plan.conn, d)
    assert code(C1, 6) in res.changed and g[code(C1, 6)].equals(shapely.box(0.005, -0.005, 0.015, 0))
    assert (0.005, 0.0) in list(g[code(C1, 1)].exterior.coords)
    assert_tiled(plan.conn, d, FULL + 0.01 * 0.005)
    out = [p.kind for p in res.problems]
    assert out == ["outside_parent"]  # a warning: C1's current outline does not reach there
    with pytest.raises(EditError, match="nothing of the drawn polygon"):
        edit(plan, d, op="add", polygon=[[0.001, 0.001], [0.002, 0.001], [0.002, 0.002]], community_code=C1)


def test_move_grid_to_another_community_gets_its_code_and_retires_the_old(plan):
    d = new_draft(plan)
    res = edit(plan, d, op="move_grid", code=code(C1, 2), community_code=C2)
    assert res.changed == [code(C1, 2), code(C2, 3)]
    props = {f["properties"]["code"]: f["properties"] for f in drafts.draft_geojson(plan.conn, d)["features"]}
    assert props[code(C1, 2)]["change"] == "retired" and props[code(C2, 3)]["community_code"] == C2
    assert [p.kind for p in res.problems] == ["outside_parent"]
    edit(plan, d, op="move_grid", code=code(C1, 3), responsibility_code="R1")
    assert props is not None and shapes(plan.conn, d)
    assert {r[0]: r[4] for r in grid_rows(plan.conn, d)}[code(C1, 3)] == "R1"


def test_move_grid_is_checked_in_both_communities(plan):
    """The grid moved in is outside its new community's outline; the community it left must not
    fall apart (C1 giving away 002 and 003 keeps 001 and 004, which only touch at a corner)."""
    d = new_draft(plan)
    res = edit(plan, d, op="move_grid", code=code(C1, 2), community_code=C2)
    assert [p.kind for p in res.problems] == ["outside_parent"]  # C1 is still one piece
    res = edit(plan, d, op="move_grid", code=code(C1, 3), community_code=C2)
    kinds = [(p.kind, p.severity, p.codes) for p in res.problems]
    assert ("community_split", "warning", [code(C1, 1), code(C1, 4)]) in kinds
    split = next(p for p in res.problems if p.kind == "community_split")
    assert "2 pieces (now 1)" in split.message_en and "东社区" in split.message_zh
    assert shape(split.location).area == pytest.approx(2 * S * S, rel=1e-9)  # where 002 and 003 were
    assert {p.codes[0] for p in res.problems if p.kind == "outside_parent"} == {code(C2, 3), code(C2, 4)}
    # undone: C1 is one piece again
    res = drafts.undo(plan.conn, d, actor_id=plan.planner)
    assert "community_split" not in [p.kind for p in res.problems]


def test_assign_workers_and_a_worker_left_without_grid(plan):
    d = new_draft(plan)
    res = edit(plan, d, op="assign_workers", responsibility_code="R1", person_ids=[])
    assert res.responsibilities_changed == ["R1"]
    assert [(p.kind, p.severity) for p in res.problems] == [("worker_without_grid", "warning")]
    with pytest.raises(EditError, match=f"persons \\[{plan.planner}\\] are not grid workers"):
        edit(plan, d, op="assign_workers", responsibility_code="R1", person_ids=[plan.planner])
    # the two grids of R1 merged into one, then moved off R1: R1 is empty
    edit(plan, d, op="assign_workers", responsibility_code="R1", person_ids=[plan.worker])
    edit(plan, d, op="move_grid", code=code(C1, 1), responsibility_code=None)
    res = edit(plan, d, op="move_grid", code=code(C1, 2), responsibility_code=None)
    assert [p.kind for p in res.problems] == ["empty_responsibility", "worker_without_grid"]


def test_replace_from_file(plan, tmp_path):
    d = new_draft(plan)
    # C2 redrawn as three strips 002, 003 and 004 (001 left out: retired)
    strips = [(code(C2, 2), 0.02, 0.0233), (code(C2, 3), 0.0233, 0.0266), (code(C2, 4), 0.0266, 0.03)]
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": c, "name": f"条{c[-1]}"},
         "geometry": shapely.geometry.mapping(shapely.box(x0, 0, x1, 0.02))} for c, x0, x1 in strips]}
    path = tmp_path / "c2.geojson"
    path.write_text(json.dumps(fc))
    res = edit(plan, d, op="replace_from_file", path=str(path), crs="WGS84")
    assert res.changed == [code(C2, k) for k in (1, 2, 3, 4)] and res.n_errors == 0
    g = shapes(plan.conn, d, C2)
    assert sorted(g) == [code(C2, k) for k in (2, 3, 4)]
    # the strip along C1 got C1's vertex on the common edge: the edge is shared
    assert (0.02, S) in list(g[code(C2, 2)].exterior.coords)
    assert_tiled(plan.conn, d, FULL)
    with pytest.raises(EditError, match="does not say which datum") as e:
        edit(plan, d, op="replace_from_file", path=str(path))
    assert_chinese(e.value.message("zh"))  # the page's language: the file's problem in Chinese too
    assert "c2.geojson" in e.value.message("zh")
    fc["features"][0]["properties"]["code"] = code(C1, 5)
    path.write_text(json.dumps(fc))
    with pytest.raises(EditError, match="were retired and are never reused"):
        edit(plan, d, op="replace_from_file", path=str(path), crs="WGS84")


# --- undo, the live boundaries ----------------------------------------------------------------------

OPS = [
    {"op": "split", "code": code(C1, 1), "line": [[0.003, -0.001], [0.003, 0.0101]]},
    {"op": "merge", "codes": [code(C1, 1), code(C1, 2)]},
    {"op": "move_vertex", "from": [S, S], "to": [0.0105, 0.0111]},
    {"op": "add", "polygon": [[0, 0], [0.02, 0], [0.02, -0.01], [0, -0.01]], "community_code": C1},
    {"op": "move_grid", "code": code(C1, 4), "community_code": C2},
    {"op": "assign_workers", "responsibility_code": "R1", "person_ids": []},
]


@pytest.mark.parametrize("op", OPS, ids=[o["op"] for o in OPS])
def test_undo_restores_exactly_and_the_live_grids_are_untouched(plan, op):
    before_live = live(plan.conn)
    d = new_draft(plan)
    edit(plan, d, op="move_vertex", **{"from": [0.02, S], "to": [0.0201, 0.0102]})
    rows, resps = grid_rows(plan.conn, d), resp_rows(plan.conn, d)
    res = drafts.apply_edit(plan.conn, d, op, actor_id=plan.planner)
    assert res.changed or res.responsibilities_changed
    assert (grid_rows(plan.conn, d), resp_rows(plan.conn, d)) != (rows, resps)
    assert live(plan.conn) == before_live
    drafts.undo(plan.conn, d, actor_id=plan.planner)
    assert grid_rows(plan.conn, d) == rows and resp_rows(plan.conn, d) == resps
    assert plan.conn.execute(text("SELECT count(*) FROM boundary_draft_step WHERE draft_id = :d"), {"d": d}).scalar() == 1
    assert live(plan.conn) == before_live


def test_steps_record_who_and_what(plan):
    d = new_draft(plan)
    op = {"op": "merge", "codes": [code(C1, 1), code(C1, 2)]}
    edit(plan, d, **op)
    step = plan.conn.execute(text("SELECT seq, op, actor_id, before FROM boundary_draft_step WHERE draft_id = :d"),
                             {"d": d}).one()
    assert (step.seq, step.op, step.actor_id) == (1, op, plan.planner)
    assert sorted(step.before["grids"]) == [code(C1, 1), code(C1, 2)]


# --- refusals ---------------------------------------------------------------------------------------

BAD = [
    ({"op": "rotate"}, "unknown edit 'rotate'"),
    ({"op": "split", "code": code(C1, 1)}, "split: line is missing"),
    ({"op": "split", "code": code(C1, 1), "line": [[0.005, 0.001], [0.005, 0.002]]}, "does not cut grid"),
    ({"op": "split", "code": code(C1, 9), "line": [[0, 0], [1, 1]]}, f"grid {code(C1, 9)} is not in this draft"),
    ({"op": "split", "code": code(C1, 1), "line": [[0.005, 0.001], [0.005, 0.001]]}, "the line has no length"),
    ({"op": "merge", "codes": [code(C1, 1)]}, "at least two different grid codes"),
    ({"op": "merge", "codes": [code(C1, 1), code(C1, 4)]}, "not adjacent"),
    ({"op": "merge", "codes": [code(C1, 2), code(C2, 1)]}, "only grids of one community"),
    ({"op": "move_vertex", "from": [0.5, 0.5], "to": [0.6, 0.6]}, "no grid has a vertex or edge within"),
    ({"op": "move_vertex", "from": [200, 0], "to": [0, 0]}, "out of range"),
    ({"op": "move_vertex", "from": "here", "to": [0, 0]}, "from must be [lon, lat]"),
    ({"op": "add", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1]], "community_code": C1}, "not valid (Self-intersection"),
    ({"op": "add", "polygon": [[0, -1], [1, -1], [1, -2]], "community_code": "999997001009"}, "not in this draft's scope"),
    ({"op": "move_grid", "code": code(C1, 1), "responsibility_code": "R9"}, "no responsibility grid R9"),
    ({"op": "move_grid", "code": code(C1, 3), "community_code": C2, "responsibility_code": "R1"},
     "R1 does not belong to community"),
    ({"op": "assign_workers", "responsibility_code": "R1", "person_ids": [987654321]}, "no active person [987654321]"),
    ({"op": "replace_from_file", "path": "/nonexistent/grids.gpkg", "crs": "WGS84"}, "no such file"),
]


@pytest.mark.parametrize("op, words", BAD, ids=[f"{o['op']}-{k}" for k, (o, _) in enumerate(BAD)])
def test_bad_ops_are_refused_with_a_message_and_nothing_written(plan, op, words):
    d = new_draft(plan)
    rows = grid_rows(plan.conn, d)
    with pytest.raises(EditError) as e:
        drafts.apply_edit(plan.conn, d, op, actor_id=plan.planner)
    assert words in str(e.value), str(e.value)
    assert e.value.message_zh and e.value.message_zh != e.value.message_en
    assert grid_rows(plan.conn, d) == rows


def test_a_closed_draft_and_an_empty_undo_are_refused(plan):
    d = new_draft(plan)
    with pytest.raises(EditError, match="has no edit to undo"):
        drafts.undo(plan.conn, d, actor_id=plan.planner)
    drafts.abandon(plan.conn, d, actor_id=plan.planner)
    with pytest.raises(EditError, match="is abandoned"):
        edit(plan, d, op="merge", codes=[code(C1, 1), code(C1, 2)])
    with pytest.raises(EditError, match="draft 0 does not exist"):
        drafts.draft_geojson(plan.conn, 0)


def test_cli_errors_are_one_line(capsys):
    assert manage.main(["draft-edit", "0", "--op", '{"op":"merge","codes":[]}', "--test"]) == 1
    assert capsys.readouterr().err == "error: draft 0 does not exist\n"
    assert manage.main(["draft-edit", "0", "--op", "{", "--test", "--lang", "zh"]) == 1
    assert capsys.readouterr().err.startswith("error: --op 不是有效的 JSON")


# --- a draft of some communities ---------------------------------------------------------------------

def test_a_scoped_draft_keeps_to_its_scope(plan):
    d = new_draft(plan, community_codes=[C2])
    # the vertex at (0.02, 0.01) is shared with C1's grids, which the draft does not hold
    with pytest.raises(EditError, match=f"shared with grid\\(s\\) {code(C1, 2)}, {code(C1, 4)} outside the draft"):
        edit(plan, d, op="move_vertex", **{"from": [0.02, S], "to": [0.019, S]})
    # a grid of the draft redrawn over C1 (from a file) overlaps a current grid outside the scope
    res = edit(plan, d, op="move_vertex", **{"from": [0.03, S], "to": [0.031, S]})
    assert [p.kind for p in res.problems] == ["outside_parent", "outside_parent"]
    assert res.n_errors == 0
    res = edit(plan, d, op="split", code=code(C2, 1), line=[[0.025, -0.001], [0.025, 0.0101]])
    assert res.n_errors == 0


def test_a_scoped_draft_sees_overlaps_with_grids_outside_it(plan, tmp_path):
    d = new_draft(plan, community_codes=[C2])
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code(C2, 1), "name": "越界"},
         "geometry": shapely.geometry.mapping(shapely.box(0.019, 0, 0.03, S))}]}
    path = tmp_path / "over.geojson"
    path.write_text(json.dumps(fc))
    res = edit(plan, d, op="replace_from_file", path=str(path), crs="WGS84")
    overlaps = [p for p in res.problems if p.kind == "overlap"]
    assert overlaps and overlaps[0].codes == [code(C2, 1), code(C1, 2)]
    assert "outside the draft's scope" in overlaps[0].message_en
    assert shape(overlaps[0].location).equals(shapely.box(0.019, 0, 0.02, S))
