"""Every open case is in exactly one working queue, held by the unit that must act next (issue 8,
item 3): over the sample district (and whatever other test districts are committed beside it),
with a report that came with an address only (待定位, issue 9) among them."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import text

from accounts.actors import Actor
from dispatch import desk, permissions, queries, service
from dispatch.states import OPEN_STATUSES

BIG = 10**7


def _acting_unit(case: dict) -> Actor:
    """A dispatcher of the unit that must act next on ``case`` (the lowest containing unit for
    a case not sorted yet), or a staff member of its lead department."""
    if case["status"] in queries.DEPARTMENT_WORKING:
        return Actor(0, "t", "t", "department_staff", "department", department_id=case["department_id"])
    owner = permissions.owner_level(case) or "community"
    return Actor(0, "t", "t", "dispatcher", owner, community_id=case["community_id"] if owner == "community" else None,
                 subdistrict_id=case["subdistrict_id"] if owner != "district" else None)


def test_every_open_case_is_in_exactly_one_working_queue_of_the_unit_that_must_act(sample_loaded, conn):
    unlocated = service.report_case(conn, channel="hotline", lon=None, lat=None, category_code="0102",
                                    address="兴隆台区 某街 1 号（热线来电，无坐标）")
    held: dict[int, list[str]] = defaultdict(list)
    for q in desk.WORKING_QUEUES:
        for r in desk.queue_rows(conn, queue=q, actor=None, limit=BIG):
            held[r.id].append(q)
    deps = [d["id"] for d in desk.departments(conn)]
    for dep in deps:
        for r in desk.department_cases(conn, department_id=dep, limit=BIG):
            if r.role == "lead":
                held[r.id].append(f"department:{dep}")
    cases = [dict(r) for r in conn.execute(text(
        "SELECT id, case_no, status, level, community_id, subdistrict_id, department_id, outside_jurisdiction "
        "FROM cases WHERE status = ANY(:o)"), {"o": list(OPEN_STATUSES)}).mappings()]
    sample_registered = conn.execute(text(
        "SELECT count(*) FROM cases WHERE status = 'registered' AND grid_code LIKE '211103%'")).scalar_one()
    assert sample_registered > 0  # the sample's registered-not-dispatched cases are part of this
    assert len(cases) > 100
    wrong = {c["case_no"]: held.get(c["id"], []) for c in cases if len(held.get(c["id"], [])) != 1}
    assert not wrong, f"{len(wrong)} open cases not in exactly one working queue, e.g. {list(wrong.items())[:5]}"
    assert held[unlocated["id"]] == ["awaiting_location"]

    # … and the queue is the one of the unit that must act next: that unit sees it there and
    # may act on it; a unit above it that may not act does not have it in its working queue
    mine_cache: dict[tuple, set[int]] = {}
    for c in cases:
        actor = _acting_unit(c)
        assert permissions.available_actions(actor, c), c
        (q,) = held[c["id"]]
        if q.startswith("department:"):
            continue
        key = (q, actor.unit_level, actor.community_id, actor.subdistrict_id)
        if key not in mine_cache:
            mine_cache[key] = {r.id for r in desk.queue_rows(conn, queue=q, actor=actor, limit=BIG)}
        assert c["id"] in mine_cache[key], (c, q)
    # 待定位: no unit contains it yet, so the command centre and every subdistrict have it (either may locate it)
    subdistrict = Actor(0, "t", "t", "dispatcher", "subdistrict", subdistrict_id=cases[0]["subdistrict_id"] or 1)
    assert unlocated["id"] in {r.id for r in desk.queue_rows(conn, queue="awaiting_location", actor=subdistrict,
                                                             limit=BIG)}
    district = Actor(0, "t", "t", "dispatcher", "district")
    theirs = {r.id for r in desk.queue_rows(conn, queue="awaiting_dispatch", actor=district, limit=BIG)}
    community_owned = [c for c in cases if c["status"] == "registered" and c["level"] in ("grid", "community")]
    assert community_owned and not theirs & {c["id"] for c in community_owned}


def test_registered_cases_wait_in_awaiting_dispatch_with_a_badge(world, conn):
    from tests.world import bring_to

    case = bring_to(world, "registered")
    owner = world["disp_c1"] if case["level"] in ("grid", "community") else world["disp_d"]
    assert case["id"] in [r.id for r in desk.queue_rows(conn, queue="awaiting_dispatch", actor=owner)]
    assert desk.queue_counts(conn, actor=owner)["awaiting_dispatch"] >= 1
