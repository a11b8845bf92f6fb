"""The map wall in a real browser: sign in → the wall shows cases; a case written with plain SQL
appears on the open wall without a reload (target 2 s, bound 5 s in the test); a case crossing its
warn and due times turns amber, then red with its ring, in the browser with no server render; the
video-wall mode has no chrome."""
from __future__ import annotations

import json
import os
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from db.statuses import open_sql
from wall.frame import WallFilter, base_map, filter_bbox, view_for
from wall.frame import AT_RISK, ON_TIME, OVERDUE
from ui.wall_view import DESK_MAP, SCREEN_MAP
from tests.e2e.conftest import SHOTS, WALL_MAP, hover_text, map_point, wait_drawn, wall_frame
from tests.e2e.test_dispatch_flow import MAP, PASSWORD, USER, _dispatch_view, _sign_in
from tests.e2e.test_dispatch_flow import dispatcher  # noqa: F401  (a fixture)
from tests.ui.district import CODE, remove_cases, report_case

OPEN_TILE = ".st-key-kpi-open [data-testid=stMetricValue]"


def _view(engine, size, f: WallFilter = WallFilter()) -> dict:
    with engine.connect() as c:
        base = base_map(c, "zh")
    return view_for(filter_bbox(base, f), *size)


def _open_count(engine, f: WallFilter = WallFilter()) -> int:
    where, params = f.sql(with_status=False)
    with engine.connect() as c:
        return c.execute(text(f"SELECT count(*) FROM cases c WHERE {open_sql('c')} AND {where}"), params).scalar_one()


def _ours(engine) -> WallFilter:
    """The test district's subdistricts as a wall filter."""
    with engine.connect() as c:
        return WallFilter(subdistricts=tuple(c.execute(text(
            "SELECT id FROM subdistrict WHERE code LIKE :p ORDER BY code"), {"p": CODE + "%"}).scalars()))


def _focus_on_our_district(page, engine) -> dict:
    """Pick the test district's subdistricts in the sidebar filter; the map view that follows.

    The whole wall fits every district in the database (the sample district, loaded by the full
    suite, lies 40 km away), which leaves ours a few dozen pixels wide, its points on top of
    each other; filtered, it fills the map again and a hover finds one case.
    """
    f = _ours(engine)
    with engine.connect() as c:
        names = c.execute(text("SELECT name FROM subdistrict WHERE id = ANY(:i) ORDER BY code"),
                          {"i": list(f.subdistricts)}).scalars().all()
    box = page.locator(".st-key-f_sd input")
    for name in names:
        box.click(timeout=60_000)  # the map redrawing after the last pick can hold the page's thread (software WebGL)
        page.keyboard.type(name)
        page.keyboard.press("Enter")
        wait_drawn(page)
    page.keyboard.press("Escape")
    # wait_drawn can see the previous run's idle state before the last pick's run starts; that run
    # can take more than expect's 5 s on a loaded machine (a CI run read the first pick's 28 of 45)
    expect(page.locator(OPEN_TILE)).to_have_text(f"{_open_count(engine, f):,}", timeout=60_000)
    return _view(engine, DESK_MAP, f)


def _empty_grid_centre(engine) -> tuple[float, float]:
    """The centre of a grid of the test district with no case in it (so a hover finds only ours)."""
    with engine.connect() as c:
        return tuple(c.execute(text("""
            SELECT ST_X(ST_Centroid(gv.geom)), ST_Y(ST_Centroid(gv.geom))
            FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id
            WHERE g.code LIKE :p AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.grid_id = g.id)
            ORDER BY g.code DESC LIMIT 1"""), {"p": CODE + "%"}).one())


def _hover_until(page, x, y, want: str, timeout_s: float, frame: str | None = WALL_MAP) -> str:
    deadline = time.monotonic() + timeout_s
    seen = ""
    while time.monotonic() < deadline:
        seen = hover_text(page, x, y, frame)
        if want in seen:
            return seen
    return seen


def _hover_a_known_case(page, engine, view: dict, timeout_s: float) -> tuple[str, str]:
    """Hover the newest registered case of the district until its tooltip shows; (case_no, tooltip).

    This is also how a test knows the map is drawn and interactive: the first draw compiles
    WebGL shaders, which in headless Chromium (software rendering) blocks the page for seconds.
    """
    with engine.connect() as c:
        case_no, lon, lat = c.execute(text(
            "SELECT case_no, ST_X(geom), ST_Y(geom) FROM cases WHERE grid_code LIKE :p "
            "AND status = 'registered' ORDER BY id DESC LIMIT 1"), {"p": CODE + "%"}).one()
    return case_no, _hover_until(page, *map_point(page, view, lon, lat, WALL_MAP), case_no, timeout_s)


def _inside_a_shaded_grid(engine) -> tuple[str, int, float, float]:
    """A place of a test-district grid with open cases, away from every case: (code, open cases, lon, lat)."""
    with engine.connect() as c:
        return tuple(c.execute(text(f"""
            SELECT g.code, n, ST_X(p), ST_Y(p) FROM (
                SELECT c.grid_id, count(*) AS n, ST_Collect(c.geom) AS pts
                FROM cases c WHERE {open_sql('c')} AND c.geom IS NOT NULL AND c.grid_code LIKE :p GROUP BY c.grid_id) o
            JOIN unit_grid g ON g.id = o.grid_id
            JOIN grid_version gv ON gv.grid_id = g.id AND gv.valid_to IS NULL
            CROSS JOIN LATERAL ST_PointOnSurface(ST_Difference(ST_Buffer(gv.geom, -0.0004),
                                                               ST_Buffer(o.pts, 0.0012))) p
            WHERE NOT ST_IsEmpty(p) ORDER BY g.code LIMIT 1"""), {"p": CODE + "%"}).one())


def test_sign_in_and_the_wall_shows_the_open_cases(page, login, engine, e2e_db):
    login(page, "uit_command")
    wall = wall_frame(page)
    expect(page.locator(OPEN_TILE)).to_have_text(f"{_open_count(engine):,}")
    assert sum(wall.evaluate("window.__wall.counts")) == _open_count(engine)
    expect(page.locator(".wall-ticker li").first).to_be_visible()
    view = _focus_on_our_district(page, engine)
    case_no, tip = _hover_a_known_case(page, engine, view, 30)
    assert case_no in tip and "立案" in tip
    # the district is drawn on the map's 2D canvas (district.js), its grids picked there: a shaded
    # grid's tooltip names it and counts its open cases, and the grid is lit while hovered
    code, n, lon, lat = _inside_a_shaded_grid(engine)
    lit = wall.evaluate("window.__wall.baseDraws")
    tip = _hover_until(page, *map_point(page, view, lon, lat, WALL_MAP), code, 10)
    assert code in tip and f"在办 {n}" in tip, tip
    assert wall.evaluate("window.__wall.baseDraws") > lit
    assert wall.evaluate("window.__wall.baseSegments") > 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "wall.png"))


def test_a_case_inserted_with_sql_appears_on_the_open_wall_without_reload(page, login, engine, e2e_db):
    """Issue 12 §3: the point arrives as a delta (the map's own fetch of its delta file, merged into
    what it draws: no rerun, no new payload); the tiles follow with the page's slower rerun."""
    login(page, "uit_command")
    expect(page.locator(OPEN_TILE)).to_have_text(f"{_open_count(engine):,}", timeout=60_000)  # a first run, at load
    view, ours = _focus_on_our_district(page, engine), _ours(engine)
    assert _hover_a_known_case(page, engine, view, 30)[1], "the map never became interactive"
    wall = wall_frame(page)
    page.evaluate("window.__sameDocument = true")
    lon, lat = _empty_grid_centre(engine)
    sets, draws = wall.evaluate("[window.__wall.baseSets, window.__wall.draws]")
    with engine.begin() as c:
        new = report_case(c, lon, lat, f"e2e 实时上报 [{CODE}]")
    committed = time.time()
    wall.wait_for_function(f"window.__wall.drawn[{new['id']}] !== undefined", timeout=30_000)
    drawn_ms, how = wall.evaluate(f"[window.__wall.drawn[{new['id']}], window.__wall.drawnBy[{new['id']}]]")
    assert how == "delta", how
    # drawn on the points' overlay alone: deck.gl was not handed the district again for it
    assert wall.evaluate("[window.__wall.baseSets, window.__wall.draws > " + str(draws) + "]") == [sets, True]
    expect(page.locator(OPEN_TILE)).to_have_text(f"{_open_count(engine, ours):,}", timeout=60_000)
    tip = _hover_until(page, *map_point(page, view, lon, lat, WALL_MAP), new["case_no"], 10)
    assert new["case_no"] in tip and "e2e 实时上报" in tip
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    # The target is 1.5 s at the 95th percentile (bench live, 10 walls). On a shared 2-core runner a
    # timing assertion that tight is noise, so the test holds a functional bound and prints the figure.
    shown_after = drawn_ms / 1000 - committed
    print(f"live_update_s={shown_after:.2f} (load average {os.getloadavg()[0]:.1f})")
    assert shown_after <= 10.0, f"drawn {shown_after:.2f} s after the commit (load average {os.getloadavg()})"


def _pick_one_subdistrict(page, engine) -> tuple[WallFilter, WallFilter]:
    """Filter the desk wall to the test district's first subdistrict; (that filter, the other one's)."""
    ours = _ours(engine)
    first, other = WallFilter(subdistricts=ours.subdistricts[:1]), WallFilter(subdistricts=ours.subdistricts[1:2])
    with engine.connect() as c:
        name = c.execute(text("SELECT name FROM subdistrict WHERE id = :i"), {"i": first.subdistricts[0]}).scalar_one()
    box = page.locator(".st-key-f_sd input")
    box.click(timeout=60_000)
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    expect(page.locator(OPEN_TILE)).to_have_text(f"{_open_count(engine, first):,}", timeout=60_000)
    return first, other


def _empty_grid_in(engine, f: WallFilter) -> tuple[float, float]:
    with engine.connect() as c:
        return tuple(c.execute(text("""
            SELECT ST_X(ST_Centroid(gv.geom)), ST_Y(ST_Centroid(gv.geom))
            FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN community cm ON cm.id = g.community_id
            WHERE gv.valid_to IS NULL AND cm.subdistrict_id = ANY(:sd)
              AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.grid_id = g.id)
            ORDER BY g.code DESC LIMIT 1"""), {"sd": list(f.subdistricts)}).one())


def test_a_subdistrict_wall_never_receives_a_case_of_another_area(page, login, engine, e2e_db):
    """The deltas are cut to each wall's filter on the server: a case reported in the other
    subdistrict reaches neither the map nor the browser at all (every delta file it fetched is
    read here); one in its own subdistrict, reported after it, arrives as a delta; hostile text in
    it stays text."""
    bodies: list[str] = []
    page.on("response", lambda r: bodies.append(r.text())
            if "/app/static/wall/delta-" in r.url and r.status == 200 else None)
    login(page, "uit_command")
    wall_frame(page)
    mine, other = _pick_one_subdistrict(page, engine)
    wall = wall_frame(page)
    wall.wait_for_function("window.__wall.seq > 0", timeout=30_000)
    markup = '<img src=x onerror="window.__xss=1">井盖 @@=x'
    made = []
    try:
        with engine.begin() as c:
            elsewhere = report_case(c, *_empty_grid_in(engine, other), f"别处 [{CODE}]")
        made.append(elsewhere["id"])
        with engine.begin() as c:
            here = report_case(c, *_empty_grid_in(engine, mine), f"{markup} [{CODE}]")
        made.append(here["id"])
        wall.wait_for_function(f"window.__wall.drawn[{here['id']}] !== undefined", timeout=30_000)
        assert wall.evaluate(f"window.__wall.drawnBy[{here['id']}]") == "delta"
        assert wall.evaluate(f"window.__wall.classOf({elsewhere['id']})") is None
        assert wall.evaluate(f"window.__wall.drawn[{elsewhere['id']}]") is None
        assert bodies, "no delta file was fetched"
        for body in bodies:
            named = {i for st in json.loads(body)["steps"] for i in st.get("u", {}).get("i", []) + st.get("r", [])}
            assert elsewhere["id"] not in named and elsewhere["case_no"] not in body, body
        tip = wall.evaluate(f"window.__wall.tooltipOf({here['id']})")
        assert here["case_no"] in tip and markup[:20] in tip, tip      # as typed (the snippet), set as text
        assert wall.evaluate("window.__xss") is None and page.evaluate("window.__xss") is None
        # and the page's own rerun, later, still keeps the other subdistrict out
        expect(page.locator(OPEN_TILE)).to_have_text(f"{_open_count(engine, mine):,}", timeout=60_000)
        assert wall.evaluate(f"window.__wall.classOf({elsewhere['id']})") is None
    finally:
        with engine.begin() as c:
            remove_cases(c, "SELECT unnest(CAST(:ids AS bigint[]))", {"ids": made})


def test_video_wall_mode_has_no_chrome(page, login, engine, e2e_db):
    login(page, "uit_command", path="/wall_screen")
    wait_drawn(page)
    wall_frame(page)
    expect(page.locator("[data-testid=stSidebar]")).to_be_hidden()
    expect(page.locator("[data-testid=stHeader]")).to_be_hidden()
    expect(page.locator("h1").first).to_contain_text("全区")
    assert _view(engine, SCREEN_MAP)["zoom"] > 0
    page.wait_for_timeout(800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "wall_screen.png"))


def test_a_role_without_the_wall_does_not_get_it(page, login):
    login(page, "uit_dept")
    expect(page.locator(WALL_MAP)).to_have_count(0)
    expect(page.locator("[data-testid=stDeckGlJsonChart]")).to_have_count(0)
    expect(page.get_by_role("link", name="指挥大屏")).to_have_count(0)


def test_tooltips_show_user_text_as_text_never_as_html(page, login, engine, e2e_db):
    lon, lat = _empty_grid_centre(engine)
    markup = '<img src=x onerror="window.__xss=1">井盖'
    with engine.begin() as c:
        new = report_case(c, lon, lat, f"{markup} [{CODE}]")
    login(page, "uit_command")
    view = _focus_on_our_district(page, engine)
    assert _hover_a_known_case(page, engine, view, 30)[1], "the map never became interactive"
    tip = _hover_until(page, *map_point(page, view, lon, lat, WALL_MAP), new["case_no"], 5)
    assert markup[:20] in tip                                   # shown as the characters typed
    assert page.frame_locator(WALL_MAP).locator(".deck-tooltip img").count() == 0
    assert page.evaluate("window.__xss") is None
    assert wall_frame(page).evaluate("window.__xss") is None


@pytest.fixture
def at_at_cases(engine, dispatcher):
    """Two reports whose descriptions deck.gl's JSON converter would run as code (``@@=``) or look
    up as a constant (``@@#``, which throws): each alone in an empty grid of the dispatcher's area."""
    made = []
    with engine.begin() as c:
        for typed in ("@@=console.log(1)", "@@#Math.PI"):
            lon, lat = c.execute(text("""
                SELECT ST_X(ST_Centroid(gv.geom)), ST_Y(ST_Centroid(gv.geom))
                FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN community cm ON cm.id = g.community_id
                WHERE gv.valid_to IS NULL AND cm.subdistrict_id = :sd
                  AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.grid_id = g.id)
                ORDER BY g.code LIMIT 1"""), {"sd": dispatcher["subdistrict_id"]}).one()
            made.append({**report_case(c, lon, lat, f"{typed} [{CODE}]"), "lon": lon, "lat": lat, "typed": typed})
    yield made
    with engine.begin() as c:
        remove_cases(c, "SELECT unnest(CAST(:ids AS bigint[]))", {"ids": [m["id"] for m in made]})


def test_descriptions_starting_with_at_at_leave_the_wall_drawing(page, login, engine, at_at_cases):
    login(page, "uit_command")
    view = _focus_on_our_district(page, engine)
    assert _hover_a_known_case(page, engine, view, 30)[1], "the wall stopped drawing"
    for m in at_at_cases:  # and they read as typed
        tip = _hover_until(page, *map_point(page, view, m["lon"], m["lat"], WALL_MAP), m["case_no"], 10)
        assert m["case_no"] in tip and m["typed"] in tip, tip   # as typed: no converter, no zero-width space
    assert page.locator("[data-testid=stException]").count() == 0
    assert wall_frame(page).evaluate("document.body.dataset.error") is None


def test_descriptions_starting_with_at_at_leave_the_dispatch_map_drawing(page, app_url, engine, dispatcher,
                                                                         at_at_cases):
    _sign_in(page, app_url, USER, PASSWORD)
    page.locator('[data-testid=stSidebarNav] a[href$="/dispatch"]').click()
    expect(page.get_by_role("heading", name="派单调度")).to_be_visible(timeout=30_000)
    expect(page.frame_locator(MAP).locator("canvas#points")).to_be_attached(timeout=30_000)
    view = _dispatch_view(engine, dispatcher["subdistrict_id"])
    for m in at_at_cases:
        tip = _hover_until(page, *map_point(page, view, m["lon"], m["lat"], MAP), m["case_no"], 40, frame=MAP)
        assert m["case_no"] in tip and m["typed"] in tip, tip   # as typed: no converter, no zero-width space


@pytest.fixture
def crossing_case(engine, e2e_db):
    """Made by the test (``make(warn_in, due_in)``): a dispatched case whose warn and due times lie
    seconds ahead, alone in an empty grid of the test district; removed afterwards."""
    made = []

    def make(warn_in: float, due_in: float) -> dict:
        lon, lat = _empty_grid_centre(engine)
        with engine.begin() as c:
            row = c.execute(text("""
                INSERT INTO cases(channel, category_code, description, received_x, received_y, received_crs, geom,
                                  status, level, department_id, dispatched_at, due_at, warn_at)
                VALUES ('hotline', '0102', :d, :x, :y, 'EPSG:4326', ST_SetSRID(ST_MakePoint(:x, :y), 4326),
                        'dispatched', 'community', (SELECT id FROM department ORDER BY id LIMIT 1), now(),
                        now() + make_interval(secs => :due), now() + make_interval(secs => :warn))
                RETURNING id, case_no, extract(epoch FROM warn_at) AS warn_at, extract(epoch FROM due_at) AS due_at"""),
                {"d": f"e2e 临期变色 [{CODE}]", "x": lon, "y": lat, "due": due_in, "warn": warn_in}).one()
        made.append(row.id)
        return {"id": row.id, "case_no": row.case_no, "warn_at": float(row.warn_at), "due_at": float(row.due_at),
                "lon": lon, "lat": lat}

    yield make
    with engine.begin() as c:
        remove_cases(c, "SELECT unnest(CAST(:ids AS bigint[]))", {"ids": made})


def test_a_case_crossing_its_warn_and_due_times_changes_colour_with_no_server_render(page, login, engine,
                                                                                     crossing_case):
    """Issue 12 §1: the browser colours from the clock. The case arrives once (a change: one render);
    then it turns amber at its warn time and red, with the overdue ring, at its due time, while
    the server sends nothing but its small live checks (no new payload, no frame over 5 kB)."""
    frames: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda d: frames.append(len(d))))
    login(page, "uit_command")
    wall = wall_frame(page)
    builds = wall.evaluate("window.__wall.builds + window.__wall.adopts")
    case = crossing_case(warn_in=75, due_in=87)
    wall.wait_for_function(f"window.__wall.drawn[{case['id']}] !== undefined", timeout=35_000)
    # it came as a delta; the page's own rerun (tiles, ticker) follows SETTLE_S later with a whole
    # payload (drawn, or kept as the map already has it): wait for that, so that what follows is time
    # passing alone
    wall.wait_for_function(f"window.__wall.builds + window.__wall.adopts > {builds}", timeout=60_000)
    assert wall.evaluate(f"window.__wall.classOf({case['id']})") == ON_TIME, "drawn after its warn time (load?)"
    assert wall.evaluate(f"window.__wall.ringOf({case['id']})") is False
    builds, stamp, rings = wall.evaluate("[window.__wall.builds, window.__wall.stamp, window.__wall.overdueRings]")
    seen_frames = len(frames)
    wall.wait_for_function(f"window.__wall.classOf({case['id']}) === {AT_RISK}", timeout=80_000)
    turned_amber = time.time()
    wall.wait_for_function(f"window.__wall.classOf({case['id']}) === {OVERDUE}", timeout=40_000)
    turned_red = time.time()
    # ours has its ring; the count grew by at least it (another case of the database can cross its
    # due time in the same two minutes: a CI run counted 31 after 29)
    assert wall.evaluate(f"window.__wall.ringOf({case['id']})") is True
    assert wall.evaluate("window.__wall.overdueRings") >= rings + 1
    assert wall.evaluate("[window.__wall.builds, window.__wall.stamp]") == [builds, stamp], "a new payload arrived"
    assert max(frames[seen_frames:], default=0) < 5_000, frames[seen_frames:]
    # The browser wakes at the crossing (target: never more than a minute late; about 0.1 s on a
    # quiet machine). A bound that tight is noise on a loaded runner: 5 s, and the figure printed.
    late = (turned_amber - case["warn_at"], turned_red - case["due_at"])
    print(f"recolour_late_s={late[0]:.2f},{late[1]:.2f} (load average {os.getloadavg()[0]:.1f})")
    assert all(-1.0 < x < 5.0 for x in late), late
    tip = wall.evaluate(f"window.__wall.tooltipOf({case['id']})")  # what a hover over it shows
    assert case["case_no"] in tip and "已超期" in tip, tip


@pytest.mark.parametrize("path", ["/", "/wall_screen"])
def test_the_kpi_figures_are_whole_on_a_1366_screen(page, login, e2e_db, path):
    """Session 14's review: at 1366×768 the tiles read "1…", "9…" for 161 and 93.3 %."""
    page.set_viewport_size({"width": 1366, "height": 768})
    login(page, "uit_command", path=path)
    wait_drawn(page)
    expect(page.locator(OPEN_TILE)).to_be_visible()
    cut = page.evaluate("""() => [...document.querySelectorAll('[data-testid=stMetricValue], [data-testid=stMetricLabel]')]
        .flatMap(el => [el, ...el.querySelectorAll('*')])
        .filter(el => el.scrollWidth > el.clientWidth + 1 || getComputedStyle(el).textOverflow === 'ellipsis'
                      && el.scrollWidth > el.clientWidth)
        .map(el => el.textContent + ' ' + el.scrollWidth + '/' + el.clientWidth)""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"wall-1366{path.replace('/', '-')}.png"))
    assert cut == [], cut


def test_a_language_switch_keeps_the_walls_filters(page, login, engine, e2e_db):
    """Streamlit keeps a multiselect's choices as their labels; the subdistricts are named in the
    session's language, so a switch to English dropped the filter (review of session 15)."""
    login(page, "uit_command")
    wall_frame(page)
    f = _ours(engine)
    _focus_on_our_district(page, engine)
    n = _open_count(engine, f)
    page.locator(".st-key-lang_choice [role=combobox]").click()
    page.get_by_role("option", name="English").click()
    wait_drawn(page)
    expect(page.get_by_role("heading", name="Command map wall")).to_be_visible(timeout=60_000)
    expect(page.locator(OPEN_TILE)).to_have_text(f"{n:,}", timeout=60_000)
    assert n < _open_count(engine)  # the filter narrows: the tile shows it still applied
    expect(page.locator(".st-key-f_sd [data-tag]")).to_have_count(len(f.subdistricts))  # and the chips, in English
    expect(page.locator(".st-key-f_sd [data-tag]").first).to_contain_text("Subdistrict")
