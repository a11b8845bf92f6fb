"""dispatch.desk: what the dispatch page and the department queue ask of the lifecycle,
on the hand-built world of tests/world.py (rolled back after each test)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from dispatch import desk as svc
from dispatch.calendar import TZ
from dispatch.errors import Conflict, InvalidInput, PermissionDenied
from wall.dispatch_map import SELECTED_LAYER, dispatch_deck


@pytest.mark.parametrize("selection, want", [
    ({"selection": {"indices": {"cases": [3]}, "objects": {"cases": [{"i": 42, "p": [1, 2]}]}}}, 42),
    ({"selection": {"indices": {"cases": [0]}, "objects": {"cases": [{"i": "7"}]}}}, 7),
    ({"selection": {"indices": {"grids": [5]}, "objects": {"grids": [{"g": [], "t": "网格"}]}}}, None),  # a grid
    ({"selection": {"indices": {}, "objects": {}}}, None),
    ({"objects": {"cases": [{"i": 9}]}}, 9),
    (None, None),
    ({"selection": {"objects": {"cases": [{"p": [1, 2]}]}}}, None),
])
def test_a_map_click_resolves_to_the_case_by_its_own_id_field(selection, want):
    assert svc.case_id_from_selection(selection) == want


def test_registering_is_offered_inside_the_jurisdiction_and_relocating_outside(world):
    inside = world.report("C1")
    outside = world.report("outside")
    d = world["disp_d"]
    assert svc.allowed_actions(d, inside) == ["register", "reject", "merge"]
    assert "relocate" in svc.allowed_actions(d, outside) and "register" not in svc.allowed_actions(d, outside)


def test_the_panel_carries_actions_deadline_preview_and_grid_workers(world, conn):
    case = world.report("C1")
    svc.perform_action(conn, case_id=case["id"], action="register", actor=world["disp_c1"], values={"level": "community"})
    p = svc.case_panel(conn, case_id=case["id"], actor=world["disp_c1"])
    assert p["status"] == "registered" and "dispatch" in p["actions"]
    pv = p["deadline_preview"]
    assert pv is not None and pv.due_at > datetime.now(TZ) - timedelta(minutes=1) and pv.unit in ("working_hours", "working_days")
    assert p["timeline"][-1]["action"] == "register" and p["others"] == []


def test_the_panel_is_only_for_the_actors_area(world, conn):
    case = world.report("C1")
    assert svc.case_panel(conn, case_id=case["id"], actor=world["disp_c1"]) is not None
    assert svc.case_panel(conn, case_id=case["id"], actor=world["disp_c3"]) is None
    assert svc.find_case(conn, case_no=case["case_no"], actor=world["disp_c3"]) is None
    assert svc.find_case(conn, case_no=case["case_no"], actor=world["disp_s1"]) == case["id"]


def test_every_action_form_maps_to_a_service_call(world, conn):
    """Walk one case round the loop through perform_action, as the pages do."""
    c1, staff = world["disp_c1"], world["staff_hwc"]
    case = world.report("C1")
    steps = [
        ("register", c1, {"level": "community", "category_code": "0102"}, "registered"),
        ("set_level", c1, {"level": "grid", "reason": "小问题"}, "registered"),
        ("dispatch", c1, {"department_id": world.dept["HWC"], "assist_department_ids": [world.dept["CGZF"]]}, "dispatched"),
        ("accept", staff, {"comment": "收到"}, "disposing"),
        ("request_postponement", staff, {"reason": "等待配件"}, "disposing"),
        ("approve_postponement", c1, {}, "postponed"),
        ("feed_back", staff, {"note": "已处理", "photo_ref": "p/after.jpg"}, "awaiting_verification"),
        ("verify_fail", c1, {"comment": "仍有垃圾"}, "rework"),
        ("accept", staff, {}, "disposing"),
        ("feed_back", staff, {"note": "已彻底清理"}, "awaiting_verification"),
        ("verify_pass", c1, {}, "closed"),
    ]
    for action, actor, values, status in steps:
        row = svc.perform_action(conn, case_id=case["id"], action=action, actor=actor, values=values)
        assert row["status"] == status, action
    assert row["result_photo_ref"] == "p/after.jpg"


def test_merge_takes_a_case_number_or_an_id(world, conn):
    original = world.report("C1")
    dup = world.report("C1")
    cands = svc.duplicate_candidates(conn, dup)
    assert cands[0]["id"] == original["id"] and cands[0]["metres"] == 0
    row = svc.perform_action(conn, case_id=dup["id"], action="merge", actor=world["disp_c1"],
                             values={"duplicate_of": original["case_no"]})
    assert (row["status"], row["duplicate_of"]) == ("merged", original["id"])
    with pytest.raises(InvalidInput):
        svc.perform_action(conn, case_id=world.report("C1")["id"], action="merge", actor=world["disp_c1"],
                           values={"duplicate_of": "NO-SUCH-CASE"})


def test_refusals_come_from_the_service(world, conn):
    case = world.report("C1")
    with pytest.raises(PermissionDenied):  # command staff only view
        svc.perform_action(conn, case_id=case["id"], action="register", actor=world["cmd"], values={})
    with pytest.raises(InvalidInput):  # a rejection needs a reason; blank text counts as none
        svc.perform_action(conn, case_id=case["id"], action="reject", actor=world["disp_c1"], values={"reason": "  "})
    with pytest.raises(InvalidInput):
        svc.perform_action(conn, case_id=case["id"], action="teleport", actor=world["admin"], values={})
    with pytest.raises(Conflict):  # the form was drawn from an older version
        svc.perform_action(conn, case_id=case["id"], action="register", actor=world["disp_c1"], values={},
                           expected_version=case["version"] - 1)


def test_a_kept_deadline_is_left_to_the_service_and_a_changed_one_is_sent():
    due = datetime(2026, 3, 2, 17, 30, tzinfo=TZ)
    assert svc.due_override(due + timedelta(seconds=20), due) is None
    assert svc.due_override(due + timedelta(days=1), due) == due + timedelta(days=1)
    assert svc.due_override(None, due) is None
    assert svc.local_datetime(due.date(), due.timetz().replace(tzinfo=None)) == due


@pytest.mark.parametrize("level, want", [("grid", ["community", "district"]), ("community", ["subdistrict", "district"]),
                                         ("subdistrict", ["district"]), ("district", [])])
def test_escalation_goes_one_step_or_straight_to_district(level, want):
    assert svc.levels_above(level) == want


def test_presence_shows_others_within_a_minute(world, conn):
    case = world.report("C1")
    assert svc.keep_presence(conn, case_id=case["id"], actor=world["disp_c1"]) == []
    others = svc.keep_presence(conn, case_id=case["id"], actor=world["disp_s1"])
    assert [o["person_id"] for o in others] == [world["disp_c1"].person_id]
    conn.execute(text("UPDATE case_presence SET seen_at = now() - interval '61 seconds' WHERE person_id = :p"),
                 {"p": world["disp_c1"].person_id})
    assert svc.others_on_case(conn, case_id=case["id"], actor=world["disp_s1"]) == []


def test_the_department_queue_gives_working_hours_left(world, conn):
    case = world.report("C1")
    svc.perform_action(conn, case_id=case["id"], action="register", actor=world["disp_c1"], values={"level": "community"})
    svc.perform_action(conn, case_id=case["id"], action="dispatch", actor=world["disp_c1"],
                       values={"department_id": world.dept["HWC"]})
    rows = svc.department_cases(conn, department_id=world.dept["HWC"])  # (other data may share the database)
    row = next(r for r in rows if r["id"] == case["id"])
    assert row["role"] == "lead" and row["hours_left"] is not None
    assert [r["due_at"] for r in rows] == sorted(r["due_at"] for r in rows)
    assert case["id"] not in {r["id"] for r in svc.department_cases(conn, department_id=world.dept["CGZF"])}


def test_photo_references_are_only_opened_inside_the_photo_store(tmp_path, monkeypatch):
    monkeypatch.setattr(svc, "PHOTO_ROOT", tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "p.jpg").write_bytes(b"\xff\xd8")
    assert svc.photo_file("a/p.jpg") == tmp_path / "a" / "p.jpg"
    assert svc.photo_file("../etc/passwd") is None and svc.photo_file("/etc/passwd") is None
    assert svc.photo_file("sample/photo/1.jpg") is None and svc.photo_file(None) is None


def test_the_dispatch_deck_adds_a_ring_and_refits_without_moving_with_the_selection():
    spec = json.dumps({"initialViewState": {"longitude": 122.0, "latitude": 41.0, "zoom": 12.0},
                       "layers": [{"@@type": "ScatterplotLayer", "id": "cases", "data": []}]})
    a = json.loads(dispatch_deck(spec, 122.1, 41.1, drawn_for=(900, 620), shown_at=(450, 620)))
    b = json.loads(dispatch_deck(spec, None, None, drawn_for=(900, 620), shown_at=(450, 620)))
    assert a["initialViewState"] == b["initialViewState"] and a["initialViewState"]["zoom"] == 11.0
    ring = a["layers"][-1]
    assert ring["id"] == SELECTED_LAYER and not ring["pickable"] and ring["data"] == [{"p": [122.1, 41.1]}]
    assert [ly["id"] for ly in b["layers"]] == ["cases"]
