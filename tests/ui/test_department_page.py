"""部门工单 in AppTest: a department sees the cases dispatched to it, nearest deadline first, and
accepts, feeds back, asks for postponement or returns them through the page; another
department neither sees them nor may act on them (the service refuses if forced)."""
from __future__ import annotations

import dataclasses
import io
import json
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import text

from dispatch import service
from dispatch import desk as svc
from dispatch.errors import PermissionDenied
from tests.ui.dispatch_world import build, case_row, new_case, open_page, purge
from tests.ui.actions import action_buttons, choose
from ui import case_view as view
from ui import wall_view

PAGE = "pages/department_queue.py"
CASE = "dept.case_id"


@pytest.fixture(scope="module")
def w(engine):
    world = build(engine)
    yield world
    purge(engine)


def _html(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def _choose(at, case_id, action):
    return choose(at, f"dept-act-{case_id}", action)


def _submit(at, case_id, action):
    form = f"dept-act-{case_id}-{action}"
    (button,) = [b for b in at.button if b.proto.form_id == form]
    button.click().run()
    return at


@pytest.mark.parametrize("user", ["dpt_cmd", "dpt_planner", "dpt_disp_d", "dpt_disp_cm", "dpt_worker"])
def test_roles_other_than_department_staff_and_admin_cannot_open_it(w, user):
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        open_page(w[user], PAGE)


def test_the_queue_lists_the_departments_cases_nearest_deadline_first(w, engine):
    a = new_case(engine, w, "dispatched", dept="HWC")
    b = new_case(engine, w, "disposing", dept="HWC")
    other = new_case(engine, w, "dispatched", dept="CGZF")
    with engine.begin() as c:  # b is due sooner than a
        for case, hours in ((b, 1), (a, 30)):
            c.execute(text("UPDATE cases SET due_at = now() + make_interval(hours => :h), "
                           "warn_at = now() + make_interval(hours => :h) * 0.8 WHERE id = :i"), {"i": case["id"], "h": hours})
    at = open_page(w["dpt_staff_hwc"], PAGE)
    assert not at.exception and not at.error
    listed = at.dataframe[0].value["case_no"].tolist()
    assert b["case_no"] in listed and a["case_no"] in listed and other["case_no"] not in listed
    assert listed.index(b["case_no"]) < listed.index(a["case_no"])
    with engine.connect() as c:
        due = [r.due_at for r in svc.department_cases(c, department_id=w.dept["HWC"])]
    assert due == sorted(due)


def test_accept_then_feed_back_with_a_photo(w, engine, tmp_path, monkeypatch):
    monkeypatch.setenv("INTAKE_PHOTO_DIR", str(tmp_path / "photos"))
    row = new_case(engine, w, "dispatched", dept="HWC")
    staff = w["dpt_staff_hwc"]
    at = open_page(staff, PAGE, **{CASE: row["id"]})
    assert row["case_no"] in _html(at)
    at = _choose(at, row["id"], "accept")
    _submit(at, row["id"], "accept")
    got = case_row(engine, row["id"])
    assert (got["status"], got["handler_id"]) == ("disposing", staff.person_id)

    at = _choose(at, row["id"], "feed_back")
    at.text_area(key=f"dept-act-{row['id']}-feed_back-comment").input("已清运，现场恢复整洁")
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 90, 90)).save(buf, "JPEG")
    (up,) = [u for u in at.file_uploader if u.key.startswith(f"dept-act-{row['id']}-feed_back-photo_ref")]
    up.set_value(("after-001.jpg", buf.getvalue(), "image/jpeg"))
    _submit(at, row["id"], "feed_back")
    got = case_row(engine, row["id"])
    assert got["status"] == "awaiting_verification" and re.fullmatch(r"[0-9a-f]{32}\.jpg", got["result_photo_ref"])
    with engine.connect() as c:
        ev = c.execute(text("SELECT comment, attachments FROM case_event WHERE case_id = :i ORDER BY id DESC LIMIT 1"),
                       {"i": row["id"]}).one()
    assert ev.comment == "已清运，现场恢复整洁" and ev.attachments[0]["ref"] == got["result_photo_ref"]
    # verification is the command centre's: the department has nothing more to do
    at.run()
    assert not action_buttons(at, f"dept-act-{row['id']}")


def test_ask_for_postponement(w, engine):
    row = new_case(engine, w, "disposing", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "request_postponement")
    at.text_area(key=f"dept-act-{row['id']}-request_postponement-comment").input("需等待配件到货")
    _submit(at, row["id"], "request_postponement")
    got = case_row(engine, row["id"])
    assert got["postpone_requested_at"] is not None and got["postpone_request_reason"] == "需等待配件到货"
    assert got["postpone_requested_due_at"] > row["due_at"]


def test_return_as_not_ours_takes_it_off_the_queue(w, engine):
    row = new_case(engine, w, "dispatched", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "return")
    _submit(at, row["id"], "return")
    assert at.error and case_row(engine, row["id"])["status"] == "dispatched"  # a reason is required
    at.text_area(key=f"dept-act-{row['id']}-return-comment").input("属供电公司线路，非本部门职责")
    _submit(at, row["id"], "return")
    got = case_row(engine, row["id"])
    assert (got["status"], got["department_id"]) == ("returned", None)
    assert CASE not in at.session_state  # the case left this department: the panel lets go of it
    assert not at.dataframe or row["case_no"] not in at.dataframe[0].value["case_no"].tolist()


def test_another_department_neither_sees_the_case_nor_may_act(w, engine):
    row = new_case(engine, w, "dispatched", dept="HWC")
    other = w["dpt_staff_cgzf"]
    at = open_page(other, PAGE, **{CASE: row["id"]})
    assert row["case_no"] not in _html(at)
    assert not action_buttons(at, f"dept-act-{row['id']}")
    with engine.begin() as c, pytest.raises(PermissionDenied):
        service.transition(c, case_id=row["id"], action="accept", actor=other)
    assert case_row(engine, row["id"])["status"] == "dispatched"


def test_an_assisting_department_sees_the_case_but_only_the_lead_acts(w, engine):
    row = new_case(engine, w, "registered")
    with engine.begin() as c:
        service.transition(c, case_id=row["id"], action="dispatch", actor=w["dpt_admin"], department_id=w.dept["HWC"],
                           assist_department_ids=[w.dept["CGZF"]])
    at = open_page(w["dpt_staff_cgzf"], PAGE, **{CASE: row["id"]})
    assert row["case_no"] in at.dataframe[0].value["case_no"].tolist()
    assert row["case_no"] in _html(at)
    assert not action_buttons(at, f"dept-act-{row['id']}")
    assert any("协办" in c.value for c in at.caption)


def test_an_admin_picks_the_department(w, engine):
    row = new_case(engine, w, "dispatched", dept="CGZF")
    at = open_page(w["dpt_admin"], PAGE)
    at.selectbox(key="dq-dep").set_value(w.dept["CGZF"]).run()
    assert row["case_no"] in at.dataframe[0].value["case_no"].tolist()


def test_english(w, engine):
    new_case(engine, w, "dispatched", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], PAGE, lang="en")
    assert not at.exception and at.title[0].value == "Department work queue"
    assert any("Working hours left" in str(c.proto) for c in at.dataframe)


def test_hours_left_count_working_time(w, engine):
    row = new_case(engine, w, "dispatched", dept="HWC")
    with engine.connect() as c:
        got = next(r for r in svc.department_cases(c, department_id=w.dept["HWC"]) if r.id == row["id"])
        now = c.execute(text("SELECT now()")).scalar_one()
    assert got.hours_left is not None
    assert got.hours_left <= (got.due_at - now) / timedelta(hours=1) + 0.1


def _tick(at) -> list[int]:
    """The rows ticked in the queue table (under the widget key it is drawn with: ui.case_view.case_table)."""
    gen = at.session_state["dq-table.gen"] if "dq-table.gen" in at.session_state else 0
    return list(at.session_state[f"dq-table-t{gen}"]["selection"]["rows"])


def test_search_by_case_number_and_filters(w, engine):
    to_accept = new_case(engine, w, "dispatched", dept="HWC")
    working = new_case(engine, w, "disposing", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], PAGE)
    at.text_input(key="dq-search").input(working["case_no"])
    at.button(key="dq-search-go").click().run()
    assert at.session_state[CASE] == working["id"] and working["case_no"] in _html(at)
    filt = next(s for s in at.segmented_control if s.key == "dq-filter")
    filt.set_value("to_accept").run()
    listed = at.dataframe[0].value["case_no"].tolist()
    assert to_accept["case_no"] in listed and working["case_no"] not in listed
    # the panel keeps the case found, and the tick is on no other row
    assert at.session_state[CASE] == working["id"] and not _tick(at)
    at.text_input(key="dq-search").input("NO-SUCH-CASE")
    at.button(key="dq-search-go").click().run()
    assert any("未找到" in t.proto.body for t in at.toast)


def test_the_time_left_column_explains_at_risk(w, engine):
    new_case(engine, w, "dispatched", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], PAGE)
    cfg = json.loads(at.dataframe[0].proto.columns)
    assert "五分之一" in cfg["time"]["help"]  # header help on 时限状态
    for c in ("time", "hours_left"):  # headers not cut short: as wide as the label needs (tests/e2e/test_desk_fit.py)
        assert cfg[c]["width"] >= view.header_width(cfg[c]["label"], helped=True), cfg[c]


def test_a_chased_case_says_so_in_the_departments_queue_and_panel(w, engine):
    """催办 (migration 0032): the department sees which cases a dispatcher has pressed on, how often."""
    row = new_case(engine, w, "dispatched", dept="HWC")
    with engine.begin() as c:
        for note in ("今天内处理", "市民再次来电"):
            service.transition(c, case_id=row["id"], action="chase", actor=w["dpt_admin"], comment=note)
    at = open_page(w["dpt_staff_hwc"], PAGE, **{CASE: row["id"]})
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert dict(zip(table["case_no"], table["chased"]))[row["case_no"]] == "2 次"
    assert any("已催办 2 次" in str(e.proto) for e in at.get("html"))  # the panel's header chip


def test_a_notice_reruns_the_page_for_a_chase_but_not_for_the_clock(w, engine, monkeypatch):
    """The page's digest (``ui.wall_view.live``: what a change notice compares to decide on a
    whole-page rerun) holds the rows as stored, not what the clock alone changes: with the working
    hours left in it, a notice of any kind reran the page whenever a row's hours had ticked over a
    tenth since (a busy department in working hours: every few seconds; CI's flaky e2e check at
    17:00), while a 催办, shown in the queue, reran nothing."""
    row = new_case(engine, w, "dispatched", dept="HWC")
    at = open_page(w["dpt_staff_hwc"], PAGE)
    assert not at.exception
    watch = at.session_state[wall_view.LIVE]
    assert watch.digest(watch.version + 1) == watch.drawn  # nothing changed: no rerun
    monkeypatch.setattr(svc, "working_hours_left", lambda cal, now, due: -123.4)  # hours later, by the clock
    assert watch.digest(watch.version + 1) == watch.drawn
    monkeypatch.undo()
    with engine.begin() as c:
        service.transition(c, case_id=row["id"], action="chase", actor=w["dpt_admin"], comment="今天内处理")
    assert watch.digest(watch.version + 2) != watch.drawn  # the 已催办 column changed: the page reruns


def test_cases_late_to_accept_are_marked_and_filtered(w, engine, monkeypatch):
    """超时未接收 (migration 0035): the department sees until when it must accept each case it was
    sent, which it has let pass, and a filter of them; the clock alone reruns nothing."""
    late = new_case(engine, w, "dispatched", dept="HWC")
    fresh = new_case(engine, w, "dispatched", dept="HWC")
    with engine.begin() as c:
        c.execute(text("UPDATE cases SET accept_due_at = now() - interval '3 hours' WHERE id = :i"), {"i": late["id"]})
    at = open_page(w["dpt_staff_hwc"], PAGE)
    assert not at.exception and not at.error
    table = at.dataframe[0].value.set_index("case_no")
    assert table.loc[late["case_no"], "accept_by"].endswith("（已超时）")
    assert table.loc[fresh["case_no"], "accept_by"] and not table.loc[fresh["case_no"], "accept_by"].endswith("（已超时）")
    filt = next(s for s in at.segmented_control if s.key == "dq-filter")
    filt.set_value("late_accept").run()
    listed = at.dataframe[0].value["case_no"].tolist()
    assert late["case_no"] in listed and fresh["case_no"] not in listed
    # a case turning late by the clock alone changes no digest (the page's own clock redraws it)
    watch = at.session_state[wall_view.LIVE]
    real = svc.department_cases
    monkeypatch.setattr(svc, "department_cases", lambda conn, department_id: [
        dataclasses.replace(r, late_accept=not r.late_accept) for r in real(conn, department_id=department_id)])
    assert watch.digest(watch.version + 1) == watch.drawn
    monkeypatch.undo()
    # accepted: off the filter, no time to accept by any more
    with engine.begin() as c:
        service.transition(c, case_id=late["id"], action="accept", actor=w["dpt_staff_hwc"])
    at = open_page(w["dpt_staff_hwc"], PAGE)
    table = at.dataframe[0].value.set_index("case_no")
    assert table.loc[late["case_no"], "accept_by"] == ""
