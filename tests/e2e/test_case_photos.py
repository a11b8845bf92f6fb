"""A department's feedback with a real photo upload in Debian's Chromium (every non-localhost
request blocked): the staff member finds the case, feeds back with a JPEG from a file, and the
case's history shows the stored photo as a thumbnail with its full-size view."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import text

from accounts.actors import load_actor
from dispatch import service
from intake import field
from tests.e2e.conftest import PANEL_FORM, SHOTS, wait_drawn

DEPT_USER = "uit_dept"


@pytest.fixture
def disposing_case(engine, e2e_db):
    """A case the test department has accepted (moved there by the admin through the lifecycle)."""
    with engine.begin() as c:
        admin = load_actor(c, c.execute(text("SELECT id FROM person WHERE username = 'uit_admin'")).scalar_one())
        dept = c.execute(text("SELECT department_id FROM person WHERE username = :u"), {"u": DEPT_USER}).scalar_one()
        grid = c.execute(text("SELECT ST_X(ST_Centroid(gv.geom)), ST_Y(ST_Centroid(gv.geom)) FROM grid_version gv "
                              "JOIN unit_grid g ON g.id = gv.grid_id WHERE g.id = :g AND gv.valid_to IS NULL"),
                         {"g": e2e_db["district"].grid_ids[0]}).one()
        row = service.report_case(c, channel="hotline", lon=grid[0], lat=grid[1], category_code="0102",
                                  description="e2e 照片反馈")
        service.transition(c, case_id=row["id"], action="register", actor=admin, level="district")
        service.transition(c, case_id=row["id"], action="dispatch", actor=admin, department_id=dept)
        row = service.transition(c, case_id=row["id"], action="accept", actor=admin)
    return row


def test_feedback_with_a_photo_file_shows_its_thumbnail_in_the_history(page, login, engine, disposing_case, tmp_path):
    no = disposing_case["case_no"]
    photo = tmp_path / "after.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (1200, 900), (40, 160, 90)).save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())

    login(page, DEPT_USER, path="/department_queue")
    expect(page.get_by_role("heading", name="部门工单")).to_be_visible(timeout=60_000)
    search = page.locator(".st-key-dq-search input")
    search.fill(no)
    search.press("Enter")
    expect(page.locator(".dp-no", has_text=no)).to_be_visible(timeout=30_000)
    wait_drawn(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "feedback-photo-0.png"), full_page=True)
    page.locator(f".st-key-dept-act-{disposing_case['id']}").get_by_text("处置反馈").click()
    form = page.locator(PANEL_FORM)
    expect(form).to_be_visible()
    form.get_by_role("textbox").first.fill("已清运，附处置后照片")
    form.locator("input[type=file]").set_input_files(str(photo))
    expect(form.get_by_text("after.jpg")).to_be_visible(timeout=20_000)
    form.get_by_role("button", name="处置反馈").click()

    with engine.connect() as c:
        def ref():
            return c.execute(text("SELECT result_photo_ref FROM cases WHERE id = :i"),
                             {"i": disposing_case["id"]}).scalar_one()
        expect(page.get_by_text(re.compile("处置反馈"))).not_to_have_count(0)
        for _ in range(60):
            c.rollback()
            if ref():
                break
            page.wait_for_timeout(500)
        got = ref()
    assert got and re.fullmatch(r"[0-9a-f]{32}\.jpg", got)

    wait_drawn(page)
    page.get_by_role("tab", name="处置过程").click()
    thumb = page.locator("[data-testid=stImage] img").first
    expect(thumb).to_be_visible(timeout=20_000)
    assert thumb.evaluate("i => i.naturalWidth") <= 320   # a thumbnail, not the stored photo
    page.get_by_role("button", name=re.compile("查看原图")).first.click()
    full = page.locator("[data-testid=stPopoverBody] [data-testid=stImage] img")
    expect(full).to_be_visible(timeout=20_000)
    assert full.evaluate("i => i.naturalWidth") == 1200
    page.screenshot(path=str(SHOTS / "feedback-photo.png"), full_page=True)
    field.photo_store().path(got).unlink(missing_ok=True)  # the server's store (var/photos): leave nothing behind
