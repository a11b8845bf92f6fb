"""dispatch.desk: what the dispatch page and the department queue ask of the lifecycle,
on the hand-built world of tests/world.py (rolled back after each test)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from dispatch import desk as svc
from dispatch import service
from dispatch.calendar import TZ
from dispatch.desk import CasePanel, QueueRow


def test_registering_is_offered_inside_the_jurisdiction_and_relocating_outside(world):
    inside = world.report("C1")
    outside = world.report("outside")
    d = world["disp_d"]
    assert svc.allowed_actions(d, inside) == ["register", "reject", "merge", "reply"]
    assert "relocate" in svc.allowed_actions(d, outside) and "register" not in svc.allowed_actions(d, outside)


def test_the_panel_carries_actions_deadline_preview_and_grid_workers(world, conn):
    case = world.report("C1")
    service.transition(conn, case_id=case["id"], action="register", actor=world["disp_c1"], level="community")
    p = svc.case_panel(conn, case_id=case["id"], actor=world["disp_c1"])
    assert isinstance(p, CasePanel)
    assert p.status == "registered" and "dispatch" in p.actions and p.version == case["version"] + 1
    pv = p.deadline_preview
    assert pv is not None and pv.due_at > datetime.now(TZ) - timedelta(minutes=1) and pv.unit in ("working_hours", "working_days")
    assert p.timeline[-1].action == "register" and p.timeline[-1].action_label == "立案" and p.others == ()
    assert p.departments == () and p.duplicate_candidates == ()  # not dispatched; merge is not offered


def test_the_panel_is_only_for_the_actors_area(world, conn):
    case = world.report("C1")
    assert svc.case_panel(conn, case_id=case["id"], actor=world["disp_c1"]) is not None
    assert svc.case_panel(conn, case_id=case["id"], actor=world["disp_c3"]) is None
    assert svc.find_case(conn, case_no=case["case_no"], actor=world["disp_c3"]) is None
    assert svc.find_case(conn, case_no=case["case_no"], actor=world["disp_s1"]) == case["id"]


def test_merge_candidates_are_typed_and_nearest_first(world, conn):
    original = world.report("C1")
    dup = world.report("C1")
    cands = svc.duplicate_candidates(conn, dup)
    assert cands[0].id == original["id"] and cands[0].metres == 0 and cands[0].case_no == original["case_no"]
    p = svc.case_panel(conn, case_id=dup["id"], actor=world["disp_c1"])
    assert "merge" in p.actions and original["id"] in [c.id for c in p.duplicate_candidates]


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
    assert [o.person_id for o in others] == [world["disp_c1"].person_id]
    conn.execute(text("UPDATE case_presence SET seen_at = now() - interval '61 seconds' WHERE person_id = :p"),
                 {"p": world["disp_c1"].person_id})
    assert svc.others_on_case(conn, case_id=case["id"], actor=world["disp_s1"]) == []


def test_presence_ends_when_the_person_moves_to_another_case_or_lets_go(world, conn):
    a, b = world.report("C1"), world.report("C1")
    me, other = world["disp_c1"], world["disp_s1"]
    svc.keep_presence(conn, case_id=a["id"], actor=me)
    assert [o.person_id for o in svc.others_on_case(conn, case_id=a["id"], actor=other)] == [me.person_id]
    svc.keep_presence(conn, case_id=b["id"], actor=me)  # moved on to b
    assert svc.others_on_case(conn, case_id=a["id"], actor=other) == []
    assert [o.person_id for o in svc.others_on_case(conn, case_id=b["id"], actor=other)] == [me.person_id]
    svc.leave_cases(conn, actor=me)  # the panel let go, or signed out
    assert svc.others_on_case(conn, case_id=b["id"], actor=other) == []


def test_the_department_queue_gives_working_hours_left(world, conn):
    case = world.report("C1")
    service.transition(conn, case_id=case["id"], action="register", actor=world["disp_c1"], level="community")
    service.transition(conn, case_id=case["id"], action="dispatch", actor=world["disp_c1"],
                       department_id=world.dept["HWC"])
    rows = svc.department_cases(conn, department_id=world.dept["HWC"])  # (other data may share the database)
    row = next(r for r in rows if r.id == case["id"])
    assert isinstance(row, QueueRow) and row.role == "lead" and row.hours_left is not None
    assert [r.due_at for r in rows] == sorted(r.due_at for r in rows)
    assert case["id"] not in {r.id for r in svc.department_cases(conn, department_id=world.dept["CGZF"])}


def test_dispatcher_queues_are_typed_rows_of_the_actors_area(world, conn):
    case = world.report("C1")
    mine = svc.queue_rows(conn, queue="awaiting_sorting", actor=world["disp_c1"])
    row = next(r for r in mine if r.id == case["id"])
    assert isinstance(row, QueueRow) and (row.case_no, row.status, row.role) == (case["case_no"], "reported", None)
    assert case["id"] not in {r.id for r in svc.queue_rows(conn, queue="awaiting_sorting", actor=world["disp_c3"])}
    with pytest.raises(ValueError, match="queue"):
        svc.queue_rows(conn, queue="everything", actor=world["disp_c1"])


@pytest.mark.parametrize("sql, index", [
    ("SELECT id FROM cases WHERE duplicate_of = 1", "cases_duplicate_of_idx"),
    ("SELECT count(*) FROM cases c WHERE c.status NOT IN ('closed', 'rejected', 'merged') AND c.subdistrict_id = 1",
     "cases_open_scope_idx"),
    ("SELECT id FROM cases c WHERE c.status = ANY(ARRAY['dispatched', 'disposing']) AND c.department_id = 1 "
     "ORDER BY c.due_at LIMIT 20", "cases_department_work_idx"),
])
def test_the_desks_queries_can_use_their_indexes(conn, sql, index):
    """Migration 0008: the panel's duplicates, the queue badges and a department's queue each
    have an index (at a million cases the plans were measured: docs/measurements.md)."""
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(conn.execute(text(f"EXPLAIN {sql}")).scalars())
    # cases is partitioned by month (migration 0024): the plan names each month's copy of the index
    names = {index, *conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = to_regclass(:i)"),
                                  {"i": index}).scalars()}
    assert any(n in plan for n in names), plan


def test_merge_candidates_are_open_and_closed_cases_never_rejected_ones(world, conn):
    """The candidates come from both halves of the point index (migration 0018: open cases, ended
    ones): a closed case near by is offered, a rejected one is not."""
    open_one, closed, rejected = world.report("C1"), world.report("C1"), world.report("C1")
    conn.execute(text("UPDATE cases SET status = 'closed', level = 'community', closed_at = now() WHERE id = :i"),
                 {"i": closed["id"]})
    conn.execute(text("UPDATE cases SET status = 'rejected', rejected_at = now() WHERE id = :i"), {"i": rejected["id"]})
    dup = world.report("C1")
    offered = {c.id for c in svc.duplicate_candidates(conn, dup)}
    assert {open_one["id"], closed["id"]} <= offered and rejected["id"] not in offered
