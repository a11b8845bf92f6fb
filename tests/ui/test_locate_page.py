"""派单 page in AppTest: a report that came with an address only (待定位) is in the 待定位 queue of
the command centre and the subdistricts; the panel shows its address; the locate form sets its
point (typed, or a chosen grid's) through the lifecycle service, and the database puts it in its
grid; a subdistrict's point elsewhere is refused and nothing changes."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from dispatch import service
from tests.ui.dispatch_world import CODE, build, case_row, open_page, purge
from tests.ui.actions import action_buttons, choose

PAGE = "pages/dispatch.py"
CASE = "dispatch.case_id"
ADDRESS = "测试区 光明路 8 号 门前"


@pytest.fixture(scope="module")
def w(engine):
    world = build(engine)
    yield world
    purge(engine)  # the unlocated cases carry the district's tag in their description


def _unlocated(engine) -> dict:
    with engine.begin() as c:
        return service.report_case(c, channel="hotline", lon=None, lat=None, category_code="0102",
                                   address=ADDRESS, description=f"热线：路灯不亮 [{CODE}]")


def _form(case_id: int) -> str:
    return f"dispatch-act-{case_id}-locate"


def _submit(at, case_id):
    buttons = [b for b in at.button if _form(case_id) in str(b.proto.form_id)]
    assert buttons, [b.proto.form_id for b in at.button]
    return buttons[0].click().run()


def _html(at) -> str:
    return "\n".join(h.proto.body for h in at.get("html"))


def _subdistrict_of(engine, community_id: int) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT subdistrict_id FROM community WHERE id = :i"), {"i": community_id}).scalar_one()


def test_the_queue_the_panel_and_locating_by_typed_coordinates(w, engine):
    row = _unlocated(engine)
    at = open_page(w["dpt_disp_sd"], PAGE)
    queue = next(s for s in at.segmented_control if s.key == "dispatch-queue")
    assert any(o.startswith("待定位 ") for o in queue.options)
    queue.set_value("awaiting_location").run()
    table = next(d for d in at.dataframe if str(d.key).startswith("dispatch-q-awaiting_location-t"))
    shown = table.value
    assert row["case_no"] in list(shown["case_no"]) and any(ADDRESS in a for a in shown["area"])

    at.session_state[CASE] = row["id"]
    at.run()
    assert "待定位" in _html(at) and ADDRESS in _html(at)
    bar = action_buttons(at, f"dispatch-act-{row['id']}")
    assert [b.label for b in bar.values()] == ["定位"]  # a subdistrict may only locate it
    choose(at, f"dispatch-act-{row['id']}", "locate")
    assert any(ADDRESS in i.value for i in at.info)
    lon, lat = w.points[0]
    at.number_input(key=f"{_form(row['id'])}-lon").set_value(lon)
    at.number_input(key=f"{_form(row['id'])}-lat").set_value(lat)
    _submit(at, row["id"])
    assert not at.exception and not at.error
    got = case_row(engine, row["id"])
    assert got["geom"] is not None and got["community_id"] == w.district.community_ids[0]
    assert got["received_crs"] == "WGS84" and got["version"] == row["version"] + 1
    with engine.connect() as c:
        actions = c.execute(text("SELECT action, actor_id FROM case_event WHERE case_id = :i ORDER BY at, id"),
                            {"i": row["id"]}).all()
    assert [tuple(a) for a in actions] == [("report", None), ("locate", w["dpt_disp_sd"].person_id)]


def test_a_point_in_another_subdistrict_is_refused_and_the_case_is_unchanged(w, engine):
    row = _unlocated(engine)
    mine = _subdistrict_of(engine, w.district.community_ids[0])
    other = next(i for i, cid in enumerate(w.district.community_ids) if _subdistrict_of(engine, cid) != mine)
    at = open_page(w["dpt_disp_sd"], PAGE, **{CASE: row["id"]})
    choose(at, f"dispatch-act-{row['id']}", "locate")
    lon, lat = w.points[other]
    at.number_input(key=f"{_form(row['id'])}-lon").set_value(lon)
    at.number_input(key=f"{_form(row['id'])}-lat").set_value(lat)
    _submit(at, row["id"])
    assert any("街道" in e.value for e in at.error)
    got = case_row(engine, row["id"])
    assert got["geom"] is None and got["version"] == row["version"]


def test_the_command_centre_locates_by_choosing_a_grid(w, engine):
    row = _unlocated(engine)
    en = open_page(w["dpt_disp_d"], PAGE, lang="en", **{CASE: row["id"]})
    assert [b.label for b in action_buttons(en, f"dispatch-act-{row['id']}").values()] == [
        "Reject", "Merge as duplicate", "Locate", "Reply to the reporter"]  # and tell its reporter (Open311)
    assert "Awaiting location" in _html(en)
    at = open_page(w["dpt_disp_d"], PAGE, **{CASE: row["id"]})
    choose(at, f"dispatch-act-{row['id']}", "locate")
    grid = at.selectbox(key=f"{_form(row['id'])}-grid")
    code = next(o for o in grid.options if o.startswith(CODE)).split(" ")[0]
    grid.set_value(code)
    _submit(at, row["id"])
    assert not at.error, [e.value for e in at.error]
    got = case_row(engine, row["id"])
    assert got["grid_code"] == code and got["reported_grid_code"] == code
