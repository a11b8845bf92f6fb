"""The dispatcher's side of the intake (issue 9 §1, §4), on the dispatch page in AppTest: possible
duplicates linked on arrival are confirmed (merged through the lifecycle) or rejected, and a
public reporter's reopen request is answered; both recorded with who and when. The services
refuse a dispatcher of another unit."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from dispatch.duplicates import link_possible_duplicates
from dispatch.errors import LifecycleError, PermissionDenied
from intake import duplicates, public
from tests.ui.dispatch_world import build, case_row, new_case, open_page, purge

PAGE, CASE = "pages/dispatch.py", "dispatch.case_id"


@pytest.fixture(scope="module")
def w(engine):
    world = build(engine)
    yield world
    purge(engine)


def _linked(engine, w):
    """An open case and a new report at the same spot, linked as the intake links them."""
    original = new_case(engine, w, "registered")
    dup = new_case(engine, w, "reported")
    with engine.begin() as c:
        links = link_possible_duplicates(c, dup["id"])
    assert original["case_no"] in [x["case_no"] for x in links]
    return original, dup


def _link(engine, case_id, candidate_id):
    with engine.connect() as c:
        return c.execute(text("SELECT status, decided_at, decided_by FROM case_possible_duplicate "
                              "WHERE case_id = :c AND candidate_id = :d"), {"c": case_id, "d": candidate_id}).one()


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_a_linked_duplicate_is_shown_and_confirming_merges_it_through_the_lifecycle(w, engine):
    original, dup = _linked(engine, w)
    who = w["dpt_disp_cm"]
    at = open_page(who, PAGE, **{CASE: dup["id"]})
    assert any("疑似重复" in m.value for m in at.markdown)
    assert any(original["case_no"] in m.value and "米" in m.value for m in at.markdown)
    _button(at, f"dispatch-intake-{dup['id']}-dup-{original['id']}-yes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    got = case_row(engine, dup["id"])
    assert (got["status"], got["duplicate_of"]) == ("merged", original["id"])
    link = _link(engine, dup["id"], original["id"])
    assert link.status == "confirmed" and link.decided_at is not None and link.decided_by == who.person_id
    with engine.connect() as c:
        ev = c.execute(text("SELECT action, actor_id FROM case_event WHERE case_id = :i ORDER BY id DESC LIMIT 1"),
                       {"i": dup["id"]}).one()
    assert (ev.action, ev.actor_id) == ("merge", who.person_id)


def test_a_report_located_later_shows_its_links_on_the_panel_as_for_intake(w, engine):
    """An address-only report (待定位) is linked when a dispatcher locates it (the same search, run by
    the lifecycle's locate move) and the panel offers the same decision."""
    from dispatch import service

    original = new_case(engine, w, "registered")
    admin = w["dpt_admin"]
    with engine.begin() as c:
        late = service.report_case(c, channel="hotline", lon=None, lat=None, category_code="0102",
                                   description="测试：来电只报地址", address="测试路 9 号")
        service.transition(c, case_id=late["id"], action="locate", actor=admin, lon=w.points[0][0], lat=w.points[0][1])
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: late["id"]})
    assert not at.exception and not at.error
    assert any("疑似重复" in m.value for m in at.markdown)
    assert any(original["case_no"] in m.value and "米" in m.value for m in at.markdown)
    assert any(b.key == f"dispatch-intake-{late['id']}-dup-{original['id']}-no" for b in at.button)


def test_rejecting_a_link_records_it_and_leaves_the_case_as_it_was(w, engine):
    original, dup = _linked(engine, w)
    who = w["dpt_disp_cm"]
    at = open_page(who, PAGE, **{CASE: dup["id"]})
    _button(at, f"dispatch-intake-{dup['id']}-dup-{original['id']}-no").click().run()
    assert not at.error
    assert case_row(engine, dup["id"])["status"] == "reported"
    link = _link(engine, dup["id"], original["id"])
    assert link.status == "rejected" and link.decided_by == who.person_id
    assert not any(original["case_no"] in m.value for m in at.markdown)  # answered: no longer offered
    with engine.begin() as c, pytest.raises(LifecycleError, match="已处理"):  # answered once
        duplicates.decide_duplicate(c, case_id=dup["id"], candidate_id=original["id"], decision="reject", actor=who)


def test_a_dispatcher_of_another_community_may_not_decide(w, engine):
    original, dup = _linked(engine, w)
    with engine.begin() as c:
        assert not duplicates.may_decide(c, case_id=dup["id"], actor=w["dpt_disp_cm2"])
        with pytest.raises(PermissionDenied):
            duplicates.decide_duplicate(c, case_id=dup["id"], candidate_id=original["id"], decision="confirm",
                                        actor=w["dpt_disp_cm2"])
    assert _link(engine, dup["id"], original["id"]).status == "pending"


def test_a_refused_merge_leaves_the_link_pending(w, engine):
    original, dup = _linked(engine, w)
    with engine.begin() as c:  # the case moved on meanwhile: merge is no longer a legal move
        from dispatch import service
        service.transition(c, case_id=dup["id"], action="register", actor=w["dpt_admin"])
        service.transition(c, case_id=dup["id"], action="dispatch", actor=w["dpt_admin"], department_id=w.dept["HWC"])
    with engine.begin() as c, pytest.raises(LifecycleError):
        duplicates.decide_duplicate(c, case_id=dup["id"], candidate_id=original["id"], decision="confirm",
                                    actor=w["dpt_disp_cm"])
    assert _link(engine, dup["id"], original["id"]).status == "pending"


def _reopen_request(engine, w):
    row = new_case(engine, w, "closed", level="community")
    token = public.new_token()
    with engine.begin() as c:
        c.execute(text("INSERT INTO intake_request(case_id, status_token) VALUES (:c, :t)"), {"c": row["id"], "t": token})
        public.answer_satisfaction(c, token, rating="unsatisfied", comment="井盖还是松的", reopen=True)
    return row


def _reopen_status(engine, case_id):
    with engine.connect() as c:
        return c.execute(text("SELECT reopen_status, decided_at, decided_by FROM case_satisfaction WHERE case_id = :c"),
                         {"c": case_id}).one()


@pytest.mark.parametrize("choice,status", [("yes", "accepted"), ("no", "declined")])
def test_a_reopen_request_is_queued_shown_on_the_case_and_answered(w, engine, choice, status):
    row = _reopen_request(engine, w)
    who = w["dpt_disp_cm"]
    at = open_page(who, PAGE)
    queued = f"dispatch-reopen-{row['id']}"
    assert any(b.key == queued for b in at.button), "listed in the reopen queue"
    _button(at, queued).click().run()
    assert at.session_state[CASE] == row["id"]
    assert any("井盖还是松的" in x.value for x in at.warning)
    _button(at, f"dispatch-intake-{row['id']}-reopen-{choice}").click().run()
    assert not at.error, [e.value for e in at.error]
    got = _reopen_status(engine, row["id"])
    assert (got.reopen_status, got.decided_by) == (status, who.person_id) and got.decided_at is not None
    assert case_row(engine, row["id"])["status"] == "closed"  # no move leads from closed back to verification
    assert not any(b.key == queued for b in at.button)
    with engine.connect() as c:
        assert public.reopen_request_of(c, row["id"]) is None


def test_a_reopen_decision_can_carry_words_for_the_reporter(w, engine):
    """The decision told to the reporter in the same step (答复市民): the status link then says why,
    not only that the request was decided; a refused reply (control characters) leaves the
    request undecided too (one transaction)."""
    row = _reopen_request(engine, w)
    at = open_page(w["dpt_disp_cm"], PAGE, **{CASE: row["id"]})
    box = at.text_area(key=f"dispatch-intake-{row['id']}-reopen-reply")
    box.set_value("井盖\x00")
    _button(at, f"dispatch-intake-{row['id']}-reopen-no").click().run()
    assert _reopen_status(engine, row["id"]).reopen_status == "pending"
    assert any("控制字符" in e.value for e in at.error), [e.value for e in at.error]
    at.text_area(key=f"dispatch-intake-{row['id']}-reopen-reply").set_value("经复核，井盖已于昨日加固，可放心通行。")
    _button(at, f"dispatch-intake-{row['id']}-reopen-no").click().run()
    assert _reopen_status(engine, row["id"]).reopen_status == "declined"
    got = case_row(engine, row["id"])
    assert (got["status"], got["public_reply"]) == ("closed", "经复核，井盖已于昨日加固，可放心通行。")


def test_another_unit_neither_sees_nor_answers_the_reopen_request(w, engine):
    row = _reopen_request(engine, w)
    other = w["dpt_disp_cm2"]
    with engine.begin() as c:
        assert row["id"] not in [r["case_id"] for r in public.reopen_queue(c, other)]
        with pytest.raises(PermissionDenied):
            public.decide_reopen(c, case_id=row["id"], decision="accepted", actor=other)
    assert _reopen_status(engine, row["id"]).reopen_status == "pending"
