"""The desk pages' live check (``ui.wall_view.desk_watch``), in Chromium: no script run while
nothing changes, and a change made elsewhere still redraws the page.

Why an idle page must not run (issue 8, the lost first click): the check used to be a fragment
rerun by the browser every second. The run of a click or a search was then often followed by
the watcher's run before the server had sent the first run's messages, and Streamlit marks such
a run "finished early for a rerun" (``ForwardMsgQueue.clear``); the browser then skips its
clean-up and keeps what that run no longer drew (the previous case's action buttons, a form just
closed) on screen, clickable. A click on such a left-over button is a trigger for a widget the
server no longer has, and nothing happens (websocket and server traces in docs/measurements.md,
session 7). Counting script runs on the websocket is the deterministic part of that race: it
failed with 5 runs in 6 s before the change."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import text
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from db.statuses import TERMINAL_STATUSES
from dispatch.queries import TO_ACCEPT
from i18n import t
from i18n import dispatch_ui  # noqa: F401  (registers the queue labels)
from tests.e2e.conftest import offline_page, wait_drawn, wall_frame
from tests.e2e.test_clicks_under_live_changes import _sign_in
from tests.ui.district import CODE, PASSWORD

IDLE_S = 22.0  # the old watcher ran once a second (5-6 runs in 6 s); the presence heartbeat every 20 s
WAIT_MS = 30_000


def _runs(frames: list[bytes]) -> int:
    """Script runs started (``new_session`` messages) among the frames received."""
    n = 0
    for d in frames:
        if isinstance(d, (bytes, bytearray)):
            try:
                n += ForwardMsg.FromString(bytes(d)).WhichOneof("type") == "new_session"
            except Exception:  # noqa: BLE001 (not a ForwardMsg: not a run)
                pass
    return n


def _open_a_case(pg, engine) -> None:
    with engine.connect() as c:
        no = c.execute(text("""
            SELECT c.case_no FROM cases c JOIN unit_grid g ON g.id = c.grid_id
            WHERE g.code LIKE :p AND c.status = 'reported' ORDER BY c.id LIMIT 1"""), {"p": CODE + "%"}).scalar_one()
    box = pg.locator(".st-key-dispatch-search input")
    box.fill(no)
    box.press("Enter")
    expect(pg.locator(".dp-head .dp-no")).to_have_text(no, timeout=WAIT_MS)


@pytest.mark.parametrize(("user", "path"), [("uit_admin", "/dispatch"), ("uit_dept", "/department_queue")])
def test_an_idle_desk_page_starts_no_script_run(browser, app_url, engine, e2e_db, user, path):
    """With a case open on 派单 (the moment the first click was lost), for longer than the panel's
    presence heartbeat: it was a fragment run every 20 s (one run in the stretch, session 8's
    first run of this test); now the server renews the presence itself (``ui.presence``)."""
    frames: list[bytes] = []
    external: list[str] = []
    with offline_page(browser, external) as pg:
        pg.on("websocket", lambda ws: ws.on("framereceived", lambda d: frames.append(d)))
        _sign_in(pg, app_url, user, path)
        if path == "/dispatch":
            _open_a_case(pg, engine)
        # the page's own first runs (the map's selection, the table's tick) settle first
        expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=WAIT_MS)
        pg.wait_for_timeout(1_500)
        wait_drawn(pg, WAIT_MS)
        frames.clear()
        # the measured stretch itself (playwright's own wait: its events are delivered meanwhile)
        pg.wait_for_timeout(IDLE_S * 1000)
        runs = _runs(list(frames))
    assert runs == 0, f"{runs} script runs in {IDLE_S:.0f} s on an idle {path}"
    assert external == []


def _supervised_badge(pg) -> str:
    label = t("dp.queue.supervised", "zh")
    return pg.locator(".st-key-dispatch-queue button", has_text=label).first.inner_text().strip()


def test_a_change_made_elsewhere_redraws_the_dispatch_page(browser, app_url, engine, e2e_db):
    """Another desk puts a case under supervision: the 督办 queue's count on an idle 派单 follows,
    through the beacon the browser polls and a rerun it asks for."""
    with engine.connect() as c:
        cid, supervised = c.execute(text("""
            SELECT c.id, c.supervised FROM cases c JOIN unit_grid g ON g.id = c.grid_id
            WHERE g.code LIKE :p AND c.status IN ('dispatched', 'disposing') ORDER BY c.id LIMIT 1"""),
            {"p": CODE + "%"}).one()
    external: list[str] = []
    with offline_page(browser, external) as pg:
        _sign_in(pg, app_url, "uit_admin", "/dispatch")
        before = _supervised_badge(pg)
        try:
            with engine.begin() as c:
                c.execute(text("UPDATE cases SET supervised = NOT supervised WHERE id = :i"), {"i": cid})
            expect(pg.locator(".st-key-dispatch-queue button", has_text=t("dp.queue.supervised", "zh")).first
                   ).not_to_have_text(before, timeout=WAIT_MS)
        finally:
            with engine.begin() as c:
                c.execute(text("UPDATE cases SET supervised = :s WHERE id = :i"), {"s": supervised, "i": cid})
    assert external == []


def _run_fragments(frames: list[bytes], what: list[list[str]] | None = None) -> list[set[str]]:
    """For each script run started among the frames, the fragment ids its deltas carried ('' for an
    element of the whole page); ``what`` gets each run's element kinds (for a failure's message)."""
    runs: list[set[str]] = []
    what = [] if what is None else what
    for d in frames:
        if not isinstance(d, (bytes, bytearray)):
            continue
        try:
            m = ForwardMsg.FromString(bytes(d))
        except Exception:  # noqa: BLE001 (not a ForwardMsg)
            continue
        kind = m.WhichOneof("type")
        if kind == "new_session":
            runs.append(set())
            what.append([])
        elif kind == "delta" and runs:
            runs[-1].add(m.delta.fragment_id)
            el = m.delta.new_element if m.delta.WhichOneof("type") == "new_element" else None
            what[-1].append(el.WhichOneof("type") if el is not None else m.delta.WhichOneof("type"))
    return runs


def _tiles_fragment(frames: list[bytes]) -> str:
    """The fragment id of the KPI tiles (the deltas that draw a metric)."""
    for d in frames:
        if not isinstance(d, (bytes, bytearray)):
            continue
        try:
            m = ForwardMsg.FromString(bytes(d))
        except Exception:  # noqa: BLE001
            continue
        if (m.WhichOneof("type") == "delta" and m.delta.fragment_id
                and m.delta.WhichOneof("type") == "new_element" and m.delta.new_element.WhichOneof("type") == "metric"):
            return m.delta.fragment_id
    raise AssertionError("no KPI tile drawn on the wall")


def test_a_cycling_video_wall_starts_no_script_run_between_its_slots(browser, app_url, engine, e2e_db):
    """大屏模式 cycling through subdistricts (every 600 s here) watched with a fragment run every
    second (``ui.wall_view.watch``): now the browser asks for the next slot's run when it is due
    (``ui.wall_view.watcher``), the clock ticks in the browser (it was a fragment run every 20 s:
    CI's stop 18 caught it in the window, with the tiles' minute), and nothing runs in between
    but the KPI tiles' once-a-minute refresh (``wall_view.kpi_tiles``, at most one in a window).
    A window in which the map itself asked for a rerun (a change notice reached the beacon: the
    map merges it and asks for the tiles later) is measured again: that run is a change's."""
    frames: list[bytes] = []
    external: list[str] = []
    with offline_page(browser, external) as pg:
        pg.on("websocket", lambda ws: ws.on("framereceived", lambda d: frames.append(d)))
        pg.goto(f"{app_url}/wall_screen?cycle=600&lang=zh")
        expect(pg.get_by_label("用户名")).to_be_visible(timeout=60_000)
        pg.get_by_label("用户名").fill("uit_admin")
        pg.get_by_label("密码", exact=True).fill(PASSWORD)
        pg.get_by_role("button", name="登录").click()
        expect(pg.locator("h1")).to_be_visible(timeout=WAIT_MS)
        pg.wait_for_timeout(1_500)
        wait_drawn(pg, WAIT_MS)
        tiles = _tiles_fragment(list(frames))
        expect(pg.locator(".gg-clock")).to_have_text(re.compile(r"^\d\d:\d\d$"), timeout=WAIT_MS)
        hook = wall_frame(pg)
        for _ in range(3):
            asked = hook.evaluate("window.__wall.reruns")
            frames.clear()
            pg.wait_for_timeout(6_000)
            what: list[list[str]] = []
            runs = _run_fragments(list(frames), what)
            if hook.evaluate("window.__wall.reruns") == asked:
                break
        other = [(r, w) for r, w in zip(runs, what) if r != {tiles}]
        why = hook.evaluate("JSON.stringify([window.__wall.why, window.__wall.trace.slice(-8)])")
    assert other == [], f"{len(other)} script runs in 6 s on an idle cycling wall (fragments, elements: {other}; map: {why})"
    assert len(runs) - len(other) <= 1, f"the KPI tiles ran {len(runs)} times in 6 s"
    assert external == []


def _tick_first_row(pg, table_key: str) -> str:
    """Tick the first row of a desk queue (a fragment run: the panel, not the page); returns the
    case number the panel then shows."""
    table = pg.locator(f".st-key-{table_key} [data-testid=stDataFrame]")
    expect(table).to_have_count(1, timeout=WAIT_MS)
    box = table.first.bounding_box()
    pg.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    head = pg.locator(".dp-head .dp-no")
    expect(head).to_have_count(1, timeout=WAIT_MS)
    expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=WAIT_MS)
    pg.wait_for_timeout(1_500)
    wait_drawn(pg, WAIT_MS)
    return head.inner_text().strip()


def _clear_of_the_clock(engine, window_s: float = 60.0) -> None:
    """Wait until no open case turns at risk, overdue or late to accept (migration 0035) within
    ``window_s``: a queue's time state
    is what the page shows, so a notice after one turned legitimately reruns 派单 (its queues'
    states and badges). The test district's at-risk case with the nearest deadline turns overdue
    28 minutes after the package's district is made, which a full run sometimes reached inside
    the measured window (stops at 16:55–17:10 Beijing, session 15)."""
    with engine.connect() as c:
        wait = c.execute(text("""
            SELECT extract(epoch FROM max(t) - now())
            FROM cases c, unnest(ARRAY[c.warn_at, c.due_at,
                                       CASE WHEN c.status = ANY(:to_accept) THEN c.accept_due_at END]) t
            WHERE c.status <> ALL(:ended) AND t > now() AND t < now() + make_interval(secs => :w)"""),
            {"w": window_s, "ended": list(TERMINAL_STATUSES), "to_accept": list(TO_ACCEPT)}).scalar()
    if wait is not None:
        time.sleep(float(wait) + 1.0)


@pytest.mark.parametrize(("user", "path", "table"), [("uit_admin", "/dispatch", "dispatch-q-awaiting_sorting"),
                                                      ("uit_dept", "/department_queue", "dq-table")])
def test_a_notice_after_a_pick_reruns_only_the_watcher(browser, app_url, engine, e2e_db, user, path, table):
    """A case ticked in the queue reruns the panel (and on 派单 the map) alone. The page's digest,
    taken at its last full run, held the case shown then: the next change notice of any kind
    (here one that changes nothing: a bare NOTIFY) found the page "out of date" and reran it whole,
    a second of a busy desk's page redrawn for nothing (issue 8: 立案 at 1M cases, where another
    desk's page reran on every notice). Now only the watcher's own little run follows."""
    frames: list[bytes] = []
    external: list[str] = []
    _clear_of_the_clock(engine)
    with offline_page(browser, external) as pg:
        pg.on("websocket", lambda ws: ws.on("framereceived", lambda d: frames.append(d)))
        _sign_in(pg, app_url, user, path)
        expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=WAIT_MS)
        pg.wait_for_timeout(1_500)
        _tick_first_row(pg, table)
        frames.clear()
        with engine.begin() as c:
            c.execute(text("SELECT pg_notify('case_changed', 'test')"))
        watcher = pg.locator(".st-key-live-watch-c").first
        mark = watcher.get_attribute("data-live-drawn") if watcher.count() else None
        pg.wait_for_timeout(6_000)  # the beacon is polled every second; its run, had it come, within that
        what: list[list[str]] = []
        runs = _run_fragments(list(frames), what)
    whole = [w for r, w in zip(runs, what) if "" in r]
    assert runs, f"the notice reached no run on {path} (watcher drawn {mark}): the check itself did not happen"
    assert whole == [], f"{len(whole)} whole-page runs on {path} after a notice that changes nothing: {whole}"
    assert external == []


@pytest.mark.parametrize(("user", "path", "table"), [("uit_admin", "/dispatch", "dispatch-q-awaiting_sorting"),
                                                      ("uit_dept", "/department_queue", "dq-table")])
def test_a_change_to_the_case_in_the_panel_redraws_it_after_a_pick(browser, app_url, engine, e2e_db, user, path,
                                                                     table):
    """The other half: the panel watches its own case. A case ticked (the panel redrawn alone) and
    then changed elsewhere in a way only the panel shows (its description): the page follows,
    through the beacon and a rerun the browser asks for."""
    external: list[str] = []
    with offline_page(browser, external) as pg:
        _sign_in(pg, app_url, user, path)
        expect(pg.locator("[data-test-script-state=notRunning]")).to_have_count(1, timeout=WAIT_MS)
        pg.wait_for_timeout(1_500)
        no = _tick_first_row(pg, table)
        with engine.connect() as c:
            cid, desc = c.execute(text("SELECT id, description FROM cases WHERE case_no = :n"), {"n": no}).one()
        note = "井盖缺失（面板测试）"
        try:
            with engine.begin() as c:
                c.execute(text("UPDATE cases SET description = :d, version = version + 1 WHERE id = :i"),
                          {"d": note, "i": cid})
            expect(pg.get_by_text(note).first).to_be_visible(timeout=WAIT_MS)
        finally:
            with engine.begin() as c:
                c.execute(text("UPDATE cases SET description = :d, version = version + 1 WHERE id = :i"),
                          {"d": desc, "i": cid})
    assert external == []
