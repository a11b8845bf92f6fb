"""Dispatch in a real browser (Debian Chromium, every non-localhost request blocked):
sign in → the wall shows cases → open 派单 → click the case on the map → dispatch it → its
state changes on the map and in the clearance charts."""
from __future__ import annotations

import csv
import io
import math
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from dispatch import service
from accounts.actors import load_actor
from accounts.auth import create_user
from wall.dispatch_map import DISPATCH_MAP
from wall.frame import WallFilter, base_map, filter_bbox, view_for
from ui.wall_view import DESK_MAP
from tests.e2e.conftest import PANEL_FORM, SHOTS, WALL_MAP, hover_text, map_point, wait_drawn
from tests.ui.district import remove_cases
from tests.ui.district import CODE

MAP = WALL_MAP   # the dispatch map is the wall's component (ui/wall_map), in its own frame


USER, PASSWORD = "e2e_disp_sd", "Dispatch-e2e-2024"


def _dispatch_view(engine, subdistrict_id: int) -> dict:
    """The dispatch map's initial view for a subdistrict's dispatcher: their subdistrict."""
    with engine.connect() as c:
        base = base_map(c, "zh")
    view = view_for(filter_bbox(base, WallFilter(subdistricts=(subdistrict_id,))), *DESK_MAP)
    view["zoom"] = round(view["zoom"] + math.log2(min(DISPATCH_MAP[0] / DESK_MAP[0], DISPATCH_MAP[1] / DESK_MAP[1])), 2)
    return view


@pytest.fixture
def dispatcher(engine, e2e_db):
    """A dispatcher of the test district's first subdistrict (its map shows just that area)."""
    sd = e2e_db["district"].subdistrict_ids[0]
    with engine.begin() as c:
        code = c.execute(text("SELECT code FROM subdistrict WHERE id = :i"), {"i": sd}).scalar_one()
        pid = create_user(c, username=USER, full_name="测试街道派遣员", role="dispatcher", password=PASSWORD,
                          unit_level="subdistrict", unit=code)
    yield {"subdistrict_id": sd, "person_id": pid}
    with engine.begin() as c:
        c.execute(text("DELETE FROM case_presence WHERE person_id = :p"), {"p": pid})
        c.execute(text("DELETE FROM person WHERE id = :p"), {"p": pid})


@pytest.fixture
def case(engine, dispatcher):
    """A subdistrict-level case, registered and waiting for dispatch, alone in the empty grid
    nearest the subdistrict's centre (so a click finds it and nothing else)."""
    with engine.begin() as c:
        lon, lat = c.execute(text("""
            WITH s AS (SELECT id, ST_Centroid(geom) AS g FROM subdistrict WHERE id = :sd)
            SELECT ST_X(ST_Centroid(gv.geom)), ST_Y(ST_Centroid(gv.geom))
            FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN community cm ON cm.id = g.community_id
            JOIN s ON s.id = cm.subdistrict_id
            WHERE gv.valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.grid_id = g.id)
            ORDER BY ST_Distance(gv.geom, s.g) LIMIT 1"""), {"sd": dispatcher["subdistrict_id"]}).one()
        admin = load_actor(c, c.execute(text("SELECT id FROM person WHERE username = 'uit_admin'")).scalar_one())
        row = service.report_case(c, channel="hotline", lon=lon, lat=lat, category_code="0102",
                                  description=f"e2e 派单：垃圾桶满溢 [{CODE}]")
        row = service.transition(c, case_id=row["id"], action="register", actor=admin, level="subdistrict")
    yield {"id": row["id"], "case_no": row["case_no"], "lon": lon, "lat": lat}
    with engine.begin() as c:  # its events, and their share of the indicators' daily roll-up
        remove_cases(c, "SELECT CAST(:cid AS bigint)", {"cid": row["id"]})


def _hover_until(page, x, y, want: str, timeout_s: float) -> str:
    deadline, seen = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        seen = hover_text(page, x, y, MAP)
        if want in seen:
            break
    return seen


def _click_until_picked(page, x, y, case_no: str, tries: int = 3) -> None:
    """Click the case on the map until the panel shows it. A click that lands while a rerun is
    redrawing the map can be lost, as it is for a person, who clicks again; more than ``tries``
    lost clicks fails the test."""
    for attempt in range(tries):
        page.mouse.click(x, y)
        try:
            expect(page.locator(".dp-no")).to_have_text(case_no, timeout=10_000)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def _open_dispatched(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM cases WHERE status = 'dispatched'")).scalar_one()


def _sign_in(page, app_url: str, username: str, password: str) -> None:
    """As the shared ``login`` fixture, with room for a first draw after a cold server start."""
    page.goto(app_url + "/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_label("用户名")).to_have_count(0, timeout=60_000)


def test_click_a_case_on_the_map_dispatch_it_and_see_it_move(page, app_url, engine, dispatcher, case):
    dispatched_before = _open_dispatched(engine)

    _sign_in(page, app_url, USER, PASSWORD)  # the wall is a dispatcher's first page (its map: a component)
    expect(page.frame_locator(WALL_MAP).locator("canvas").first).to_be_visible(timeout=60_000)
    expect(page.locator(".st-key-kpi-open [data-testid=stMetricValue]")).not_to_have_text("0", timeout=30_000)

    page.locator('[data-testid=stSidebarNav] a[href$="/dispatch"]').click()
    expect(page.get_by_role("heading", name="派单调度")).to_be_visible(timeout=30_000)
    expect(page.frame_locator(MAP).locator("canvas#points")).to_be_attached(timeout=30_000)
    x, y = map_point(page, _dispatch_view(engine, dispatcher["subdistrict_id"]), case["lon"], case["lat"], MAP)
    tip = _hover_until(page, x, y, case["case_no"], 40)
    assert case["case_no"] in tip and "立案" in tip, tip

    _click_until_picked(page, x, y, case["case_no"])
    page.locator(f".st-key-dispatch-act-{case['id']}").get_by_role("button", name="派遣", exact=True).click()
    form = page.locator(PANEL_FORM)
    expect(form).to_be_visible(timeout=20_000)
    expect(form).to_contain_text("按时限标准")  # the computed deadline is shown
    submit = form.get_by_role("button", name="派遣")
    box, height = submit.bounding_box(), page.viewport_size["height"]
    assert 0 <= box["y"] and box["y"] + box["height"] <= height, (box, height)  # in view without scrolling
    form.get_by_role("button", name="派遣").click()

    expect(page.locator(".dp-head")).to_contain_text("已派遣", timeout=20_000)
    # the confirmation names the case and who holds it now, and does not cover the case number
    toast = page.locator("[data-testid=stToast]").first
    expect(toast).to_contain_text(case["case_no"], timeout=10_000)
    expect(toast).to_contain_text("现由")
    # nor what the dispatcher uses next: the search box, the panel's action buttons, a form's submit
    # button (kept in view at the bottom of the screen; a toast there held the next 派遣 for 4 s)
    t = toast.bounding_box()
    for what in (".dp-no", ".st-key-dispatch-search input", f".st-key-dispatch-act-{case['id']} button"):
        for n in (page.locator(what).nth(i).bounding_box() for i in range(page.locator(what).count())):
            assert t["y"] >= n["y"] + n["height"] or t["y"] + t["height"] <= n["y"] or \
                t["x"] >= n["x"] + n["width"] or t["x"] + t["width"] <= n["x"], (what, t, n)
    assert t["y"] + t["height"] < page.viewport_size["height"] / 3, t   # at the top: clear of any form's submit
    with engine.connect() as c:
        status, dept = c.execute(text("SELECT status, department_id FROM cases WHERE id = :i"), {"i": case["id"]}).one()
    assert status == "dispatched" and dept is not None
    # on the map: the same point now says so, without a reload
    x, y = map_point(page, _dispatch_view(engine, dispatcher["subdistrict_id"]), case["lon"], case["lat"], MAP)
    tip = _hover_until(page, x, y, "已派遣", 30)
    assert case["case_no"] in tip and "已派遣" in tip, tip
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dispatch.png"))

    # in the charts: the backlog by state counts it among the dispatched
    page.locator('[data-testid=stSidebarNav] a[href$="/charts"]').click()
    expect(page.get_by_role("heading", name="结案统计")).to_be_visible(timeout=30_000)
    expect(page.locator(".st-key-backlog-csv")).to_be_visible(timeout=30_000)
    with page.expect_download() as got:
        page.locator(".st-key-backlog-csv").get_by_role("button").click()
    rows = list(csv.reader(io.StringIO(got.value.path().read_bytes().decode("utf-8-sig"))))
    state_col, open_col = rows[0].index("状态"), rows[0].index("在办数")
    dispatched = next(int(r[open_col]) for r in rows[1:] if r[state_col] == "已派遣")
    assert dispatched == dispatched_before + 1 == _open_dispatched(engine)
    page.screenshot(path=str(SHOTS / "charts.png"), full_page=True)


def test_a_case_not_accepted_in_time_is_on_its_watch_list_with_whom_to_chase(page, app_url, engine, dispatcher, case):
    """超时未接收 (migration 0035) in Chromium: a case its department has not accepted in time is
    on the 派单 watch list of that name, longest waiting first, with the department; picked from
    there, the panel says until when it had to be accepted, and that this has passed."""
    with engine.begin() as c:
        admin = load_actor(c, c.execute(text("SELECT id FROM person WHERE username = 'uit_admin'")).scalar_one())
        row = service.transition(c, case_id=case["id"], action="dispatch", actor=admin)
        dept = c.execute(text("SELECT name FROM department WHERE id = :d"), {"d": row["department_id"]}).scalar_one()
        # an hour of working time went by long ago: the longest waiting of the list
        c.execute(text("UPDATE cases SET accept_due_at = now() - interval '30 days' WHERE id = :i"), {"i": case["id"]})
    _sign_in(page, app_url, USER, PASSWORD)
    page.locator('[data-testid=stSidebarNav] a[href$="/dispatch"]').click()
    expect(page.get_by_role("heading", name="派单调度")).to_be_visible(timeout=30_000)
    page.locator(".st-key-dispatch-queue button", has_text="超时未接收").first.click()
    table = page.locator(".st-key-dispatch-q-late_accept [data-testid=stDataFrame]")
    expect(table).to_have_count(1, timeout=30_000)
    wait_drawn(page)
    box = table.first.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's tick
    head = page.locator(".dp-head .dp-no")
    expect(head).to_have_text(case["case_no"], timeout=30_000)
    facts = page.locator(".dp-facts")
    expect(facts).to_contain_text("接收时限", timeout=10_000)
    expect(facts).to_contain_text("（已超时）")
    expect(facts).to_contain_text(dept)
