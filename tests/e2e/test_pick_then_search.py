"""The search-after-pick stall (issue 8), in Chromium: a dispatcher ticks a queue row, the panel
shows that case, then types another case's number + Enter and chooses an action on it — the
panel must show the searched case and stay on it (the selection follows what the user did last).

Before the fix (``ui.case_view.case_table``) the panel showed the searched case, and the next
click anywhere on the page (here: choosing an action) took it back to the row's case: the table
still held its old tick in the browser and sent it with that click, which the server read as a
new pick of the old row (seen at 1,000,000 cases, where the page then waited for a form that
never came, and in tests/e2e/test_desk_fit.py). Measured here: 8 of 8 rounds lost before the
fix, 0 of 8 after. Several rounds in one session, so a loss that depends on timing shows too."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from dispatch.queries import WORKING_QUEUES
from tests.e2e.conftest import PANEL_FORM, SHOTS, offline_page, wait_drawn
from tests.ui.district import CODE, PASSWORD, report_case

ROUNDS = 8
QUEUE = ".st-key-dispatch-q-awaiting_sorting"


def _searched(engine, n: int) -> list[str]:
    """Case numbers of the test district that are in no queue row the test ticks (in disposal)."""
    with engine.connect() as c:
        return [r[0] for r in c.execute(text("""
            SELECT c.case_no FROM cases c JOIN unit_grid g ON g.id = c.grid_id
            WHERE g.code LIKE :p AND c.status IN ('dispatched', 'disposing', 'awaiting_verification', 'registered')
            ORDER BY c.id LIMIT :n"""), {"p": CODE + "%", "n": n})]


def _fill_queue(engine, n: int = 4) -> None:
    """Enough rows in 待分拣 (reported, in the test district) for the rounds' four rows, whatever
    the earlier tests of the package did with the district's reported cases: new reports, placed by
    the database like any (removed with the district)."""
    with engine.begin() as c:
        have = c.execute(text(f"""
            SELECT count(*) FROM cases c JOIN unit_grid g ON g.id = c.grid_id
            WHERE g.code LIKE :p AND {WORKING_QUEUES['awaiting_sorting']}"""), {"p": CODE + "%"}).scalar_one()
        cells = c.execute(text("""
            SELECT ST_X(ST_PointOnSurface(gv.geom)), ST_Y(ST_PointOnSurface(gv.geom)) FROM grid_version gv
            JOIN unit_grid g ON g.id = gv.grid_id WHERE gv.valid_to IS NULL AND g.code LIKE :p ORDER BY g.code
            LIMIT :n"""), {"p": CODE + "%", "n": n}).all()
        for lon, lat in cells[: max(0, n - have)]:
            report_case(c, lon, lat, "测试：待分拣行")


def _case_id(engine, case_no: str) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT id FROM cases WHERE case_no = :n"), {"n": case_no}).scalar_one()


def _row_xy(pg, i: int) -> tuple[float, float]:
    """The tick box of row ``i`` (0-based, modulo the rows shown, at most 4) of the queue's
    single-row-select table: a click below the last row would pick nothing."""
    box = pg.locator(f"{QUEUE} [data-testid=stDataFrame]").first.bounding_box()
    n = max(1, min(4, round((box["height"] - 38) / 35)))
    return box["x"] + 18, box["y"] + 35 + 35 * (i % n) + 17


def _shown(pg) -> str:
    loc = pg.locator(".dp-head .dp-no")
    return loc.first.inner_text() if loc.count() else ""


@pytest.mark.parametrize("lang", ["zh"])
def test_a_search_right_after_a_row_pick_moves_the_panel(browser, app_url, engine, e2e_db, lang):
    targets = _searched(engine, ROUNDS)
    assert len(targets) >= 3
    _fill_queue(engine)
    lost, external, repicked = [], [], []
    with offline_page(browser, external) as pg:
        pg.goto(f"{app_url}/dispatch?lang={lang}")
        expect(pg.get_by_label("用户名")).to_be_visible(timeout=60_000)
        pg.get_by_label("用户名").fill("uit_admin")
        pg.get_by_label("密码", exact=True).fill(PASSWORD)
        pg.get_by_role("button", name="登录").click()
        expect(pg.locator(f"{QUEUE} [data-testid=stDataFrame]")).to_have_count(1, timeout=60_000)
        wait_drawn(pg)
        box = pg.locator(".st-key-dispatch-search input")
        for i in range(ROUNDS):
            target = targets[i % len(targets)]
            before = _shown(pg)
            x, y = _row_xy(pg, i % 4)
            pg.mouse.click(x, y)
            # the row's case is in the panel: the pick was taken
            try:
                expect(pg.locator(".dp-head .dp-no")).not_to_have_text(before or "\u0000", timeout=20_000)
            except AssertionError:
                # CI's stop 18 saw one row click change nothing for 30 s in the whole suite (not seen
                # alone, cause not found); a dispatcher clicks again. Counted: this test is about the
                # search after a pick, the pick itself must not be lost twice.
                repicked.append(f"round {i}: a click on row {i % 4} left {before} in the panel")
                pg.screenshot(path=str(SHOTS / f"pick-then-search-repick-{i}.png"))
                wait_drawn(pg)
                x, y = _row_xy(pg, i % 4)
                pg.mouse.click(x, y)
                expect(pg.locator(".dp-head .dp-no")).not_to_have_text(before or "\u0000", timeout=30_000)
            picked = _shown(pg)
            box.fill(target)   # at once, as a person who knows the next number
            box.press("Enter")
            try:
                expect(pg.locator(".dp-head .dp-no")).to_have_text(target, timeout=20_000)
                wait_drawn(pg)
                # the next thing the dispatcher does on that case: choose an action
                pg.locator(f"[class*='st-key-dispatch-act-{_case_id(engine, target)}-do-'] button"
                           ).first.click()
                expect(pg.locator(PANEL_FORM)).to_have_count(1, timeout=20_000)
                wait_drawn(pg)
                expect(pg.locator(".dp-head .dp-no")).to_have_text(target, timeout=1_000)
            except AssertionError:
                lost.append(f"round {i}: picked {picked}, searched {target}, panel shows {_shown(pg)}")
            expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=30_000)
    if repicked:
        print("\n".join(repicked))
    assert len(repicked) <= 1, "\n".join(repicked)
    assert not lost, "\n".join(lost)
    assert external == []
