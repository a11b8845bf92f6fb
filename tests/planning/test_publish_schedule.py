"""Scheduled publish (applied by the database at its time) and the conflict between planners."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from planning.publish import PublishConflict, PublishRefused, apply_due, cancel_scheduled, publish
from tests.planning.draft_rows import add_grid, draft_of, set_geom
from tests.planning.test_publish import G1, G2, box, case_at, moved_boundary_draft, row, versions


def _now(conn):
    return conn.execute(text("SELECT clock_timestamp()")).scalar_one()


def test_scheduled_change_waits_then_the_database_applies_it(world):
    w = world
    moving = case_at(w, 0.75, 0.5)
    eff = _now(w.conn) + timedelta(days=30)
    res = publish(w.conn, moved_boundary_draft(w), actor_id=w["planner"].person_id, reason="下月生效",
                  effective_at=eff)
    assert (res.status, res.effective_at) == ("scheduled", eff)
    assert len(versions(w.conn, G1)) == 1 and row(w.conn, moving["id"])["grid_code"] == G1

    assert apply_due(w.conn, now=eff - timedelta(minutes=1)) == 0  # not due yet
    assert len(versions(w.conn, G1)) == 1
    ran_at = eff + timedelta(seconds=40)  # the minute timer comes round
    assert apply_due(w.conn, now=ran_at) == 1
    v1, v2 = versions(w.conn, G1)
    assert v1.valid_to == v2.valid_from == eff and v2.change_id == res.change_id
    r = row(w.conn, moving["id"])
    assert (r["grid_code"], r["reported_grid_code"], r["version"]) == (G2, G1, moving["version"] + 1)
    ev = w.conn.execute(text("SELECT at, actor_id, data FROM case_event WHERE case_id = :i AND action = 'regrid'"),
                        {"i": moving["id"]}).one()
    assert (ev.at, ev.actor_id, ev.data["change_id"]) == (ran_at, w["planner"].person_id, res.change_id)
    chg = w.conn.execute(text("SELECT status, applied_at, result FROM boundary_change WHERE id = :i"),
                         {"i": res.change_id}).one()
    assert (chg.status, chg.applied_at, chg.result["cases_moved"]) == ("applied", ran_at, 1)
    assert apply_due(w.conn, now=ran_at + timedelta(minutes=1)) == 0  # applied once


def test_a_case_reported_before_the_scheduled_time_is_stamped_with_the_old_grid(world):
    w = world
    eff = _now(w.conn) + timedelta(days=1)
    publish(w.conn, moved_boundary_draft(w), actor_id=None, reason="明日生效", effective_at=eff)
    early = case_at(w, 0.75, 0.5)
    assert early["reported_grid_code"] == G1
    apply_due(w.conn, now=eff + timedelta(seconds=1))
    r = row(w.conn, early["id"])
    assert (r["grid_code"], r["reported_grid_code"]) == (G2, G1)
    late = case_at(w, 0.75, 0.5)
    assert late["reported_grid_code"] == G2


def test_a_time_in_the_past_or_without_zone_is_refused(world):
    w = world
    d = moved_boundary_draft(w)
    with pytest.raises(PublishRefused, match="in the past"):
        publish(w.conn, d, actor_id=None, reason="x", effective_at=_now(w.conn) - timedelta(days=1))
    with pytest.raises(PublishRefused, match="time zone"):
        publish(w.conn, d, actor_id=None, reason="x", effective_at=_now(w.conn).replace(tzinfo=None))


def test_cancelled_change_is_never_applied(world):
    w = world
    eff = _now(w.conn) + timedelta(days=3)
    res = publish(w.conn, moved_boundary_draft(w), actor_id=None, reason="x", effective_at=eff)
    cancel_scheduled(w.conn, res.change_id, actor_id=None)
    assert apply_due(w.conn, now=eff + timedelta(days=1)) == 0
    assert len(versions(w.conn, G1)) == 1
    with pytest.raises(PublishRefused, match="not scheduled"):
        cancel_scheduled(w.conn, res.change_id, actor_id=None)


def test_second_planner_over_the_same_community_gets_a_conflict_naming_the_first(world):
    w = world
    first = moved_boundary_draft(w)
    second = draft_of(w.conn, [w.com["C2"], w.com["C3"]], actor_id=w["admin"].person_id, name="另一份")
    set_geom(w.conn, second, G2, box(1, 1.9))  # begun from the same base as the first
    res = publish(w.conn, first, actor_id=w["planner"].person_id, reason="先发布")
    with pytest.raises(PublishConflict) as e:
        publish(w.conn, second, actor_id=w["admin"].person_id, reason="后发布")
    c = e.value
    applied_at = w.conn.execute(text("SELECT applied_at FROM boundary_change WHERE id = :i"),
                                {"i": res.change_id}).scalar_one()
    assert (c.change_id, c.by, c.at, c.status) == (res.change_id, w["planner"].full_name, applied_at, "applied")
    assert c.community_codes == ["999998001002"]  # C2: the one both touch
    assert w["planner"].full_name in c.message_zh and w["planner"].full_name in c.message_en
    assert w.conn.execute(text("SELECT status FROM boundary_draft WHERE id = :d"), {"d": second}).scalar_one() == "open"


def test_the_conflict_is_said_even_when_the_first_publish_made_grids_the_second_draft_overlaps(world):
    """The first planner split C2: its new grid overlaps the second draft's copy of C2. The second
    is told of the first's publish (the cause), not of overlaps with "live grids outside the draft"
    (session 14's review)."""
    w = world
    second = draft_of(w.conn, [w.com["C2"]], actor_id=w["admin"].person_id, name="另一份")
    first = draft_of(w.conn, [w.com["C2"]], actor_id=w["planner"].person_id)
    set_geom(w.conn, first, G2, box(1, 1.5))
    add_grid(w.conn, first, "999998001002002", w.com["C2"], box(1.5, 2))
    res = publish(w.conn, first, actor_id=w["planner"].person_id, reason="拆分")
    assert res.grids_added == 1
    with pytest.raises(PublishConflict) as e:
        publish(w.conn, second, actor_id=w["admin"].person_id, reason="后发布")
    assert e.value.change_id == res.change_id and w["planner"].full_name in e.value.message_en


def test_a_draft_begun_after_the_publish_has_no_conflict(world):
    w = world
    publish(w.conn, moved_boundary_draft(w), actor_id=w["planner"].person_id, reason="先发布")
    later = draft_of(w.conn, [w.com["C2"]])
    set_geom(w.conn, later, G2, box(0.5, 1.9))
    assert publish(w.conn, later, actor_id=None, reason="之后").versions_added == 1


def test_a_pending_scheduled_change_conflicts_too(world):
    w = world
    eff = _now(w.conn) + timedelta(days=10)
    res = publish(w.conn, moved_boundary_draft(w), actor_id=w["planner"].person_id, reason="排期", effective_at=eff)
    later = draft_of(w.conn, [w.com["C1"]])
    with pytest.raises(PublishConflict) as e:
        publish(w.conn, later, actor_id=None, reason="抢先")
    assert (e.value.change_id, e.value.status) == (res.change_id, "scheduled")
    assert "scheduled" in e.value.message_en
