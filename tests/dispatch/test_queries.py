"""Queues, the overdue / at-risk definitions and the case detail."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from dispatch import queries, service
from tests.world import bring_to


def _dispatched_with_deadline(w, conn, *, minutes_left: float, span_minutes: float = 240, where="C1"):
    """A case whose deadline (a dispatcher's override) is ``minutes_left`` from now, so the test
    does not depend on the time of day it runs at."""
    now = conn.execute(text("SELECT now()")).scalar()
    case = w.report(where, at=now - timedelta(minutes=span_minutes + 30))
    service.transition(conn, case_id=case["id"], action="register", actor=w["admin"],
                       at=now - timedelta(minutes=span_minutes + 20))
    start = now - timedelta(minutes=span_minutes - minutes_left)
    return service.transition(conn, case_id=case["id"], action="dispatch", actor=w["admin"], at=start,
                              due_at=now + timedelta(minutes=minutes_left), due_reason="测试")


def test_time_state_of_open_cases(world, conn):
    w = world
    overdue = _dispatched_with_deadline(w, conn, minutes_left=-5)
    fresh = bring_to(w, "registered")
    def state(case):
        return queries.case_detail(conn, case["id"])["time_state"]

    assert state(overdue) == "overdue" and state(fresh) is None
    assert overdue["id"] in [r["id"] for r in queries.overdue_cases(conn, limit=100000)]
    assert fresh["id"] not in [r["id"] for r in queries.overdue_cases(conn, limit=100000)]
    closed = bring_to(w, "closed")
    assert state(closed) is None


def test_at_risk_is_less_than_a_fifth_left(world, conn):
    w = world
    case = bring_to(w, "dispatched")
    due, warn, start = case["due_at"], case["warn_at"], case["deadline_from"]
    cal_left = lambda t: (due - t)  # noqa: E731
    assert warn < due and start < warn
    q = text(f"SELECT {queries.time_state_sql('c', ':now')} FROM cases c WHERE id = :i")
    state = lambda t: conn.execute(q, {"now": t, "i": case["id"]}).scalar()  # noqa: E731
    assert state(start) == "on_track"
    assert state(warn - timedelta(seconds=1)) == "on_track"
    assert state(warn) == "at_risk" and state(due - timedelta(seconds=1)) == "at_risk"
    assert state(due + timedelta(seconds=1)) == "overdue" and cal_left(due) == timedelta(0)


def test_queues(world, conn):
    """(The shared test database may hold the sample district too: check our cases and the counts' growth.)"""
    w = world
    counts0 = queries.queue_counts(conn)
    reported = w.report("C2")
    outside = w.report("outside")
    returned = bring_to(w, "returned", where="C3")
    supervised = bring_to(w, "dispatched")
    service.transition(conn, case_id=supervised["id"], action="supervise", actor=w["disp_d"], comment="请加快")
    big = 100000
    sorting = [r["id"] for r in queries.awaiting_sorting(conn, limit=big)]
    assert reported["id"] in sorting and returned["id"] in sorting and outside["id"] not in sorting
    assert outside["id"] in [r["id"] for r in queries.outside_jurisdiction(conn, limit=big)]
    assert supervised["id"] in [r["id"] for r in queries.supervised_cases(conn, limit=big)]
    # scoped to the actor: the C1 dispatcher does not see C2's and C3's cases
    mine = [r["id"] for r in queries.awaiting_sorting(conn, actor=w["disp_c1"])]
    assert reported["id"] not in mine and returned["id"] not in mine
    counts = queries.queue_counts(conn)
    assert counts["awaiting_sorting"] - counts0["awaiting_sorting"] == 2
    assert counts["outside_jurisdiction"] - counts0["outside_jurisdiction"] == 1
    assert counts["supervised"] - counts0["supervised"] == 1
    assert counts["open"] - counts0["open"] == 4


def test_department_queue_nearest_deadline_first(world, conn):
    w = world
    late = _dispatched_with_deadline(w, conn, minutes_left=30)
    early = _dispatched_with_deadline(w, conn, minutes_left=10)
    other = bring_to(w, "dispatched")
    service.transition(conn, case_id=other["id"], action="return", actor=w["staff_hwc"], comment="非本部门")
    service.transition(conn, case_id=other["id"], action="dispatch", actor=w["admin"], department_id=w.dept["CGZF"],
                       assist_department_ids=[w.dept["HWC"]])
    mine = {late["id"], early["id"], other["id"]}
    q = [r for r in queries.department_queue(conn, department_id=w.dept["HWC"], limit=100000) if r["id"] in mine]
    lead = [r["id"] for r in q if r["role"] == "lead"]
    assert lead[:2] == [early["id"], late["id"]]
    assert any(r["id"] == other["id"] and r["role"] == "assist" for r in q)
    assert all(r["department_id"] != w.dept["HWC"] for r in q if r["role"] == "assist")


def test_case_detail_with_timeline(world, conn):
    w = world
    case = bring_to(w, "closed")
    d = queries.case_detail(conn, case["id"])
    assert d["case_no"] == case["case_no"] and d["status_label"] == "结案" and d["community_name"] == "测试社区C1"
    assert [e["action"] for e in d["timeline"]] == ["report", "register", "dispatch", "accept", "feed_back", "verify_pass"]
    assert d["timeline"][2]["action_label"] == "派遣" and d["timeline"][-1]["to_label"] == "结案"
    assert d["departments"][0]["role"] == "lead"
    en = queries.case_detail(conn, case["id"], lang="en")
    assert en["status_label"] == "Closed" and en["timeline"][0]["action_label"] == "Report"
    assert queries.case_detail(conn, -1) is None


def test_presence(world, conn):
    w = world
    case = bring_to(w, "registered")
    service.mark_presence(conn, case_id=case["id"], actor=w["disp_c1"])
    service.mark_presence(conn, case_id=case["id"], actor=w["admin"])
    others = service.others_present(conn, case_id=case["id"], actor=w["admin"])
    assert [o["full_name"] for o in others] == [w["disp_c1"].full_name]
