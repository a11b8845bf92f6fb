"""A merge takes only an original the dispatcher may see (the area they work on): a case of
another community or subdistrict is refused like a missing one, by id and by number, and the
detail panel offers only candidates a merge would accept."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from dispatch import desk, service
from dispatch.errors import InvalidInput


def _near_border(world, where: str, lon: float) -> dict:
    world.POINTS = {**world.POINTS, f"{where}@{lon}": (lon, 0.5)}
    return world.report(f"{where}@{lon}")


def _version(conn, case_id: int) -> tuple:
    return tuple(conn.execute(text("SELECT status, version, duplicate_of, (SELECT count(*) FROM case_event "
                                   "WHERE case_id = :i) FROM cases WHERE id = :i"), {"i": case_id}).one())


@pytest.mark.parametrize("by", ["id", "case_no"])
def test_a_merge_into_a_case_outside_the_dispatchers_area_is_refused(world, conn, by):
    elsewhere = world.report("C3")  # another subdistrict
    neighbour = world.report("C2")  # the same subdistrict, another community
    dup = world.report("C1")
    before = _version(conn, dup["id"])
    for orig in (elsewhere, neighbour):
        with pytest.raises(InvalidInput) as e:
            service.transition(conn, case_id=dup["id"], action="merge", actor=world["disp_c1"],
                               duplicate_of=orig[by] if by == "id" else orig["case_no"])
        assert "不在您的工作范围内" in str(e.value) or "in the area you work on" in str(e.value)
        assert _version(conn, dup["id"]) == before  # nothing written
    # the subdistrict's dispatcher sees C2 but not C3
    with pytest.raises(InvalidInput):
        service.transition(conn, case_id=dup["id"], action="merge", actor=world["disp_s1"], duplicate_of=elsewhere["id"])
    row = service.transition(conn, case_id=dup["id"], action="merge", actor=world["disp_s1"], duplicate_of=neighbour["id"])
    assert (row["status"], row["duplicate_of"]) == ("merged", neighbour["id"])


def test_a_merge_within_the_area_and_the_command_centres_still_work(world, conn):
    orig, dup = world.report("C1"), world.report("C1")
    assert service.transition(conn, case_id=dup["id"], action="merge", actor=world["disp_c1"],
                              duplicate_of=orig["case_no"])["duplicate_of"] == orig["id"]
    far, dup2 = world.report("C3"), world.report("C1")
    assert service.transition(conn, case_id=dup2["id"], action="merge", actor=world["disp_d"],
                              duplicate_of=far["id"])["duplicate_of"] == far["id"]


def test_a_bad_case_reference_is_a_clear_refusal(world, conn):
    dup = world.report("C1")
    with pytest.raises(InvalidInput, match="不是案件编号"):
        service.transition(conn, case_id=dup["id"], action="merge", actor=world["disp_c1"], duplicate_of=[1])


def test_the_panel_offers_only_candidates_in_the_dispatchers_area(world, conn):
    mine = _near_border(world, "C1", 0.9995)   # ~55 m west of the C1/C2 border
    theirs = _near_border(world, "C2", 1.0005)  # ~55 m east of it, in the next community
    dup = _near_border(world, "C1", 0.9990)
    offered = [c.id for c in desk.case_panel(conn, case_id=dup["id"], actor=world["disp_c1"]).duplicate_candidates]
    assert mine["id"] in offered and theirs["id"] not in offered
    wider = [c.id for c in desk.case_panel(conn, case_id=dup["id"], actor=world["disp_s1"]).duplicate_candidates]
    assert {mine["id"], theirs["id"]} <= set(wider)
