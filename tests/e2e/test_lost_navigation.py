"""A menu click taken while the page's live check is deciding to redraw it (issue 8, the lost
navigation of ``bench pages``: a click on 结案统计 on 派单 did not navigate within 60 s), in Chromium.

Traced with ``bench pages --trace`` (docs/measurements.md, session 8): the beacon moved after the
dispatcher's own 派遣, the browser sent the watcher's trigger, and while its callback computed
the page's digest (a second or two at load) the menu click's request arrived. The callback then
asked for a rerun of 派单; Streamlit folds a callback's rerun into the request already waiting
and takes the newer one's page, so 派单 was drawn again and the click was gone.

Why the old page won (Streamlit 1.67): the callback's rerun is taken by the script thread at
once; the menu click then stops that thread and starts 结案统计 in a new one, but the old thread
still begins the run it had taken and writes its page into the session's page intent, shared by
both threads (``ScriptRunner._run_script`` → ``PagesManager.set_script_intent``); landing after
the new thread's, it makes ``st.navigation`` resolve 派单. A thread race the test cannot time from
outside; what it pins is the fix: the live check's redraw is asked for by the browser (a trigger
of ``ui.wall_view._kicker``, a whole-page request queued in order with the click), never by a
callback (``test_the_live_redraw_is_asked_for_by_the_browser``: fails on the code before).

The second test drives the timing it can: it changes a case so the idle 派单's digest moves,
holds a lock on ``cases`` so the callback's digest waits, clicks 结案统计 once the trigger and then
the click have left the browser, and only then lets the digest finish. The menu click must win.
(It passed on the code before as well: there the click stops the waiting thread before its
rerun is taken.)"""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import text
from streamlit.proto.BackMsg_pb2 import BackMsg

from bench.browser import serve_app, stop_app
from db.config import test_database_url
from tests.e2e.conftest import offline_page
from tests.e2e.test_clicks_under_live_changes import _sign_in
from tests.ui.district import CODE

WAIT_MS = 60_000


def _rerun(data) -> BackMsg | None:
    try:
        m = BackMsg.FromString(bytes(data))
    except Exception:  # noqa: BLE001 (not a BackMsg)
        return None
    return m if m.WhichOneof("type") == "rerun_script" else None


def _flip(engine) -> tuple[int, bool]:
    with engine.connect() as c:
        return c.execute(text("""
            SELECT c.id, c.supervised FROM cases c JOIN unit_grid g ON g.id = c.grid_id
            WHERE g.code LIKE :p AND c.status IN ('dispatched', 'disposing') ORDER BY c.id LIMIT 1"""),
            {"p": CODE + "%"}).one()


def test_the_live_redraw_is_asked_for_by_the_browser(browser, app_url, engine, e2e_db):
    """A change the idle 派单 shows: the page's redraw is a whole-page request the browser sends
    (the kicker's trigger), not a rerun a callback asks for on the server."""
    cid, supervised = _flip(engine)
    sent: list = []
    external: list[str] = []
    try:
        with offline_page(browser, external) as pg:
            pg.on("websocket", lambda ws: ws.on("framesent", lambda d: sent.append(d)))
            _sign_in(pg, app_url, "uit_admin", "/dispatch")
            pg.wait_for_timeout(1_000)
            sent.clear()
            with engine.begin() as c:
                c.execute(text("UPDATE cases SET supervised = NOT supervised WHERE id = :i"), {"i": cid})
            for _ in range(600):
                if any((m := _rerun(d)) and not m.rerun_script.fragment_id and b"live-kick" in bytes(d)
                       for d in list(sent)):
                    break
                pg.wait_for_timeout(100)
            else:
                raise AssertionError("no whole-page request from the browser after the change")
    finally:
        with engine.begin() as c:
            c.execute(text("UPDATE cases SET supervised = :s WHERE id = :i"), {"s": supervised, "i": cid})
    assert external == []


def test_a_menu_click_while_the_live_check_decides_still_navigates(browser, engine, e2e_db):
    with engine.connect() as c:
        cid, supervised = c.execute(text("""
            SELECT c.id, c.supervised FROM cases c JOIN unit_grid g ON g.id = c.grid_id
            WHERE g.code LIKE :p AND c.status IN ('dispatched', 'disposing') ORDER BY c.id LIMIT 1"""),
            {"p": CODE + "%"}).one()
    # the app's lock time-out raised, so the digest waits for the test's lock instead of failing
    proc, url = serve_app(test_database_url(), env={"GRIDGOV_LOCK_TIMEOUT_MS": "60000"},
                          log_prefix="gridgov-e2e-nav-")
    sent: list = []
    external: list[str] = []
    try:
        with offline_page(browser, external) as pg:
            pg.on("websocket", lambda ws: ws.on("framesent", lambda d: sent.append(d)))
            _sign_in(pg, url, "uit_admin", "/dispatch")
            expect(pg.locator("h1", has_text="派单调度")).to_be_visible(timeout=WAIT_MS)
            pg.wait_for_timeout(1_000)  # the page's own first runs settle
            sent.clear()
            holder = engine.connect()
            try:
                with engine.begin() as c:  # a change the idle page shows (the 督办 queue's size)
                    c.execute(text("UPDATE cases SET supervised = NOT supervised WHERE id = :i"), {"i": cid})
                tx = holder.begin()
                holder.execute(text("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE"))
                # the watcher's trigger leaves the browser; its callback's digest now waits for the lock
                pg.wait_for_function("() => true")  # let playwright deliver websocket events
                for _ in range(300):
                    if any(b"live-watch" in bytes(d) for d in sent if _rerun(d)):
                        break
                    pg.wait_for_timeout(100)
                else:
                    raise AssertionError("the page's live check never asked about the change")
                pg.wait_for_timeout(1_000)
                n = len(sent)
                pg.locator("[data-testid=stSidebarNav] a").filter(has_text="结案统计").first.click()
                for _ in range(200):  # the menu click's request is on its way to the server
                    if any((m := _rerun(d)) and not m.rerun_script.fragment_id for d in sent[n:]):
                        break
                    pg.wait_for_timeout(100)
                pg.wait_for_timeout(1_500)
                tx.rollback()
            finally:
                holder.close()
            expect(pg.locator("h1", has_text="结案统计")).to_be_visible(timeout=WAIT_MS)
            pg.wait_for_timeout(2_000)  # and it stays there
            expect(pg.locator("h1", has_text="结案统计")).to_be_visible(timeout=WAIT_MS)
    finally:
        stop_app(proc)
        with engine.begin() as c:
            c.execute(text("UPDATE cases SET supervised = :s WHERE id = :i"), {"s": supervised, "i": cid})
    assert external == []
