"""``bench wall``: what a wall render costs at 1,000,000 cases with 10,000 open.

The database ``gridgov_bench_wall`` (same server as the app's) gets the sample district with its
4,011-case history (events included), then plain historical cases up to ``--cases`` and open ones
up to ``--open``, written set-wise with triggers off (each row is given its grid directly; a
bulk write of a million reports is not what the trigger is for). Its own database, because the
open-case count must be exact.

Measured:

- ``query_ms``: the database time of the statements one wall refresh makes (boundary stamp,
  open cases, KPI figures and rates, ticker), summed at the cursor: execute + fetch, nothing else.
- ``rerun_ms``: the server's whole refresh of the wall page after a change, as the page does it
  on a cache miss: those statements, the map payload for the browser (``wall.live_map``: the open
  cases with their deadlines, compact JSON, gzip) and the ForwardMsg Streamlit builds and hashes
  for the component. ``rerun_ratio`` = rerun_ms / query_ms. Medians of ``--repeat``.
- ``map_msg_mb``: that ForwardMsg's size; ``deck_msg_mb``: the server-coloured pydeck deck the
  dispatch page still draws (``wall.frame``), for comparison.
- In Debian's Chromium against ``streamlit run app.py`` on this database (skipped with
  ``--no-browser``), bytes counted on the websocket itself: ``payload_mb`` for one full wall
  render (a new case is reported on an open wall, everything the server sends until it is
  quiet), ``first_render_mb`` (sign-in to a drawn wall), ``outlines_http_mb`` (the outline file,
  fetched once per browser over HTTP), ``idle_screen_kb_per_min`` (the video-wall mode) and
  ``idle_kb_per_min`` (both directions, the desk wall while nothing changes, over
  ``--idle-seconds``: the websocket and the map's live check, its HTTP polls of the beacon file,
  headers included; then the wall's clock is moved on 30 minutes in one-minute steps inside
  the browser (``window.__wall.shift``), which recolours every case that crosses a line in that
  time — ``recoloured_30min`` of them — and every byte the server sends meanwhile is counted too;
  the one render a quiet wall still gets, at midnight, is added as if it fell in those 30
  minutes: the worst half hour of the day).
- In the browser, what keeps a large wall responsive: ``build_ms`` (turning a payload into typed
  arrays and layers) and ``recolour_ms`` (one pass over every case), from the component's hook.

Targets (README, benchmarks): payload_mb ≤ 1, idle_kb_per_min ≤ 100. Last line: ``rerun_ratio``.
"""
from __future__ import annotations

import secrets
import statistics
import time
from datetime import datetime

from sqlalchemy import event, text

from bench import common
from bench.browser import CHROMIUM, CHROMIUM_ARGS, serve_app, stop_app
from db.config import STORAGE_SRID
from db.statuses import open_sql
from dispatch.states import WITH_DEPARTMENT
from gis.crs import STORAGE_CRS

BENCH_DB = "gridgov_bench_wall"
BENCH_USER = "bench_wall"
# The open states the generated cases take, weighted (three in disposal for each of the others).
OPEN_STATES = "ARRAY['reported','registered','dispatched','disposing','disposing','disposing'," \
              "'awaiting_verification','rework','postponed','returned']"
_WITH_DEPARTMENT_SQL = "(" + ", ".join(f"'{s}'" for s in WITH_DEPARTMENT) + ")"
_COUNTS = f"SELECT count(*), count(*) FILTER (WHERE {open_sql('c')}) FROM cases c"


def configure(p) -> None:
    p.add_argument("--cases", type=int, default=1_000_000, help="cases in all (default 1,000,000)")
    p.add_argument("--open", type=int, default=10_000, help="of which open (default 10,000)")
    p.add_argument("--repeat", type=int, default=5, help="server-side refreshes to time; the median counts")
    p.add_argument("--idle-seconds", type=float, default=60, help="how long to watch an idle wall (default 60)")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium measurements")
    p.add_argument("--seed", type=float, default=0.4711, help="setseed() value for the generated cases")


def bench_url() -> str:
    return common.bench_url(BENCH_DB)


def bench_engine():
    """``gridgov_bench_wall``: created, migrated and given the sample district and its history."""
    from sample_data.load import DEFAULT_CASES

    return common.bench_engine(BENCH_DB, cases=DEFAULT_CASES)


# --- filling -------------------------------------------------------------------------------------

_GRIDS = """
CREATE TEMP TABLE bench_grid ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY g.code) AS rn, gv.id AS gvid, g.id AS gid, g.code, g.community_id,
       c.subdistrict_id, gv.geom, ST_PointOnSurface(gv.geom) AS pos
FROM grid_version gv JOIN unit_grid g ON g.id = gv.grid_id JOIN community c ON c.id = g.community_id
WHERE gv.valid_to IS NULL;
CREATE TEMP TABLE bench_cat ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY code) AS rn, code, default_department_id AS dep, default_level AS lvl
FROM case_category;
"""

_COLUMNS = """
INSERT INTO cases(case_no, channel, category_code, description, received_x, received_y, received_crs, geom,
                  reported_grid_version_id, reported_grid_code, grid_id, grid_code, community_id, subdistrict_id,
                  outside_jurisdiction, status, level, department_id, reported_at, registered_at, dispatched_at,
                  due_at, warn_at, closed_at)
"""
# Closed history over two years: dispatched 30 min after the report, due a day later, closed
# within three days (so some late).
_HISTORY = _COLUMNS + """
SELECT 'H' || lpad((t.i + :off)::text, 9, '0'), 'hotline', k.code, '历史案件', ST_X(g.pos), ST_Y(g.pos), :crs, g.pos,
       g.gvid, g.code, g.gid, g.code, g.community_id, g.subdistrict_id, false, 'closed', k.lvl, k.dep,
       t.rep, t.rep + interval '10 minutes', t.rep + interval '30 minutes', t.rep + interval '24 hours 30 minutes',
       t.rep + interval '19 hours 42 minutes', t.rep + interval '40 minutes' + t.took
FROM (SELECT i, 1 + floor(random() * :ngrid)::int AS g, 1 + floor(random() * :ncat)::int AS k,
             now() - interval '3 days' - random() * interval '730 days' AS rep, random() * interval '70 hours' AS took
      FROM generate_series(1, :n) AS i) t
JOIN bench_grid g ON g.rn = t.g JOIN bench_cat k ON k.rn = t.k
"""
# Open cases in a state mix, anywhere inside their grid; a deadline runs for those with a department.
_OPEN = _COLUMNS + f"""
SELECT 'O' || lpad((u.i + :off)::text, 9, '0'), 'hotline', u.code, '在办案件', ST_X(u.p), ST_Y(u.p), :crs, u.p,
       u.gvid, u.gcode, u.gid, u.gcode, u.community_id, u.subdistrict_id, false, u.status, u.lvl,
       CASE WHEN u.dis IS NOT NULL THEN u.dep END, u.rep, u.rep + interval '10 minutes', u.dis,
       u.dis + u.span, u.dis + u.span * 0.8, NULL
FROM (
    SELECT t.*, k.code, k.lvl, k.dep, g.gvid, g.code AS gcode, g.gid, g.community_id, g.subdistrict_id,
           ST_GeometryN(ST_GeneratePoints(g.geom, 1, t.i), 1) AS p,
           CASE WHEN t.status IN {_WITH_DEPARTMENT_SQL} THEN t.rep + random() * (now() - t.rep) END AS dis
    FROM (SELECT i, 1 + floor(random() * :ngrid)::int AS g, 1 + floor(random() * :ncat)::int AS k,
                 ({OPEN_STATES})[1 + floor(random() * 10)::int] AS status,
                 now() - interval '2 hours' - random() * interval '60 hours' AS rep,
                 interval '8 hours' + random() * interval '64 hours' AS span
          FROM generate_series(1, :n) AS i) t
    JOIN bench_grid g ON g.rn = t.g JOIN bench_cat k ON k.rn = t.k
) u
"""


def _fill(eng, cases: int, open_: int, seed: float) -> dict:
    with eng.connect() as c:
        total, now_open = c.execute(text(_COUNTS)).one()
    add_open = max(0, open_ - now_open)
    add_closed = max(0, cases - total - add_open)
    if add_open == 0 and add_closed == 0:
        return {"cases": total, "open": now_open, "fill_s": 0.0}
    t = time.perf_counter()
    with eng.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))  # no triggers for the bulk write
        c.execute(text("SELECT setseed(:s)"), {"s": seed})
        for stmt in _GRIDS.split(";"):
            if stmt.strip():
                c.execute(text(stmt))
        ngrid = c.execute(text("SELECT count(*) FROM bench_grid")).scalar_one()
        ncat = c.execute(text("SELECT count(*) FROM bench_cat")).scalar_one()
        base = {"ngrid": ngrid, "ncat": ncat, "crs": STORAGE_CRS}
        off = "SELECT COALESCE(max(substr(case_no, 2)::bigint), 0) FROM cases WHERE case_no LIKE :p"
        if add_closed:
            c.execute(text(_HISTORY), {**base, "n": add_closed, "off": c.execute(text(off), {"p": "H%"}).scalar_one()})
        if add_open:
            c.execute(text(_OPEN), {**base, "n": add_open, "off": c.execute(text(off), {"p": "O%"}).scalar_one()})
    with eng.connect() as c:
        c.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE cases"))
        total, now_open = c.execute(text(_COUNTS)).one()
    return {"cases": total, "open": now_open, "fill_s": round(time.perf_counter() - t, 1)}


# --- server side --------------------------------------------------------------------------------

class _DbClock:
    """Sums the time spent in cursor execute (the driver fetches every row there)."""

    def __init__(self, eng):
        self.total = 0.0
        self._t = 0.0
        event.listen(eng, "before_cursor_execute", self._before)
        event.listen(eng, "after_cursor_execute", self._after)

    def _before(self, *a):
        self._t = time.perf_counter()

    def _after(self, *a):
        self.total += time.perf_counter() - self._t


def _server_side(eng, repeat: int) -> dict:
    """The wall page's refresh (``map_*``, ``query_ms``) and, for comparison and for ``bench growth``,
    the pydeck frame the dispatch page draws (``deck_msg_mb``, ``rerun_ms`` of that path)."""
    from dispatch.calendar import TZ
    from ui.wall_view import DESK_MAP, chart_message, map_message
    from wall.frame import WallFilter, base_map, boundary_stamp, kpis, wall_frame
    from wall.live_map import live_map

    with eng.connect() as c:
        base = base_map(c, "zh")  # cached across refreshes by the page (it changes with boundaries only)
    clock = _DbClock(eng)
    url = "app/static/wall/" + base.outlines_name
    query, rerun, deck_rerun, size, map_size = [], [], [], 0, 0
    for _ in range(max(1, repeat)):
        clock.total = 0.0
        t = time.perf_counter()
        with eng.connect() as c:
            boundary_stamp(c)
            now = datetime.now(TZ)
            lm = live_map(c, WallFilter(), "zh", now, base=base, size=DESK_MAP, outlines_url=url)
            kpis(c, WallFilter(), now)
        map_size = len(map_message(lm))
        rerun.append(time.perf_counter() - t)
        query.append(clock.total)
        t = time.perf_counter()
        with eng.connect() as c:
            frame = wall_frame(c, WallFilter(), "zh", datetime.now(TZ), base=base, size=DESK_MAP, outlines_url=url)
        size = len(chart_message(frame))
        deck_rerun.append(time.perf_counter() - t)
    return {"query_ms": statistics.median(query) * 1000, "map_rerun_ms": statistics.median(rerun) * 1000,
            "rerun_ms": statistics.median(deck_rerun) * 1000, "map_msg_mb": map_size / 1e6,
            "deck_msg_mb": size / 1e6, "open_drawn": lm.open_drawn, "outlines_mb": len(base.outlines) / 1e6}


# --- in the browser ---------------------------------------------------------------------------

def _bench_account(eng) -> str:
    from accounts.auth import create_user, set_password

    password = secrets.token_urlsafe(12)
    with eng.begin() as c:
        if c.execute(text("SELECT 1 FROM person WHERE username = :u"), {"u": BENCH_USER}).first():
            set_password(c, BENCH_USER, password)
        else:
            create_user(c, username=BENCH_USER, full_name="大屏基准", role="command_staff", password=password)
    return password


WALL_MAP = 'iframe[title="ui.wall_map.wall_map"]'  # the wall's map component (ui/wall_map)
SIM_MINUTES = 30


def wall_document(page, timeout_ms: float = 120_000):
    """The wall map's document (a Playwright Frame) once its deck has drawn a payload."""
    from playwright.sync_api import expect

    expect(page.frame_locator(WALL_MAP).locator("canvas").first).to_be_visible(timeout=timeout_ms)
    frame = page.locator(WALL_MAP).first.element_handle().content_frame()
    frame.wait_for_function("window.__wall && window.__wall.builds > 0", timeout=timeout_ms)
    return frame


def sign_in(page, base: str, password: str, path: str = "/") -> None:
    page.goto(base + path)
    page.get_by_label("用户名").fill(BENCH_USER)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def _http_bytes(request) -> int:
    sizes = request.sizes()
    return sum(max(0, sizes.get(k, 0)) for k in ("requestHeadersSize", "requestBodySize", "responseHeadersSize",
                                                  "responseBodySize"))


def _simulate(wall, frames) -> tuple[int, int, float]:
    """Move the wall's clock on SIM_MINUTES minutes, a minute at a time, recolouring at each step:
    (cases whose colour changed, bytes on the websocket meanwhile, seconds it took)."""
    before = wall.evaluate("window.__wall.classes()")
    mark, t0 = len(frames), time.monotonic()
    wall.evaluate(f"for (let m = 0; m < {SIM_MINUTES}; m++) {{ window.__wall.shift += 60; window.__wall.recolour(); }}")
    wall.page.wait_for_timeout(2000)  # drawn, and anything the server would say about it said
    after = wall.evaluate("window.__wall.classes()")
    took = time.monotonic() - t0
    sent = sum(n for _, _, n in frames[mark:])
    wall.evaluate("window.__wall.shift = 0; window.__wall.recolour()")
    return sum(1 for x, y in zip(before, after) if x != y), sent, took


def _browser(eng, idle_seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    password = _bench_account(eng)
    proc, base = serve_app(bench_url(), log_prefix="gridgov-bench-wall-")
    frames: list[tuple[float, str, int]] = []
    static_bytes: list[int] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
            page.on("response", lambda r: static_bytes.append(len(r.body()))
                    if "/app/static/wall/" in r.url and r.status == 200 else None)
            page.on("websocket", lambda ws: (
                ws.on("framereceived", lambda d: frames.append((time.monotonic(), "in", len(d)))),
                ws.on("framesent", lambda d: frames.append((time.monotonic(), "out", len(d))))))
            # the map's live check: the beacon file over HTTP, headers and body both ways (ui.wall_view.LiveBeacon)
            page.on("requestfinished", lambda r: frames.append((time.monotonic(), "poll", _http_bytes(r)))
                    if "/app/static/wall/live-" in r.url else None)
            sign_in(page, base, password)
            wall = wall_document(page)
            first = sum(n for _, d, n in frames if d == "in")
            _settle(page, frames)
            # one full render: a new case on an open wall
            mark = len(frames)
            with eng.begin() as c:
                new_id = c.execute(text(
                    "INSERT INTO cases(channel, category_code, description, received_x, received_y, received_crs, geom) "
                    f"SELECT 'hotline', '0102', 'bench wall', x, y, :crs, ST_SetSRID(ST_MakePoint(x, y), {STORAGE_SRID}) "
                    "FROM (SELECT ST_X(c) x, ST_Y(c) y FROM (SELECT ST_PointOnSurface(geom) c FROM grid_version "
                    "WHERE valid_to IS NULL ORDER BY id LIMIT 1) s) p RETURNING id"), {"crs": STORAGE_CRS}).scalar_one()
            _settle(page, frames, after=mark, expect_big=True)
            render = sum(n for _, d, n in frames[mark:] if d == "in")
            wall.wait_for_function(f"window.__wall.drawn[{new_id}] !== undefined", timeout=60_000)
            costs = wall.evaluate("[window.__wall.buildMs, window.__wall.recolourMs]")
            # idle, at a desk (filters in the sidebar), then 30 minutes of the clock in the browser
            mark, t0 = len(frames), time.monotonic()
            page.wait_for_timeout(idle_seconds * 1000)
            idle_bytes, idle_s = sum(n for _, _, n in frames[mark:]), time.monotonic() - t0
            polls = sum(n for _, d, n in frames[mark:] if d == "poll")
            recoloured, sim_bytes, sim_s = _simulate(wall, frames)
            # the worst half hour: live checks and tiles for 30 minutes, the recolouring, the midnight render
            half_hour = idle_bytes / idle_s * SIM_MINUTES * 60 + sim_bytes + render
            # and on a video wall (no widgets): same session, follow the navigation link
            mark = len(frames)
            page.get_by_role("link", name="大屏模式").first.click()
            _settle(page, frames, after=mark, expect_big=True)
            mark, t0 = len(frames), time.monotonic()
            page.wait_for_timeout(idle_seconds * 1000)
            screen = sum(n for _, _, n in frames[mark:]) / 1024 * 60 / (time.monotonic() - t0)
            browser.close()
        with eng.begin() as c:
            c.execute(text("DELETE FROM cases WHERE id = :i"), {"i": new_id})
    finally:
        stop_app(proc)
    return {"first_render_mb": first / 1e6, "payload_mb": render / 1e6, "outlines_http_mb": sum(static_bytes) / 1e6,
            "idle_measured_kb_per_min": idle_bytes / 1024 * 60 / idle_s, "recoloured_30min": recoloured,
            "idle_poll_kb_per_min": polls / 1024 * 60 / idle_s,
            "recolour_sim_kb": sim_bytes / 1024, "recolour_sim_s": sim_s,
            "idle_kb_per_min": half_hour / 1024 / SIM_MINUTES, "idle_screen_kb_per_min": screen,
            "build_ms": costs[0], "recolour_ms": costs[1]}


def _settle(page, frames, after: int = 0, quiet_s: float = 3.0, limit_s: float = 120.0,
            expect_big: bool = False) -> None:
    """Wait until the wall has drawn (``expect_big``: a large message arrived after ``after``) and
    only the once-a-second live check is left."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        page.wait_for_timeout(500)
        now = time.monotonic()
        if expect_big and not any(n > 5_000 for _, d, n in frames[after:] if d == "in"):
            continue
        recent_big = [n for t, d, n in frames[after:] if d == "in" and t > now - quiet_s and n > 5_000]
        if not recent_big and now - start > quiet_s:
            return
    raise TimeoutError("the wall did not settle")


def main(args) -> int:
    if args.open > args.cases:
        raise ValueError("--open cannot exceed --cases")
    eng = bench_engine()
    filled = _fill(eng, args.cases, args.open, args.seed)
    for k, v in filled.items():
        print(f"{k}={v}", flush=True)
    server = _server_side(eng, args.repeat)
    print(f"open_drawn={server['open_drawn']}")
    print(f"map_msg_mb={server['map_msg_mb']:.3f}")
    print(f"deck_msg_mb={server['deck_msg_mb']:.3f}")
    print(f"outlines_file_mb={server['outlines_mb']:.3f}", flush=True)
    if not args.no_browser:
        seen = _browser(eng, args.idle_seconds)
        print(f"first_render_mb={seen['first_render_mb']:.3f}")
        print(f"outlines_http_mb={seen['outlines_http_mb']:.3f}")
        print(f"payload_mb={seen['payload_mb']:.3f}")
        print(f"build_ms={seen['build_ms']:.1f}")
        print(f"recolour_ms={seen['recolour_ms']:.1f}")
        print(f"idle_screen_kb_per_min={seen['idle_screen_kb_per_min']:.1f}")
        print(f"idle_measured_kb_per_min={seen['idle_measured_kb_per_min']:.1f} "
              f"(of which the beacon polls over HTTP {seen['idle_poll_kb_per_min']:.1f})")
        print(f"recoloured_30min={seen['recoloured_30min']}")
        print(f"recolour_sim_kb={seen['recolour_sim_kb']:.1f} (in {seen['recolour_sim_s']:.1f} s)")
        print(f"idle_kb_per_min={seen['idle_kb_per_min']:.1f}")
    print(f"query_ms={server['query_ms']:.1f}")
    print(f"rerun_ms={server['map_rerun_ms']:.1f}")
    print(f"deck_rerun_ms={server['rerun_ms']:.1f}")
    print(f"rerun_ratio={server['map_rerun_ms'] / server['query_ms']:.2f}")
    return 0
