"""The planner's whole round in Debian's Chromium, every non-localhost request blocked: sign in, the
wall's base layer as it is; open the planner page, make a draft, split a grid by drawing a line
on the map, see the impact, publish; the wall (same server, no restart) then draws the new grids.
"""
from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from tests.e2e.conftest import SHOTS
from tests.ui.district import CODE

FRAME = "iframe[title='ui.grid_editor.grid_editor']"
OUTLINES = "/app/static/wall/outlines-"  # not the live beacon (live-<pid>.txt) in the same folder


def remove_planning(engine) -> None:
    """The test district's drafts and the boundary changes published from them (purge_district
    knows neither); their grid versions go with the district."""
    with engine.begin() as c:
        drafts = "SELECT d.id FROM boundary_draft d JOIN district x ON x.id = d.district_id WHERE x.code = :c"
        changes = f"SELECT id FROM boundary_change WHERE draft_id IN ({drafts})"
        p = {"c": CODE}
        c.execute(text(f"UPDATE grid_version SET change_id = NULL WHERE change_id IN ({changes})"), p)
        for table in ("boundary_change_grid", "boundary_change_responsibility"):
            c.execute(text(f"DELETE FROM {table} WHERE change_id IN ({changes})"), p)
        c.execute(text(f"UPDATE boundary_change SET rollback_of = NULL WHERE rollback_of IN ({changes})"), p)
        c.execute(text(f"DELETE FROM boundary_change WHERE id IN ({changes})"), p)
        c.execute(text(f"DELETE FROM boundary_draft WHERE id IN ({drafts})"), p)


@pytest.fixture
def clean_planning(engine, e2e_db):
    remove_planning(engine)
    yield
    remove_planning(engine)


def _grid_rings(response) -> int:
    """How many unit-grid rings (level 0) the wall's outline file holds."""
    return sum(1 for o in json.loads(response.body()) if o["l"] == 0)


def _live_grids(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM grid_version WHERE valid_to IS NULL AND valid_from <= now()")
                         ).scalar_one()


def settled(page) -> None:
    """Like wait_drawn, with room for a loaded machine (a publish or an impact takes seconds)."""
    expect(page.locator("[data-test-connection-state=CONNECTED]")).to_have_count(1, timeout=30_000)
    expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=60_000)


def _pick(page, label: str, typed: str) -> None:
    """Choose in a Streamlit select box by typing (the options are "code name")."""
    box = page.get_by_label(label, exact=True)
    box.click()
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    settled(page)


def test_a_planner_splits_a_grid_sees_the_impact_publishes_and_the_wall_redraws(
        page, login, app_url, engine, clean_planning):
    community = f"{CODE}001001"
    with engine.connect() as c:
        code, x0, y0, x1, y1 = c.execute(text("""
            SELECT g.code, ST_XMin(gv.geom), ST_YMin(gv.geom), ST_XMax(gv.geom), ST_YMax(gv.geom)
            FROM unit_grid g JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            WHERE g.code LIKE :p ORDER BY g.code OFFSET 4 LIMIT 1"""), {"p": community + "%"}).one()  # the middle one of 3 × 3
    before = _live_grids(engine)

    login(page, "uit_planner")  # the wall is the planner's first page

    # a draft of one community
    page.get_by_role("link", name="网格规划").click()  # (a reload would start a new, signed-out session)
    settled(page)
    _pick(page, "区县", CODE)  # first: the district redraws the choice of its communities
    page.get_by_label("草稿名称").fill("e2e 分割")
    page.get_by_label("原因说明").fill("新小区交付，网格过大")
    _pick(page, "范围：社区（不选则为整个区县）", community)
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    create = page.get_by_role("button", name="新建", exact=True)
    create.click()
    if not page.get_by_text("已新建草稿").is_visible():
        settled(page)
        if page.get_by_text("还没有进行中的草稿").is_visible():
            create.click()  # the first click only closed the open option list
    settled(page)
    page.screenshot(path=str(SHOTS / "planner-created.png"))
    expect(page.get_by_text("已新建草稿")).to_be_visible()
    editor = page.frame_locator(FRAME).first
    expect(editor.locator("body[data-ready='1']")).to_have_count(1, timeout=30_000)
    expect(editor.locator("path.leaflet-interactive")).to_have_count(9)
    # the editor's document, marked: the same frame must carry the planner through the tool
    # change and the edit (a frame mounted afresh would lose a drawing in progress; issue 10)
    frame = page.locator(FRAME).first.element_handle().content_frame()
    frame.evaluate("() => { window.__sameEditor = true; }")

    def same_editor(step: str) -> None:
        assert not frame.is_detached() and frame.evaluate("() => window.__sameEditor === true"), \
            f"the editor's frame was mounted afresh {step}"

    # split the grid: a line drawn across it, from below to above
    page.locator("[data-testid=stButtonGroup]").get_by_text("分割", exact=True).click()
    settled(page)
    expect(editor.locator("#map.drawing")).to_have_count(1)
    same_editor("after choosing 分割")

    def at(lon, lat):
        box = page.locator(FRAME).first.bounding_box()
        x, y = frame.evaluate("([lat, lon]) => { const p = editorMap.latLngToContainerPoint([lat, lon]);"
                              " const r = editorMap.getContainer().getBoundingClientRect();"
                              " return [r.x + p.x, r.y + p.y] }", [lat, lon])
        return box["x"] + x, box["y"] + y

    mid, h = (x0 + x1) / 2, y1 - y0
    for lat in (y0 - h * 0.3, y1 + h * 0.3, y1 + h * 0.3):  # across it; the last point again ends the line
        page.mouse.click(*at(mid, lat))
        page.wait_for_timeout(300)
    op = json.loads(frame.evaluate("() => document.body.getAttribute('data-last-op')") or "null")
    assert op and op["op"] == "split" and op["code"] == code, op
    expect(page.get_by_text("已修改")).to_be_visible(timeout=30_000)
    expect(editor.locator("path.leaflet-interactive")).to_have_count(10, timeout=30_000)
    same_editor("after the split was applied")
    page.screenshot(path=str(SHOTS / "planner-split.png"))

    # the replace-from-file uploader says its cap and formats in Chinese (static/widgets-zh.css)
    page.get_by_text("从文件替换图层").click()
    cap = page.locator(".st-key-pl_replace_file [data-testid=stFileUploaderDropzoneInstructions] span")
    expect(cap).to_be_visible()
    assert cap.evaluate("e => getComputedStyle(e, '::after').content") == '"每个文件不超过 20 MB · GeoJSON、GeoPackage 或 Shapefile 压缩包"'
    page.get_by_text("从文件替换图层").click()

    # the impact preview
    page.get_by_role("tab", name="影响预览").click()
    page.get_by_role("button", name="计算影响").click()
    expect(page.locator("[data-testid=stMetric]", has_text="将改变网格 / 社区的在办案件")).to_have_count(1, timeout=60_000)
    expect(page.get_by_text("网格员近 90 天工作量")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "planner-impact.png"))

    # publish now, with a reason
    page.get_by_role("tab", name="发布").click()
    page.get_by_label("发布原因（必填）").fill("新小区交付，分割网格")
    page.get_by_label("保留警告的理由（有警告时必填）").fill("e2e")
    page.get_by_role("button", name="发布", exact=True).click()
    expect(page.get_by_text("已发布")).to_be_visible(timeout=60_000)
    after = _live_grids(engine)
    assert after == before + 1

    # the wall, same server, no restart: its base layer has the new grids
    with page.expect_response(lambda r: OUTLINES in r.url and r.status == 200, timeout=120_000) as outlines:
        page.get_by_role("link", name="指挥大屏").click()
    assert _grid_rings(outlines.value) == after
