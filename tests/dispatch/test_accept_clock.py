"""超时未接收: the lead department's clock to accept a case it was sent (migration 0035)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from dispatch import desk, queries, service
from dispatch.calendar import TZ, WorkingCalendar
from dispatch.deadlines import ACCEPT_LIMIT, accept_due
from tests.world import bring_to

BIG = 100000


def _ids(rows) -> set[int]:
    return {r["id"] for r in rows}


def _registered_long_ago(w, conn, where="C1"):
    """A registered case, reported and registered days ago (any later instant may dispatch it)."""
    now = conn.execute(text("SELECT now()")).scalar()
    case = w.report(where, at=now - timedelta(days=20))
    return service.transition(conn, case_id=case["id"], action="register", actor=w["admin"],
                              at=now - timedelta(days=20, minutes=-5))


def _reworked(w, conn, *, days_ago: float) -> dict:
    """A case dispatched, accepted and fed back weeks ago, its verification failed ``days_ago``
    days ago (in rework, not accepted again): its row."""
    now = conn.execute(text("SELECT now()")).scalar()
    case = _registered_long_ago(w, conn)
    for days, action, actor, kw in ((19, "dispatch", "admin", {}), (18, "accept", "staff_hwc", {}),
                                    (17, "feed_back", "staff_hwc", {"comment": "已清理"}),
                                    (days_ago, "verify_fail", "admin", {"comment": "未清理干净"})):
        case = service.transition(conn, case_id=case["id"], action=action, actor=w[actor],
                                  at=now - timedelta(days=days), **kw)
    return case


def test_the_limit_runs_on_the_working_clock(conn):
    cal = WorkingCalendar.from_db(conn)
    assert ACCEPT_LIMIT == (1.0, "working_hours")
    # a working instant: one working hour later, whatever the weekday rule makes of the night
    start = cal.next_working_instant(datetime(2026, 6, 10, 9, 0, tzinfo=TZ))
    assert accept_due(cal, start, None) == cal.add_limit(start, 1.0, "working_hours")
    assert cal.working_hours_between(start, accept_due(cal, start, None)) == 1.0
    # sent at the end of a working day: due the next working day, not at night
    evening = datetime(2026, 6, 10, 22, 0, tzinfo=TZ)
    by = accept_due(cal, evening, None)
    assert cal.is_working_time(by) and by.date() > evening.date()
    # never later than the case's own deadline; a deadline already past does not make it late at once
    soon = cal.add_limit(start, 0.5, "working_hours")
    assert accept_due(cal, start, soon) == soon
    assert accept_due(cal, start, start - timedelta(hours=1)) == accept_due(cal, start, None)


def test_dispatch_starts_the_clock_and_accepting_ends_it(world, conn):
    w = world
    case = _registered_long_ago(w, conn)
    at = conn.execute(text("SELECT now()")).scalar() - timedelta(days=10)
    sent = service.transition(conn, case_id=case["id"], action="dispatch", actor=w["admin"], at=at)
    cal = WorkingCalendar.from_db(conn)
    assert sent["accept_due_at"] == accept_due(cal, at, sent["due_at"])
    # ten days on, nobody has accepted it: late, listed, counted, with whom to chase
    late = queries.late_accept_cases(conn, limit=BIG)
    row = next(r for r in late if r["id"] == case["id"])
    assert row["late_accept"] is True and row["department_id"] == sent["department_id"]
    assert row["department_name"]
    detail = queries.case_detail(conn, case["id"])
    assert detail["late_accept"] is True and detail["accept_due_at"] == sent["accept_due_at"]
    counts = queries.queue_counts(conn)
    assert counts["late_accept"] == len(queries.late_accept_cases(conn, limit=BIG))
    # accepting ends it (the value stays: when it had to be accepted by)
    took = service.transition(conn, case_id=case["id"], action="accept", actor=w["staff_hwc"])
    assert took["accept_due_at"] == sent["accept_due_at"] and took["status"] == "disposing"
    assert case["id"] not in _ids(queries.late_accept_cases(conn, limit=BIG))
    assert queries.case_detail(conn, case["id"])["late_accept"] is False
    assert queries.queue_counts(conn)["late_accept"] == counts["late_accept"] - 1


def test_a_fresh_dispatch_is_not_late(world, conn):
    w = world
    case = bring_to(w, "dispatched")
    assert case["accept_due_at"] is not None and case["accept_due_at"] <= case["due_at"]
    q = text(f"SELECT {queries.late_accept_sql('c', ':now')} FROM cases c WHERE id = :i")
    late = lambda t: conn.execute(q, {"now": t, "i": case["id"]}).scalar()  # noqa: E731
    assert late(case["accept_due_at"] - timedelta(seconds=1)) is False
    assert late(case["accept_due_at"]) is False  # due by that instant, late after it
    assert late(case["accept_due_at"] + timedelta(seconds=1)) is True
    assert case["id"] not in _ids(queries.late_accept_cases(conn, limit=BIG))


def test_rework_starts_a_new_clock_and_return_clears_it(world, conn):
    w = world
    rework = _reworked(w, conn, days_ago=5)
    failed_at = rework["verified_at"]
    cal = WorkingCalendar.from_db(conn)
    assert rework["status"] == "rework"
    assert rework["accept_due_at"] == accept_due(cal, failed_at, rework["due_at"])
    assert rework["id"] in _ids(queries.late_accept_cases(conn, limit=BIG))
    back = service.transition(conn, case_id=bring_to(w, "dispatched")["id"], action="return", actor=w["staff_hwc"],
                              comment="不属于本部门")
    assert back["status"] == "returned" and back["accept_due_at"] is None


def test_the_watch_list_is_the_actors_area(world, conn):
    w = world
    at = conn.execute(text("SELECT now()")).scalar() - timedelta(days=10)
    c1 = service.transition(conn, case_id=_registered_long_ago(w, conn, "C1")["id"], action="dispatch",
                            actor=w["admin"], at=at)
    c3 = service.transition(conn, case_id=_registered_long_ago(w, conn, "C3")["id"], action="dispatch",
                            actor=w["admin"], at=at)
    mine = _ids(queries.late_accept_cases(conn, actor=w["disp_c1"], limit=BIG))
    assert c1["id"] in mine and c3["id"] not in mine
    assert queries.queue_counts(conn, actor=w["disp_c1"])["late_accept"] == len(mine)
    # the department's own queue marks it, and its filter keeps it
    rows = desk.department_cases(conn, department_id=c1["department_id"], limit=BIG)
    late = {r.id for r in desk.department_filter(rows, "late_accept")}
    assert {c1["id"], c3["id"]} <= late
    assert all(r.status in queries.TO_ACCEPT for r in desk.department_filter(rows, "late_accept"))
    assert "late_accept" in desk.QUEUES
    assert c1["id"] in {r.id for r in desk.queue_rows(conn, queue="late_accept", actor=w["disp_c1"])}


def test_cases_sent_before_the_migration_get_their_clock_once(world, conn):
    """``manage.py migrate`` starts the clock of cases that waited for their department's 接收
    before migration 0035 stored one: the rule of the service, from the dispatch or from the failed
    verification; a case that has one keeps it; a second run changes nothing."""
    from dispatch.deadlines import start_missing_accept_clocks

    sent = bring_to(world, "dispatched")
    rework = _reworked(world, conn, days_ago=16)
    kept = bring_to(world, "dispatched")
    taken = bring_to(world, "disposing")
    legacy = [sent["id"], rework["id"], taken["id"]]
    conn.execute(text("UPDATE cases SET accept_due_at = NULL WHERE id = ANY(:i)"), {"i": legacy})
    assert start_missing_accept_clocks(conn) >= 2
    got = dict(conn.execute(text("SELECT id, accept_due_at FROM cases WHERE id = ANY(:i)"),
                            {"i": legacy + [kept["id"]]}).all())
    cal = WorkingCalendar.from_db(conn)
    assert got[sent["id"]] == accept_due(cal, sent["dispatched_at"], sent["due_at"])
    assert got[rework["id"]] == accept_due(cal, rework["verified_at"], rework["due_at"])
    assert rework["id"] in _ids(queries.late_accept_cases(conn, limit=BIG))
    assert got[kept["id"]] == kept["accept_due_at"]
    assert got[taken["id"]] is None  # accepted already: nobody waits
    assert start_missing_accept_clocks(conn) == 0


def test_an_assisting_department_is_not_late_to_accept(world, conn):
    """Only the lead department accepts: a case the department assists on is neither in its
    late-to-accept filter nor shows a time to accept by."""
    from ui.case_view import accept_cell

    w = world
    case = _registered_long_ago(w, conn)
    at = conn.execute(text("SELECT now()")).scalar() - timedelta(days=10)
    sent = service.transition(conn, case_id=case["id"], action="dispatch", actor=w["admin"], at=at,
                              department_id=w.dept["HWC"], assist_department_ids=[w.dept["CGZF"]])
    lead = {r.id: r for r in desk.department_cases(conn, department_id=w.dept["HWC"], limit=BIG)}
    helper = {r.id: r for r in desk.department_cases(conn, department_id=w.dept["CGZF"], limit=BIG)}
    assert lead[sent["id"]].role == "lead" and helper[sent["id"]].role == "assist"
    assert sent["id"] in {r.id for r in desk.department_filter(list(lead.values()), "late_accept")}
    assert sent["id"] not in {r.id for r in desk.department_filter(list(helper.values()), "late_accept")}
    assert helper[sent["id"]].late_accept and accept_cell(helper[sent["id"]]) == ""
