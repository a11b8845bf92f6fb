"""Who may act on which case: by role and by the unit that owns the case's level. The service checks."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from dispatch import permissions, service
from dispatch.errors import InvalidInput, PermissionDenied
from tests.world import bring_to


def _leveled(world, level: str, where: str = "C1") -> dict:
    case = bring_to(world, "registered", where=where)
    if case["level"] != level:
        case = service.transition(world.conn, case_id=case["id"], action="set_level", actor=world["admin"], level=level)
    return case


@pytest.mark.parametrize("level, allowed, denied", [
    ("grid", ["disp_c1", "admin"], ["disp_c2", "disp_s1", "disp_d", "cmd", "planner", "staff_hwc", "gw_c1"]),
    ("community", ["disp_c1", "admin"], ["disp_c2", "disp_c3", "disp_s1", "disp_d"]),
    ("subdistrict", ["disp_s1", "admin"], ["disp_c1", "disp_s2", "disp_d"]),
    ("district", ["disp_d", "admin"], ["disp_c1", "disp_s1", "cmd"]),
])
def test_dispatch_by_the_unit_owning_the_level(world, conn, level, allowed, denied):
    for who in denied:
        case = _leveled(world, level)
        with pytest.raises(PermissionDenied) as err:
            service.transition(conn, case_id=case["id"], action="dispatch", actor=world[who])
        assert case["case_no"] in str(err.value) and "派遣" in str(err.value)
    for who in allowed:
        case = _leveled(world, level)
        assert service.transition(conn, case_id=case["id"], action="dispatch",
                                  actor=world[who])["status"] == "dispatched"


def test_unsorted_case_is_sorted_by_any_unit_containing_it(world, conn):
    for who in ("disp_c1", "disp_s1", "disp_d"):
        case = world.report("C1")
        assert service.transition(conn, case_id=case["id"], action="register",
                                  actor=world[who])["status"] == "registered"
    for who in ("disp_c2", "disp_s2", "disp_c3"):
        case = world.report("C1")
        with pytest.raises(PermissionDenied, match="所在社区"):
            service.transition(conn, case_id=case["id"], action="register", actor=world[who])


def test_outside_the_jurisdiction_belongs_to_the_command_centre(world, conn):
    case = world.report("outside")
    with pytest.raises(PermissionDenied):
        service.transition(conn, case_id=case["id"], action="reject", actor=world["disp_c1"], comment="不在辖区")
    assert service.transition(conn, case_id=case["id"], action="reject", actor=world["disp_d"],
                              comment="不在辖区")["status"] == "rejected"


def test_department_staff_act_only_on_their_department(world, conn):
    case = bring_to(world, "dispatched")  # category 0102 → HWC
    with pytest.raises(PermissionDenied, match="本部门"):
        service.transition(conn, case_id=case["id"], action="accept", actor=world["staff_cgzf"])
    with pytest.raises(PermissionDenied, match="角色"):
        service.transition(conn, case_id=case["id"], action="accept", actor=world["disp_c1"])
    case = service.transition(conn, case_id=case["id"], action="accept", actor=world["staff_hwc"])
    case = service.transition(conn, case_id=case["id"], action="feed_back", actor=world["staff_hwc2"],
                              comment="同部门同事反馈")
    with pytest.raises(PermissionDenied):  # verification is the owning unit's
        service.transition(conn, case_id=case["id"], action="verify_pass", actor=world["staff_hwc"])
    assert service.transition(conn, case_id=case["id"], action="verify_pass",
                              actor=world["disp_c1"])["status"] == "closed"


def test_grid_worker_resolves_on_the_spot_only_in_their_community(world, conn):
    case = world.report("C1")
    with pytest.raises(PermissionDenied, match="本社区"):
        service.transition(conn, case_id=case["id"], action="self_handle", actor=world["gw_c3"],
                           after_photo_ref="a.jpg")
    with pytest.raises(PermissionDenied):
        service.transition(conn, case_id=case["id"], action="register", actor=world["gw_c1"])
    assert service.transition(conn, case_id=case["id"], action="self_handle", actor=world["gw_c1"],
                              after_photo_ref="a.jpg")["status"] == "closed"


def test_supervision_by_the_command_centre_or_the_subdistrict_above(world, conn):
    community_case = bring_to(world, "dispatched")
    sub_case = _leveled(world, "subdistrict")
    with pytest.raises(PermissionDenied, match="督办"):
        service.transition(conn, case_id=community_case["id"], action="supervise", actor=world["disp_c1"])
    with pytest.raises(PermissionDenied):
        service.transition(conn, case_id=community_case["id"], action="supervise", actor=world["disp_s2"])
    with pytest.raises(PermissionDenied):
        service.transition(conn, case_id=sub_case["id"], action="supervise", actor=world["disp_s1"])
    assert service.transition(conn, case_id=community_case["id"], action="supervise",
                              actor=world["disp_s1"])["supervised"]
    assert service.transition(conn, case_id=sub_case["id"], action="supervise", actor=world["disp_d"])["supervised"]


@pytest.mark.parametrize("who", ["cmd", "planner"])
def test_view_only_roles_can_do_nothing(world, conn, who):
    case = bring_to(world, "registered")
    with pytest.raises(PermissionDenied, match="只能查看"):
        service.transition(conn, case_id=case["id"], action="dispatch", actor=world[who])
    with pytest.raises(PermissionDenied):
        service.report_case(conn, channel="hotline", lon=0.5, lat=0.5, actor=world[who])
    assert permissions.available_actions(world[who], case) == []


def test_escalation_moves_the_case_to_the_next_unit(world, conn):
    case = _leveled(world, "community")
    case = service.transition(conn, case_id=case["id"], action="escalate", actor=world["disp_c1"], comment="需街道协调")
    with pytest.raises(PermissionDenied):
        service.transition(conn, case_id=case["id"], action="dispatch", actor=world["disp_c1"])
    assert service.transition(conn, case_id=case["id"], action="dispatch",
                              actor=world["disp_s1"])["status"] == "dispatched"


def test_available_actions_for_buttons(world, conn):
    case = bring_to(world, "registered")
    assert set(permissions.available_actions(world["disp_c1"], case)) == {
        "merge", "set_level", "escalate", "dispatch", "close", "reply"}
    assert permissions.available_actions(world["staff_hwc"], case) == []
    assert "supervise" in permissions.available_actions(world["disp_d"], case)
    assert "evaluate" in permissions.available_actions(world["admin"], bring_to(world, "closed"))


def test_permission_message_in_english(world, conn):
    case = bring_to(world, "dispatched")
    with pytest.raises(PermissionDenied) as err:
        service.transition(conn, case_id=case["id"], action="accept", actor=world["staff_cgzf"])
    assert "not dispatched to this department" in err.value.message("en") and case["case_no"] in err.value.message("en")


def test_a_deactivated_actor_is_refused_at_once(world, conn):
    """transition() re-reads the actor's row: the Actor a session holds is a copy from sign-in."""
    case = bring_to(world, "reported", where="C1")
    conn.execute(text("UPDATE person SET active = false WHERE id = :i"), {"i": world["disp_c1"].person_id})
    with pytest.raises(PermissionDenied, match="该账户已停用") as e:
        service.transition(conn, case_id=case["id"], action="register", actor=world["disp_c1"])
    assert "deactivated" in e.value.message("en")


def test_a_changed_role_or_unit_counts_from_the_next_action(world, conn):
    case = bring_to(world, "reported", where="C1")
    conn.execute(text("UPDATE person SET community_id = :c WHERE id = :i"),
                 {"c": world.com["C2"], "i": world["disp_c1"].person_id})   # moved to another community
    with pytest.raises(PermissionDenied):
        service.transition(conn, case_id=case["id"], action="register", actor=world["disp_c1"])
    conn.execute(text("UPDATE person SET role = 'dispatcher', unit_level = 'district', community_id = NULL "
                      "WHERE id = :i"), {"i": world["gw_c3"].person_id})     # a grid worker made a district dispatcher
    assert service.transition(conn, case_id=case["id"], action="register",
                              actor=world["gw_c3"])["status"] == "registered"


def test_chasing_by_the_owning_unit_or_above_as_often_as_needed(world, conn):
    """催办 (migration 0032): a repeatable press on the department, by the unit that owns the case
    or one that may supervise it; never by the department itself or another area's unit."""
    case = bring_to(world, "dispatched")  # a community-level case of C1
    for who in ("disp_s2", "staff_hwc"):
        with pytest.raises(PermissionDenied):
            service.transition(conn, case_id=case["id"], action="chase", actor=world[who], comment="快")
    with pytest.raises(InvalidInput, match="催办须写明要求"):
        service.transition(conn, case_id=case["id"], action="chase", actor=world["disp_c1"])
    a = service.transition(conn, case_id=case["id"], action="chase", actor=world["disp_c1"], comment="今天处理")
    b = service.transition(conn, case_id=case["id"], action="chase", actor=world["disp_d"], comment="再催")
    assert (a["chase_count"], b["chase_count"]) == (1, 2) and b["last_chased_at"] >= a["last_chased_at"]
    assert (b["status"], b["due_at"], b["department_id"]) == (case["status"], case["due_at"], case["department_id"])
    events = conn.execute(text("SELECT action, comment, from_status, to_status FROM case_event WHERE case_id = :i "
                               "AND action = 'chase' ORDER BY id"), {"i": case["id"]}).all()
    assert [(e.comment, e.from_status, e.to_status) for e in events] == [
        ("今天处理", "dispatched", "dispatched"), ("再催", "dispatched", "dispatched")]


def test_a_reply_to_the_reporter_by_the_owning_unit_or_above_at_any_stage(world, conn):
    """答复市民 (migration 0034): words for the public, kept on the case for the reporter's pages;
    the owning unit (or one that may supervise it) writes them, also once the case has ended; a
    case not sorted yet: any unit that contains it. No state, deadline or holder changes."""
    case = bring_to(world, "dispatched")  # a community-level case of C1
    for who in ("disp_s2", "staff_hwc", "gw_c1"):
        with pytest.raises(PermissionDenied):
            service.transition(conn, case_id=case["id"], action="reply", actor=world[who], comment="已派环卫处理")
    with pytest.raises(InvalidInput, match="答复市民须写明答复内容"):
        service.transition(conn, case_id=case["id"], action="reply", actor=world["disp_c1"], comment="  ")
    a = service.transition(conn, case_id=case["id"], action="reply", actor=world["disp_c1"], comment="已派环卫处理")
    assert (a["public_reply"], a["public_reply_at"]) == ("已派环卫处理", a["updated_at"])
    assert (a["status"], a["due_at"], a["department_id"]) == (case["status"], case["due_at"], case["department_id"])
    b = service.transition(conn, case_id=case["id"], action="reply", actor=world["disp_d"], comment="今日内清理")
    assert b["public_reply"] == "今日内清理"  # the latest is what the reporter reads
    ev = conn.execute(text("SELECT comment, from_status, to_status FROM case_event WHERE case_id = :i "
                           "AND action = 'reply' ORDER BY id"), {"i": case["id"]}).all()
    assert [tuple(e) for e in ev] == [("已派环卫处理", "dispatched", "dispatched"), ("今日内清理", "dispatched", "dispatched")]
    closed = bring_to(world, "closed")
    c = service.transition(conn, case_id=closed["id"], action="reply", actor=world["disp_c1"], comment="井盖已更换")
    assert (c["status"], c["public_reply"]) == ("closed", "井盖已更换")
    fresh = world.report("C1")  # not sorted yet
    assert permissions.may(world["disp_c1"], "reply", fresh) and not permissions.may(world["disp_s2"], "reply", fresh)
    # the subdistrict above a community-level case (one that may supervise it); a rejected case's reporter
    assert permissions.may(world["disp_s1"], "reply", case) and not permissions.may(world["disp_s2"], "reply", case)
    rejected = bring_to(world, "rejected")
    r = service.transition(conn, case_id=rejected["id"], action="reply", actor=world["disp_d"],
                           comment="\n  不属于本区职责，请致电供电公司 95598。 \n")
    assert (r["status"], r["public_reply"]) == ("rejected", "不属于本区职责，请致电供电公司 95598。")  # as read: trimmed


def test_a_reply_leaves_the_indicators_as_they_were(world, conn):
    """A reply changes no state, deadline or holder: the roll-ups (case_stat_*) take nothing from it,
    on an open case or a closed one."""
    tables = ("case_stat_day", "case_stat_cut", "case_stat_group", "case_stat_one")

    def stats() -> dict:
        return {t: sorted(map(tuple, conn.execute(text(f"SELECT * FROM {t}")).all()), key=repr) for t in tables}

    open_, closed = bring_to(world, "disposing"), bring_to(world, "closed")
    before = stats()
    assert before["case_stat_day"] and before["case_stat_group"]  # the roll-ups hold these cases: a change would show
    for case in (open_, closed):
        service.transition(conn, case_id=case["id"], action="reply", actor=world["disp_c1"], comment="已处理")
    assert stats() == before
