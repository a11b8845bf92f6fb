"""Every (state, move) and every (from, to) pair of the transition table, through the service."""
from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from dispatch import service
from dispatch.errors import IllegalTransition, InvalidInput
from dispatch.states import ACTIONS, STATUS_LABELS, ACTION_LABELS, STATUSES, TRANSITIONS, actions_between, can, target
from tests.world import bring_to, params_for

NEEDS_PENDING = {"approve_postponement", "deny_postponement"}


def _case_for(world, status, action):
    return bring_to(world, status, pending_request=(action in NEEDS_PENDING and status == "disposing"),
                    outside=(action == "relocate" and status == "reported"),
                    where="unlocated" if action == "locate" and status == "reported" else "C1")


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_move_from_state(world, conn, status, action):
    case = _case_for(world, status, action)
    events_before = conn.execute(text("SELECT count(*) FROM case_event WHERE case_id = :i"), {"i": case["id"]}).scalar()
    params = params_for(world, action, case)
    if can(action, status):
        after = service.transition(conn, case_id=case["id"], action=action, actor=world["admin"], **params)
        assert after["status"] == target(action, status)
        assert after["version"] == case["version"] + 1
        ev = conn.execute(text("SELECT * FROM case_event WHERE case_id = :i ORDER BY at DESC, id DESC LIMIT 1"),
                          {"i": case["id"]}).mappings().one()
        assert (ev["action"], ev["from_status"], ev["to_status"]) == (action, status, after["status"])
        assert ev["actor_id"] == world["admin"].person_id and ev["actor_role"] == "admin"
    else:
        with pytest.raises(IllegalTransition) as err:
            service.transition(conn, case_id=case["id"], action=action, actor=world["admin"], **params)
        zh, en = str(err.value), err.value.message("en")
        assert case["case_no"] in zh and STATUS_LABELS[status]["zh"] in zh and ACTION_LABELS[action]["zh"] in zh
        assert case["case_no"] in en and STATUS_LABELS[status]["en"] in en and ACTION_LABELS[action]["en"] in en
        row = conn.execute(text("SELECT status, version FROM cases WHERE id = :i"), {"i": case["id"]}).one()
        assert (row.status, row.version) == (status, case["version"])
        assert conn.execute(text("SELECT count(*) FROM case_event WHERE case_id = :i"),
                            {"i": case["id"]}).scalar() == events_before


@pytest.mark.parametrize("dest", STATUSES)
@pytest.mark.parametrize("source", STATUSES)
def test_from_to_pair(world, conn, source, dest):
    legal = actions_between(source, dest)
    if legal:
        for action in legal:
            case = _case_for(world, source, action)
            after = service.transition(conn, case_id=case["id"], action=action, actor=world["admin"],
                                       **params_for(world, action, case))
            assert after["status"] == dest
    else:
        into = [a for a, m in TRANSITIONS.items() if m.target == dest]  # the moves that lead into dest
        for action in into:
            case = _case_for(world, source, action)
            with pytest.raises(IllegalTransition, match=case["case_no"]):
                service.transition(conn, case_id=case["id"], action=action, actor=world["admin"],
                                   **params_for(world, action, case))


def test_every_move_is_recorded_with_who_when_what(world, conn):
    w = world
    case = bring_to(w, "disposing")
    after = service.transition(conn, case_id=case["id"], action="feed_back", actor=w["admin"], comment="已清理完毕",
                               photo_ref="photos/after-1.jpg", attachments=[{"kind": "note", "ref": "doc-1"}])
    ev = conn.execute(text("SELECT * FROM case_event WHERE case_id = :i ORDER BY id DESC LIMIT 1"),
                      {"i": case["id"]}).mappings().one()
    assert ev["comment"] == "已清理完毕" and ev["at"] == after["feedback_at"] == after["updated_at"]
    assert {"kind": "after", "ref": "photos/after-1.jpg"} in ev["attachments"]
    assert {"kind": "note", "ref": "doc-1"} in ev["attachments"]
    assert ev["department_id"] == after["department_id"] and ev["due_at"] == after["due_at"]


def test_status_update_and_event_are_atomic(world, conn, monkeypatch):
    case = bring_to(world, "disposing")
    monkeypatch.setattr(service, "MAX_COMMENT", 10_000)  # let the database's own limit be what refuses
    with pytest.raises(sa_exc.DBAPIError):  # case_event.comment is limited to 4000 characters
        service.transition(conn, case_id=case["id"], action="feed_back", actor=world["admin"], comment="很" * 4001)
    row = conn.execute(text("SELECT status, version FROM cases WHERE id = :i"), {"i": case["id"]}).one()
    assert (row.status, row.version) == ("disposing", case["version"])  # the savepoint undid the update


def test_illegal_move_names_the_last_change(world, conn):
    case = bring_to(world, "closed")
    with pytest.raises(IllegalTransition) as err:
        service.transition(conn, case_id=case["id"], action="dispatch", actor=world["admin"])
    assert "核查通过" in str(err.value) and world["admin"].full_name in str(err.value)


@pytest.mark.parametrize("action, params, status, message", [
    ("reject", {}, "reported", "理由"),
    ("dispatch", {"due_at": "2030-01-01"}, "registered", "理由"),
    ("approve_postponement", {}, "disposing", "缓办申请"),
    ("escalate", {"comment": "x", "to_level": "grid"}, "registered", "逐级"),
    ("dispatch", {"due_at": "2020-01-01T10:00", "due_reason": "x"}, "registered", "晚于"),
    ("dispatch", {"due_at": "2300-01-01T10:00", "due_reason": "x"}, "registered", "工作日历"),
    ("evaluate", {"score": 7}, "closed", "1–5"),
    ("set_level", {"level": "city"}, "registered", "层级"),
    ("register", {"bogus": 1}, "reported", "bogus"),
])
def test_bad_input_is_refused_with_a_message(world, conn, action, params, status, message):
    case = bring_to(world, status)
    with pytest.raises(InvalidInput, match=message):
        service.transition(conn, case_id=case["id"], action=action, actor=world["admin"], **params)


def test_second_evaluation_and_supervision_are_refused(world, conn):
    closed = bring_to(world, "closed")
    service.transition(conn, case_id=closed["id"], action="evaluate", actor=world["admin"], score=5)
    with pytest.raises(InvalidInput):
        service.transition(conn, case_id=closed["id"], action="evaluate", actor=world["admin"], score=4)
    open_ = bring_to(world, "dispatched")
    service.transition(conn, case_id=open_["id"], action="supervise", actor=world["admin"])
    with pytest.raises(InvalidInput):
        service.transition(conn, case_id=open_["id"], action="supervise", actor=world["admin"])


def test_merge_rules(world, conn):
    orig = world.report("C1")
    dup = world.report("C1")
    merged = service.transition(conn, case_id=dup["id"], action="merge", actor=world["admin"], duplicate_of=orig["id"])
    assert merged["duplicate_of"] == orig["id"] and merged["status"] == "merged"
    third = world.report("C1")
    with pytest.raises(InvalidInput, match="原案件"):
        service.transition(conn, case_id=third["id"], action="merge", actor=world["admin"], duplicate_of=dup["id"])
    with pytest.raises(InvalidInput):
        service.transition(conn, case_id=third["id"], action="merge", actor=world["admin"], duplicate_of=third["id"])


def test_escalation_one_step_or_straight_to_district(world, conn):
    w = world
    a = bring_to(w, "registered")  # category 0102: grid level
    assert a["level"] == "grid"
    a = service.transition(conn, case_id=a["id"], action="escalate", actor=w["admin"], comment="需社区协调")
    assert a["level"] == "community"
    with pytest.raises(InvalidInput, match="逐级"):
        service.transition(conn, case_id=a["id"], action="escalate", actor=w["admin"], comment="x", to_level="grid")
    a = service.transition(conn, case_id=a["id"], action="escalate", actor=w["admin"], comment="重大问题",
                           to_level="district", major=True)
    assert a["level"] == "district"
    ev = conn.execute(text("SELECT data FROM case_event WHERE case_id = :i ORDER BY id DESC LIMIT 1"), {"i": a["id"]}).scalar()
    assert ev["major"] is True
    with pytest.raises(InvalidInput, match="最高"):
        service.transition(conn, case_id=a["id"], action="escalate", actor=w["admin"], comment="x")


def test_outside_jurisdiction_case_is_relocated_or_rejected(world, conn):
    w = world
    case = w.report("outside")
    assert case["outside_jurisdiction"] and case["grid_id"] is None
    with pytest.raises(InvalidInput, match="辖区外"):
        service.transition(conn, case_id=case["id"], action="register", actor=w["disp_d"])
    with pytest.raises(InvalidInput, match="仍在辖区外"):
        service.transition(conn, case_id=case["id"], action="relocate", actor=w["disp_d"], lon=7.5, lat=7.5)
    placed = service.transition(conn, case_id=case["id"], action="relocate", actor=w["disp_d"], lon=2.5, lat=0.5)
    assert placed["community_id"] == w.com["C3"] and not placed["outside_jurisdiction"]
    assert placed["received_x"] == w.POINTS["outside"][0]  # what was received is kept


def test_dispatch_with_assisting_departments_and_return(world, conn):
    w = world
    case = bring_to(w, "registered")
    d = service.transition(conn, case_id=case["id"], action="dispatch", actor=w["admin"], department_id=w.dept["CGZF"],
                           assist_department_ids=[w.dept["HWC"], w.dept["GAJ"]])
    roles = dict(conn.execute(text("SELECT department_id, role FROM case_department WHERE case_id = :i"), {"i": d["id"]}).all())
    assert roles == {w.dept["CGZF"]: "lead", w.dept["HWC"]: "assist", w.dept["GAJ"]: "assist"}
    r = service.transition(conn, case_id=d["id"], action="return", actor=w["staff_cgzf"], comment="非本部门职责")
    assert r["status"] == "returned" and r["department_id"] is None and r["due_at"] is None
    assert conn.execute(text("SELECT count(*) FROM case_department WHERE case_id = :i"), {"i": d["id"]}).scalar() == 0
    again = service.transition(conn, case_id=d["id"], action="dispatch",
                               actor=w["admin"])  # the category's default: HWC
    assert again["department_id"] == w.dept["HWC"] and again["status"] == "dispatched"


def test_self_handle_closes_at_grid_level(world, conn):
    w = world
    case = w.report("C1", photo_ref="photos/before.jpg")
    done = service.transition(conn, case_id=case["id"], action="self_handle", actor=w["gw_c1"],
                              after_photo_ref="photos/after.jpg")
    assert (done["status"], done["level"], done["self_handled"]) == ("closed", "grid", True)
    assert done["registered_at"] == done["closed_at"] and done["handler_id"] == w["gw_c1"].person_id
    att = conn.execute(text("SELECT attachments FROM case_event WHERE case_id = :i AND action = 'self_handle'"),
                       {"i": case["id"]}).scalar()
    assert att == [{"kind": "before", "ref": "photos/before.jpg"}, {"kind": "after", "ref": "photos/after.jpg"}]


def test_report_converts_coordinates_and_stores_what_was_received(world, conn):
    w = world
    row = service.report_case(conn, channel="grid_worker", lon=0.5, lat=0.5, crs="EPSG:4326", category_code="0102",
                              description="路边暴露垃圾", actor=w["gw_c1"])
    assert row["grid_id"] == w.grid["C1"] and row["reporter_id"] == w["gw_c1"].person_id
    ev = conn.execute(text("SELECT action, to_status, actor_role, at FROM case_event WHERE case_id = :i"), {"i": row["id"]}).one()
    assert (ev.action, ev.to_status, ev.actor_role, ev.at) == ("report", "reported", "grid_worker", row["reported_at"])
    with pytest.raises(InvalidInput, match="渠道"):
        service.report_case(conn, channel="fax", lon=0.5, lat=0.5)
    with pytest.raises(InvalidInput):
        service.report_case(conn, channel="hotline", lon=0.5, lat=0.5, crs="EPSG:99999")
    with pytest.raises(InvalidInput, match="GCJ"):   # GCJ-02 exists only inside China (gis.crs)
        service.report_case(conn, channel="wechat", lon=0.5, lat=0.5, crs="GCJ-02")


def test_every_move_has_one_handler_and_each_names_its_values():
    assert set(service._HANDLERS) == set(TRANSITIONS)
    assert service.parameters("dispatch") == {"department_id": False, "due_at": False, "due_reason": False,
                                              "assist_department_ids": False}
    assert service.parameters("merge") == {"duplicate_of": True}
    assert service.parameters("relocate") == {"lon": True, "lat": True, "crs": False}
    assert service.parameters("accept") == {}
    with pytest.raises(InvalidInput, match="teleport"):
        service.parameters("teleport")


def test_an_unknown_or_missing_value_is_refused_naming_the_field(world, conn):
    case = bring_to(world, "reported")
    with pytest.raises(InvalidInput, match="department_id") as err:  # a register takes no department
        service.transition(conn, case_id=case["id"], action="register", actor=world["admin"], department_id=1)
    assert "department_id" in err.value.message("en") and err.value.params["fields"] == ["department_id"]
    with pytest.raises(InvalidInput, match="duplicate_of") as err:
        service.transition(conn, case_id=case["id"], action="merge", actor=world["admin"])
    assert "duplicate_of" in err.value.message("en") and "合并" in str(err.value)
    with pytest.raises(InvalidInput, match="duplicate_of"):  # None counts as not given
        service.transition(conn, case_id=case["id"], action="merge", actor=world["admin"], duplicate_of=None)
    with pytest.raises(InvalidInput, match="teleport"):
        service.transition(conn, case_id=case["id"], action="teleport", actor=world["admin"])
    row = conn.execute(text("SELECT status, version FROM cases WHERE id = :i"), {"i": case["id"]}).one()
    assert (row.status, row.version) == ("reported", case["version"])


def test_the_value_check_comes_after_the_state_and_permission_checks(world, conn):
    closed = bring_to(world, "closed")
    with pytest.raises(IllegalTransition):  # an illegal move is named as such, whatever values it carries
        service.transition(conn, case_id=closed["id"], action="merge", actor=world["admin"], bogus=1)


def test_merge_takes_a_case_number_or_an_id(world, conn):
    original = world.report("C1")
    dup = world.report("C1")
    row = service.transition(conn, case_id=dup["id"], action="merge", actor=world["admin"],
                             duplicate_of=f" {original['case_no']} ")
    assert (row["status"], row["duplicate_of"]) == ("merged", original["id"])
    other = world.report("C1")
    with pytest.raises(InvalidInput, match="NO-SUCH-CASE"):
        service.transition(conn, case_id=other["id"], action="merge", actor=world["admin"], duplicate_of="NO-SUCH-CASE")
    with pytest.raises(InvalidInput, match="自身"):
        service.transition(conn, case_id=other["id"], action="merge", actor=world["admin"],
                           duplicate_of=other["case_no"])
    assert service.transition(conn, case_id=other["id"], action="merge", actor=world["admin"],
                              duplicate_of=original["id"])["duplicate_of"] == original["id"]


def test_a_description_over_the_limit_is_refused_with_a_message(world, conn):
    """Session 14's review: a service caller got a raw IntegrityError from the table's CHECK."""
    from dispatch.errors import InvalidInput

    n = conn.execute(text("SELECT count(*) FROM cases")).scalar_one()
    with pytest.raises(InvalidInput, match="4000"):
        service.report_case(conn, channel="hotline", lon=0.5, lat=0.5, description="长" * 4001)
    assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == n
    assert service.report_case(conn, channel="hotline", lon=0.5, lat=0.5, description="长" * 4000)["id"]


def test_an_over_long_comment_is_refused_with_its_length_and_nothing_changes(world, conn):
    """The forms' fields have no cap of their own (Streamlit's dropped a whole paste past it): the
    service says how long the comment is and what is allowed."""
    case = bring_to(world, "disposing")
    with pytest.raises(InvalidInput) as e:
        service.transition(conn, case_id=case["id"], action="feed_back", actor=world["admin"],
                           comment="很" * (service.MAX_COMMENT + 1))
    assert f"{service.MAX_COMMENT + 1} 个字" in e.value.message("zh") and str(service.MAX_COMMENT) in e.value.message("en")
    row = conn.execute(text("SELECT status, version FROM cases WHERE id = :i"), {"i": case["id"]}).one()
    assert (row.status, row.version) == ("disposing", case["version"])
    done = service.transition(conn, case_id=case["id"], action="feed_back", actor=world["admin"],
                              comment="很" * service.MAX_COMMENT)
    assert done["status"] != "disposing"


@pytest.mark.parametrize("bad", ["井盖\x00缺失", "已处理\x1b[31m", "\x7f"])
def test_a_comment_with_control_characters_is_refused_and_nothing_changes(world, conn, bad):
    """A paste from a binary file: NUL reached PostgreSQL as a driver error, and a reply to the
    reporter goes out as Open311 XML, which cannot carry such characters. Refused with the
    reason; tabs and line breaks stay allowed."""
    case = bring_to(world, "closed")
    with pytest.raises(InvalidInput, match="控制字符") as e:
        service.transition(conn, case_id=case["id"], action="reply", actor=world["admin"], comment=bad)
    assert "control characters" in e.value.message("en")
    row = conn.execute(text("SELECT public_reply, version FROM cases WHERE id = :i"), {"i": case["id"]}).one()
    assert (row.public_reply, row.version) == (None, case["version"])
    ok = service.transition(conn, case_id=case["id"], action="reply", actor=world["admin"], comment="第一行\n\t第二行\r\n")
    assert ok["public_reply"] == "第一行\n\t第二行"
