"""派单 page in AppTest: who sees it, picking a case (map click injected through session_state,
as AppTest cannot click in a component's frame), the detail panel, actions that change the case in the
database, buttons that exist only where the service would allow the move, presence, conflicts."""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from dispatch import permissions, service
from dispatch import desk as svc
from dispatch.calendar import TZ
from dispatch.errors import PermissionDenied
from tests.ui.dispatch_world import build, case_row, new_case, open_page, purge
from tests.ui.actions import action_buttons, choose
from ui import case_view as view
from wall.live_map import unpack


PAGE = "pages/dispatch.py"
CASE = "dispatch.case_id"


@pytest.fixture(scope="module")
def w(engine):
    world = build(engine)
    yield world
    purge(engine)


def _action_labels(at, case_id) -> list[str]:
    return [b.label for b in action_buttons(at, f"dispatch-act-{case_id}").values()]


def _choose(at, case_id, action):
    return choose(at, f"dispatch-act-{case_id}", action)


def _map(at) -> dict:
    """The dispatch map as the browser gets it (the wall's component, wall.live_map's payload), with its ``select``."""
    (chart,) = [e.proto for e in at.get("component_instance") if e.proto.component_name == "ui.wall_map.wall_map"]
    (data,) = [a.bytes for a in chart.special_args if a.key == "data"]
    return {**unpack(data), "select": json.loads(chart.json_args)["select"]}


def _html(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


@pytest.mark.parametrize("user", ["dpt_cmd", "dpt_planner", "dpt_staff_hwc", "dpt_worker"])
def test_roles_without_dispatch_cannot_open_the_page(w, user):
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        open_page(w[user], PAGE)


@pytest.mark.parametrize("user", ["dpt_disp_d", "dpt_disp_sd", "dpt_disp_cm", "dpt_admin"])
def test_dispatchers_and_admins_get_map_queues_and_search(w, user):
    at = open_page(w[user], PAGE)
    assert not at.exception and not at.error
    m = _map(at)
    assert m["select"] is True and m["view"]["zoom"] > 0   # a clickable map of the area
    queue = next(s for s in at.segmented_control if s.key == "dispatch-queue")
    assert len(queue.options) == len(svc.QUEUES) and queue.value == "awaiting_sorting"
    assert at.text_input(key="dispatch-search")
    assert any("在地图上点击案件" in i.value for i in at.info)


def test_a_map_click_picks_the_case_by_its_own_id(w, engine):
    row = new_case(engine, w, "reported")
    at = open_page(w["dpt_disp_cm"], PAGE)
    # what the browser sends after a click on a case point: its own id and a nonce
    at.session_state["dispatch-map"] = {"i": row["id"], "n": "t-1"}
    at.run()
    assert at.session_state[CASE] == row["id"]
    assert row["case_no"] in _html(at)
    # the picked case is ringed on the map, on its own point (the payload is small: it is sent again)
    m = _map(at)
    k = m["cases"]["i"].index(row["id"])
    assert m["pick"] == [m["cases"]["x"][k], m["cases"]["y"][k]]
    # the same value kept by the map over later reruns does not take the panel back
    at.session_state[CASE] = None
    at.run()
    assert at.session_state[CASE] is None


def test_the_awaiting_sorting_queue_lists_the_case_in_the_dispatchers_area(w, engine):
    row = new_case(engine, w, "reported", community=0)
    mine = open_page(w["dpt_disp_cm"], PAGE)
    other = open_page(w["dpt_disp_cm2"], PAGE)
    assert row["case_no"] in mine.dataframe[0].value["case_no"].tolist()
    assert not other.dataframe or row["case_no"] not in other.dataframe[0].value["case_no"].tolist()


def test_search_by_case_number_opens_the_case(w, engine):
    row = new_case(engine, w, "registered")
    at = open_page(w["dpt_disp_cm"], PAGE)
    at.text_input(key="dispatch-search").input(row["case_no"]).run()
    assert CASE not in at.session_state   # typed, not sent: a form's value goes with its submit (Enter)
    at.text_input(key="dispatch-search").input(row["case_no"])
    at.button(key="dispatch-search-go").click().run()
    assert at.session_state[CASE] == row["id"]


def test_the_panel_shows_the_case_and_escapes_its_description(w, engine):
    row = new_case(engine, w, "reported", description="<script>alert(1)</script> 井盖缺失")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    body = _html(at)
    assert row["case_no"] in body and "&lt;script&gt;alert(1)&lt;/script&gt; 井盖缺失" in body
    assert "<script>alert(1)" not in body
    assert "网格员" in body and "处置过程" in [t.label for t in at.tabs][1]


def test_the_buttons_are_the_services_allowed_actions(w, engine):
    row = new_case(engine, w, "reported")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    allowed = svc.allowed_actions(w["dpt_disp_cm"], case_row(engine, row["id"]))
    assert allowed == ["register", "reject", "merge", "reply"]  # relocate only for a case outside every grid
    assert _action_labels(at, row["id"]) == ["立案", "不予立案", "合并重复案件", "答复市民"]


def test_a_reply_to_the_reporter_through_the_page(w, engine):
    """答复市民 from the panel: the form's text becomes the case's public reply (the status page and
    Open311 show it), nothing else changes."""
    row = new_case(engine, w, "reported")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "reply")
    form = f"dispatch-act-{row['id']}-reply"
    (box,) = [a for a in at.text_area if a.key.startswith(form)]
    assert "答复" in box.label
    assert "公开" in box.label  # the public reads it (status page, Open311): said where it is typed
    box.set_value("已收到，明日上午派人处理\n<b>请保持电话畅通</b>")
    _submit_form(at, row["id"], "reply")
    assert not at.error and not at.exception
    got = case_row(engine, row["id"])
    assert (got["public_reply"], got["status"]) == ("已收到，明日上午派人处理\n<b>请保持电话畅通</b>", "reported")
    # the panel says what they were told, line by line, markup shown as typed
    assert "已答复市民" in _html(at) and "已收到，明日上午派人处理<br>&lt;b&gt;请保持电话畅通&lt;/b&gt;" in _html(at)


def test_register_through_the_page_changes_the_case(w, engine):
    row = new_case(engine, w, "reported")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "register")
    at.selectbox(key=f"dispatch-act-{row['id']}-register-level").set_value("grid")
    _submit_form(at, row["id"], "register")
    got = case_row(engine, row["id"])
    assert (got["status"], got["level"]) == ("registered", "grid")
    assert not at.error
    assert "立案" in _html(at)  # the panel redrawn with the new state


def _submit_form(at, case_id, action):
    key = f"dispatch-act-{case_id}-{action}"
    buttons = [b for b in at.button if key in str(b.proto.form_id)]
    assert buttons, [b.proto.form_id for b in at.button]
    buttons[0].click().run()
    return at


def test_dispatch_shows_the_computed_deadline_and_sends_the_case(w, engine):
    row = new_case(engine, w, "registered", level="community")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "dispatch")
    with engine.connect() as c:
        preview = svc.preview_deadline(c, case_row(engine, row["id"]))
    captions = " ".join(c.value for c in at.caption)
    assert preview.due_at.strftime("%Y-%m-%d %H:%M") in captions
    dept = at.selectbox(key=f"dispatch-act-{row['id']}-dispatch-department_id")
    assert dept.value == w.dept["HWC"]  # the category's default department
    _submit_form(at, row["id"], "dispatch")
    got = case_row(engine, row["id"])
    assert got["status"] == "dispatched" and got["department_id"] == w.dept["HWC"]
    assert abs((got["due_at"] - preview.due_at).total_seconds()) < 3600  # computed again at dispatch
    with engine.connect() as c:
        ev = c.execute(text("SELECT action, actor_id FROM case_event WHERE case_id = :i ORDER BY id DESC LIMIT 1"),
                       {"i": row["id"]}).one()
    assert (ev.action, ev.actor_id) == ("dispatch", w["dpt_disp_cm"].person_id)
    # the map drawn after the action already shows it: the point is now "dispatched"
    assert at.session_state[CASE] == row["id"] and "已派遣" in _html(at)


def test_a_changed_deadline_needs_a_reason(w, engine):
    row = new_case(engine, w, "registered", level="community")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "dispatch")
    key = f"dispatch-act-{row['id']}-dispatch-due_at"
    later = at.date_input(key=f"{key}-d").value + timedelta(days=3)
    at.date_input(key=f"{key}-d").set_value(later)
    _submit_form(at, row["id"], "dispatch")
    assert at.error and "理由" in at.error[0].value
    assert case_row(engine, row["id"])["status"] == "registered"
    at.text_area(key=f"dispatch-act-{row['id']}-dispatch-due_reason").input("需协调施工队")
    _submit_form(at, row["id"], "dispatch")
    got = case_row(engine, row["id"])
    assert got["status"] == "dispatched" and got["due_at"].astimezone(TZ).date() == later


def test_reject_without_a_reason_is_refused_by_the_service(w, engine):
    row = new_case(engine, w, "reported")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "reject")
    _submit_form(at, row["id"], "reject")
    assert at.error and case_row(engine, row["id"])["status"] == "reported"
    at.text_area(key=f"dispatch-act-{row['id']}-reject-comment").input("重复投诉，已核实不属实")
    _submit_form(at, row["id"], "reject")
    assert case_row(engine, row["id"])["status"] == "rejected"


def test_merge_offers_nearby_cases_as_the_original(w, engine):
    original = new_case(engine, w, "registered")
    dup = new_case(engine, w, "reported")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: dup["id"]})
    at = _choose(at, dup["id"], "merge")
    pick = at.selectbox(key=f"dispatch-act-{dup['id']}-merge-duplicate_of")
    assert pick.options[0].startswith(original["case_no"])  # same category, same spot, latest first
    pick.set_value(original["id"])
    _submit_form(at, dup["id"], "merge")
    got = case_row(engine, dup["id"])
    assert (got["status"], got["duplicate_of"]) == ("merged", original["id"])


def test_verify_and_supervise_by_the_command_centre(w, engine):
    row = new_case(engine, w, "awaiting_verification", level="district")
    at = open_page(w["dpt_disp_d"], PAGE, **{CASE: row["id"]})
    options = _action_labels(at, row["id"])
    assert {"核查通过", "核查不通过", "督办"} <= set(options)
    at = _choose(at, row["id"], "verify_pass")
    _submit_form(at, row["id"], "verify_pass")
    assert case_row(engine, row["id"])["status"] == "closed"


def test_a_dispatcher_who_may_not_act_gets_no_buttons_and_the_service_refuses(w, engine):
    # a subdistrict-level case in community 0: sorted by the subdistrict, not by the community
    row = new_case(engine, w, "registered", level="subdistrict")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    assert row["case_no"] in _html(at)  # visible: it lies in the dispatcher's community …
    assert not action_buttons(at, f"dispatch-act-{row['id']}")  # … but no buttons
    assert any("没有可执行的操作" in c.value for c in at.caption)
    with engine.begin() as c, pytest.raises(PermissionDenied):
        service.transition(c, case_id=row["id"], action="dispatch", actor=w["dpt_disp_cm"],
                           department_id=w.dept["HWC"])
    assert case_row(engine, row["id"])["status"] == "registered"
    # the subdistrict's dispatcher does get them
    sub = open_page(w["dpt_disp_sd"], PAGE, **{CASE: row["id"]})
    assert "dispatch" in permissions.available_actions(w["dpt_disp_sd"], case_row(engine, row["id"]))
    assert "派遣" in _action_labels(sub, row["id"])


def test_a_case_of_another_community_is_not_shown(w, engine):
    row = new_case(engine, w, "reported", community=0)
    at = open_page(w["dpt_disp_cm2"], PAGE, **{CASE: row["id"]})
    assert row["case_no"] not in _html(at)
    assert at.warning and "不在本单位辖区" in at.warning[0].value


def test_another_dispatcher_with_the_case_open_is_shown(w, engine):
    row = new_case(engine, w, "reported")
    other = w["dpt_disp_sd"]
    with engine.begin() as c:
        svc.keep_presence(c, case_id=row["id"], actor=other)
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    assert any(other.full_name in x.value for x in at.warning)
    with engine.connect() as c:  # and our own presence is recorded for them
        mine = c.execute(text("SELECT count(*) FROM case_presence WHERE case_id = :c AND person_id = :p"),
                         {"c": row["id"], "p": w["dpt_disp_cm"].person_id}).scalar_one()
    assert mine == 1
    with engine.begin() as c:  # a stale entry (over a minute old) is ignored
        c.execute(text("UPDATE case_presence SET seen_at = now() - interval '90 seconds' WHERE person_id = :p"),
                  {"p": other.person_id})
    at.run()
    assert not any(other.full_name in x.value for x in at.warning)


def test_a_change_made_meanwhile_is_reported_as_a_conflict(w, engine):
    row = new_case(engine, w, "registered", level="community")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "set_level")
    with engine.begin() as c:  # someone else acts first
        service.transition(c, case_id=row["id"], action="set_level", actor=w["dpt_admin"], level="grid")
    before = case_row(engine, row["id"])
    _submit_form(at, row["id"], "set_level")
    assert at.error and "已被他人处理" in at.error[0].value
    assert case_row(engine, row["id"])["version"] == before["version"]


def test_english(w, engine):
    row = new_case(engine, w, "reported")
    at = open_page(w["dpt_disp_cm"], PAGE, lang="en", **{CASE: row["id"]})
    assert not at.exception
    assert at.title[0].value == "Dispatch"
    assert {"Register", "Reject"} <= set(_action_labels(at, row["id"]))


def _ticked(at, key) -> list[str]:
    """The case numbers ticked in the queue table ``key`` now (under the widget key it is drawn with)."""
    listed = at.dataframe[0].value["case_no"].tolist() if at.dataframe else []
    return [listed[i] for i in at.session_state[table_key(at, key)]["selection"]["rows"] if i < len(listed)]


def table_key(at, key) -> str:
    """The widget key of case table ``key`` (ui.case_view.table_key, read from the test's session)."""
    gen = at.session_state[f"{key}.gen"] if f"{key}.gen" in at.session_state else 0
    return f"{key}-t{gen}"


def test_after_register_the_queue_tick_never_moves_to_another_case(w, engine):
    a = new_case(engine, w, "reported")
    b = new_case(engine, w, "reported")  # listed right after a (oldest first)
    key = "dispatch-q-awaiting_sorting"
    at = open_page(w["dpt_disp_cm"], PAGE)
    listed = at.dataframe[0].value["case_no"].tolist()
    assert listed.index(b["case_no"]) == listed.index(a["case_no"]) + 1
    # the dispatcher ticks a's row (what the table's callback does: the case goes to the panel)
    at.session_state[table_key(at, key)] = {"selection": {"rows": [listed.index(a["case_no"])], "columns": [],
                                                          "cells": []}}
    at.session_state[CASE] = a["id"]
    at.run()
    assert _ticked(at, key) == [a["case_no"]]
    at = _choose(at, a["id"], "register")
    _submit_form(at, a["id"], "register")
    assert case_row(engine, a["id"])["status"] == "registered"
    assert at.session_state[CASE] == a["id"] and a["case_no"] in _html(at)  # the panel keeps a …
    assert _ticked(at, key) in ([], [a["case_no"]])  # … and the queue ticks a or nothing, never b
    # a map click on b: the queue's tick goes to b's row with it
    at.session_state["dispatch-map"] = {"i": b["id"], "n": "t-b"}
    at.run()
    assert at.session_state[CASE] == b["id"] and _ticked(at, key) == [b["case_no"]]


def test_the_register_form_says_where_each_level_sends_the_case_and_then_who_holds_it(w, engine):
    row = new_case(engine, w, "reported", community=0)
    with engine.connect() as c:
        community = c.execute(text("SELECT name FROM community WHERE id = :i"),
                              {"i": w.district.community_ids[0]}).scalar_one()
    at = open_page(w["dpt_disp_d"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "register")
    level = at.selectbox(key=f"dispatch-act-{row['id']}-register-level")
    offered = dict(zip(["grid", "community", "subdistrict", "district"], level.options))
    # before submitting: each level names the unit that will dispatch it, and says when it leaves us
    assert community in offered["community"] and "移交" in offered["community"]
    assert "区指挥中心" in offered["district"] and "本单位" in offered["district"]
    level.set_value("community")
    _submit_form(at, row["id"], "register")
    assert case_row(engine, row["id"])["status"] == "registered"
    # after it: the confirmation and the panel say who holds it now
    told = " ".join(t.proto.body for t in at.toast) + " ".join(c.value for c in at.caption)
    assert f"现由{community}（社区）办理" in told, told
    assert f"{community}（社区）" in _html(at)  # the facts: 当前办理


def _present(engine, case_id, actor) -> bool:
    with engine.connect() as c:
        return actor.person_id in [o.person_id for o in svc.others_on_case(c, case_id=case_id, actor=None)]


def test_presence_is_cleared_on_leaving_the_case_and_on_sign_out(w, engine):
    a = new_case(engine, w, "reported")
    b = new_case(engine, w, "reported")
    me = w["dpt_disp_cm"]
    at = open_page(me, PAGE, **{CASE: a["id"]})
    assert _present(engine, a["id"], me)
    # a map click on b: we left a
    at.session_state["dispatch-map"] = {"i": b["id"], "n": "t-b"}
    at.run()
    assert at.session_state[CASE] == b["id"]
    assert not _present(engine, a["id"], me) and _present(engine, b["id"], me)
    # signing out: nobody reads "正在处理此案件" about us any more
    next(x for x in at.button if x.label == "退出登录").click().run()
    assert "actor" not in at.session_state
    assert not _present(engine, b["id"], me)


@pytest.mark.parametrize("reason", ["idle", "inactive"])
def test_presence_is_cleared_when_the_session_is_signed_out_for_it(w, engine, monkeypatch, reason):
    """Signed out by the idle time-out or a deactivated account (kit.forget_actor): the case
    the person had open no longer says "X 正在处理此案件"."""
    row = new_case(engine, w, "reported")
    me = w["dpt_disp_cm"]
    at = open_page(me, PAGE, **{CASE: row["id"]})
    assert _present(engine, row["id"], me)
    if reason == "idle":
        at.session_state["last_active"] = time.monotonic() - 31 * 60
        at.run()
    else:
        with engine.begin() as c:
            c.execute(text("UPDATE person SET active = false WHERE id = :p"), {"p": me.person_id})
        try:
            at.run()
        finally:
            with engine.begin() as c:
                c.execute(text("UPDATE person SET active = true WHERE id = :p"), {"p": me.person_id})
    assert "actor" not in at.session_state
    assert not _present(engine, row["id"], me)


def _widths(at) -> dict:
    """Each column of the page's case table: (header, configured width or None, longest cell)."""
    df = at.dataframe[0]
    cfg = json.loads(df.proto.columns)
    return {c: (cfg[c]["label"], cfg[c].get("width"), max(len(str(v)) for v in df.value[c])) for c in cfg
            if not c.startswith("_")}   # "_index": the hidden row index


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_queue_headers_get_the_width_their_label_needs(w, engine, lang):
    """The table is drawn on a canvas (glide-data-grid) that sizes a column to its cells: a
    header longer than its cells (时限状态 over 临期, "Time left" over "Overdue") is given its own
    width, computed from the label; the measure itself is checked in Chromium
    (tests/e2e/test_desk_fit.py)."""
    new_case(engine, w, "reported", community=0)
    at = open_page(w["dpt_disp_cm"], PAGE, lang=lang)
    cols = _widths(at)
    assert cols["time"][0] == {"zh": "时限状态", "en": "Time left"}[lang]
    for c, (lab, width, _) in cols.items():
        cells = [str(v) for v in at.dataframe[0].value[c]]
        need = view.header_width(lab, helped=c in ("time", "hours_left"))
        if need > max(view.text_px(s) + 2 * view.HEADER_PAD for s in cells):
            assert width is not None and width >= need, (c, lab, width)
    assert cols["time"][1] >= view.header_width(cols["time"][0], helped=True)   # the column the issue names


def test_reopening_a_form_after_ones_own_move_is_no_conflict(w, engine):
    """Session 14's review: a form kept the version it was first opened on, so after another move
    of one's own its submit was refused as "已被他人处理" naming oneself."""
    row = new_case(engine, w, "registered", level="community")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "dispatch")          # opened (version v), then left for another move
    at = _choose(at, row["id"], "set_level")
    at.selectbox(key=f"dispatch-act-{row['id']}-set_level-level").set_value("grid")
    _submit_form(at, row["id"], "set_level")
    assert not at.error and case_row(engine, row["id"])["level"] == "grid"
    # a move done closes its form (an escalation's stayed open, inviting a second one)
    assert not [b for b in at.button if f"dispatch-act-{row['id']}-set_level" in str(b.proto.form_id)]
    at = _choose(at, row["id"], "dispatch")
    _submit_form(at, row["id"], "dispatch")
    assert not at.error, [e.value for e in at.error]
    assert case_row(engine, row["id"])["status"] == "dispatched"


def test_a_move_lost_to_someone_elses_is_said_even_when_its_form_is_gone(w, engine):
    """Another dispatcher dispatched the case first: 派遣 is no longer offered, so its form (and the
    refusal under it) would vanish; the refusal is shown above the buttons instead."""
    row = new_case(engine, w, "registered", level="community")
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    at = _choose(at, row["id"], "dispatch")
    with engine.begin() as c:
        service.transition(c, case_id=row["id"], action="dispatch", actor=w["dpt_admin"],
                           department_id=w.dept["CGZF"])
    _submit_form(at, row["id"], "dispatch")
    assert "dispatch" not in action_buttons(at, f"dispatch-act-{row['id']}")
    assert at.error and "已被他人处理" in at.error[0].value, [e.value for e in at.error]
    at.run()  # stays until the next choice, through live redraws
    assert at.error and "已被他人处理" in at.error[0].value
    assert case_row(engine, row["id"])["department_id"] == w.dept["CGZF"]


def test_moves_the_case_itself_would_refuse_are_not_offered(w, engine):
    row = new_case(engine, w, "registered", level="community")
    with engine.begin() as c:
        service.transition(c, case_id=row["id"], action="supervise", actor=w["dpt_admin"], comment="盯紧")
    at = open_page(w["dpt_admin"], PAGE, **{CASE: row["id"]})
    assert "supervise" not in action_buttons(at, f"dispatch-act-{row['id']}")


def _late(engine, row: dict, hours: float = 2) -> None:
    """Make a case sent to its department ``hours`` late to accept (its clock moved back)."""
    with engine.begin() as c:
        c.execute(text("UPDATE cases SET accept_due_at = now() - make_interval(secs => :s) WHERE id = :i"),
                  {"i": row["id"], "s": hours * 3600})


def test_the_late_to_accept_watch_list_names_the_department_and_since_when(w, engine):
    """超时未接收 (migration 0035): cases a department was sent and has not taken up in time, with
    whom to chase; the badge counts them; the panel says until when it had to be accepted."""
    late = new_case(engine, w, "dispatched", dept="HWC")
    fresh = new_case(engine, w, "dispatched", dept="HWC")
    taken = new_case(engine, w, "disposing", dept="HWC")
    _late(engine, late)
    _late(engine, taken)  # accepted: whatever its clock said, no longer waiting
    at = open_page(w["dpt_disp_cm"], PAGE)
    queue = next(s for s in at.segmented_control if s.key == "dispatch-queue")
    with engine.connect() as c:
        n = svc.queue_counts(c, actor=w["dpt_disp_cm"])["late_accept"]
    assert n >= 1 and queue.format_func("late_accept") == f"超时未接收 {n}"
    queue.set_value("late_accept").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert late["case_no"] in table["case_no"].tolist()
    assert fresh["case_no"] not in table["case_no"].tolist() and taken["case_no"] not in table["case_no"].tolist()
    by_no = table.set_index("case_no")
    with engine.connect() as c:
        hwc = c.execute(text("SELECT name FROM department WHERE id = :d"), {"d": w.dept["HWC"]}).scalar_one()
    assert by_no.loc[late["case_no"], "department"] == hwc
    assert by_no.loc[late["case_no"], "accept_by"].endswith("（已超时）")
    cfg = json.loads(at.dataframe[0].proto.columns)
    assert cfg["accept_by"]["label"] == "接收时限" and "1 个工作小时" in cfg["accept_by"]["help"]
    # the panel of the late case and of the fresh one
    at.session_state[CASE] = late["id"]
    at.run()
    assert "接收时限" in _html(at) and "（已超时）" in _html(at)
    at.session_state[CASE] = fresh["id"]
    at.run()
    assert "接收时限" in _html(at) and "（已超时）" not in _html(at)
    at.session_state[CASE] = taken["id"]
    at.run()
    assert "接收时限" not in _html(at)
