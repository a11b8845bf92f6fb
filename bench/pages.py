"""``bench pages``: how long each page and each main action takes, click to usable UI, in Chromium.

    python manage.py bench pages [--scale sample|1m|both] [--repeat 5] [--cases-1m 1000000]
                                 [--roles dispatcher,department,report] [--trace FILE]

Against the sample district (database ``gridgov_bench_pages``) and against 1,000,000 cases
(``gridgov_bench_pages_1m``: the sample district with its history, filled up on first use with
generate_series, ``OPEN_1M`` of them open over the open states — ``_engine``; about 3 minutes,
later runs reuse it). Both live on the app's server, never the app's or the
tests' database. The app is served by ``bench.browser.serve_app`` and driven in Debian's
Chromium as real users would: a district dispatcher, a department handler, a grid worker
(accounts of the benchmark's own, with a fresh random password each run).

A step's time runs from the click (or Enter) to a usable UI: Streamlit's script state is
``notRunning``, the connection is up, and every element that shows the result is on screen and
not stale (``[data-stale=true]``, what a rerun has not redrawn yet), and the browser's main thread
answers every animation frame within 0.1 s for 0.5 s on end (that quiet tail is not counted): a
page drawn in the DOM but still rasterising its map takes no click, and that time is the step's
that drew it, not the next click's (issue 8: at 1M the wall's 45,000 points held the thread for
10–28 s after its map said "drawn", all booked to opening 派单). Each role keeps one browser
context over the rounds (its cache warm, as on a desk that has used the app before; ``--cold``:
a fresh one each round, as on a first visit: the dataframe's and the map's scripts are then
loaded and compiled again, tens of seconds on a loaded machine); every round opens a new page,
so a new Streamlit session and a real sign-in. Steps, each ``--repeat`` times after one warm-up
round that is not counted:

- ``sign_in_wall``: 登录 → the wall's map and KPI tiles (a dispatcher's first page);
- ``open_dispatch``: the 派单 link → heading, map and queue;
- ``pick_row``: a queue row's tick → the panel shows that case;
- ``search_case``: a case number + Enter → the panel shows it;
- ``register``: the 立案 form's submit → the confirmation naming the case, panel redrawn;
- ``dispatch``: the 派遣 form's submit → the same;
- ``open_charts``, ``open_wall``: the menu link → the page drawn to its last table / map;
- ``sign_in_department``, ``open_department_queue``, ``pick_department_row``: a department
  handler's queue (first page after sign-in, then from the menu) and its panel;
- ``sign_in_report``, ``open_report``: the grid worker's report page.

The cases the actions act on are made for each run through the lifecycle service (reported,
or reported and registered at district level), so the queues the pages show are the data's own.
Printed: ``<scale>.<step>_median_s`` and ``_p95_s`` for each, with the median script runs
(``_runs``) and kilobytes (``_kb``) the websocket brought from the step's click until the next
step's (so a rerun a step causes after it is usable counts too), then ``pages_p95_s=`` (the worst
p95 of the largest scale measured) last. Target: ≤ 1.5 s at 1,000,000 cases.
"""
from __future__ import annotations

import secrets
import statistics
import time

from sqlalchemy import text

from bench import common
from bench.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, serve_app, stop_app

SCALES = {"sample": "gridgov_bench_pages", "1m": "gridgov_bench_pages_1m"}
USERS = {"dispatcher": "bench_pages_disp", "department_staff": "bench_pages_dept", "grid_worker": "bench_pages_grid"}
WALL_MAP = 'iframe[title="ui.wall_map.wall_map"][data-drawn]'  # the wall's map component, once drawn
MAP = WALL_MAP  # the dispatch map is the same component (ui/dispatch_map_view.py), once drawn
STEPS = ("sign_in_wall", "open_dispatch", "pick_row", "search_case", "register", "dispatch", "open_charts",
         "open_wall", "sign_in_department", "open_department_queue", "pick_department_row", "sign_in_report",
         "open_report")

# True once the script is idle, connected, and every [selector, text] is shown outside a stale element.
_USABLE_JS = """
(want) => {
  if (!document.querySelector('[data-test-script-state=notRunning]')) return false;
  if (!document.querySelector('[data-test-connection-state=CONNECTED]')) return false;
  for (const [sel, txt, not] of want) {
    const ok = [...document.querySelectorAll(sel)].some(e =>
      !e.closest('[data-stale=true]') && e.getClientRects().length > 0 &&
      (!txt || e.textContent.includes(txt)) && (!not || e.textContent.trim() !== not));
    if (!ok) return false;
  }
  return true;
}
"""

# True once the browser's main thread has answered every animation frame within SETTLED_GAP_MS for
# SETTLED_MS on end (rejects after ``limit`` ms; resolves to that quiet tail, which a step's time
# leaves out: it ends where the quiet began): a page whose elements are there but whose drawing
# still holds the thread (the wall's 45,000 points rasterised in software) takes no click yet, and
# the time it keeps the thread belongs to the step that drew it, not to the next click.
SETTLED_MS, SETTLED_GAP_MS = 500, 100
_SETTLED_JS = """
([quiet, gap, limit]) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  let last = t0, since = t0;
  const frame = (now) => {
    if (now - last > gap) since = now;
    last = now;
    if (now - since >= quiet) resolve(now - since);
    else if (now - t0 > limit) reject(new Error("the page's main thread never settled"));
    else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})
"""


def configure(p) -> None:
    p.add_argument("--scale", choices=("sample", "1m", "both"), default="both",
                   help="which database: the sample district, 1,000,000 cases, or both (default)")
    p.add_argument("--repeat", type=int, default=5, help="rounds of every step (default 5)")
    p.add_argument("--cases-1m", type=int, default=1_000_000, help="cases in the large history (default 1,000,000)")
    p.add_argument("--timeout", type=float, default=60, help="seconds a step may take before the run fails")
    p.add_argument("--verbose", action="store_true", help="print every step's time as it is taken")
    p.add_argument("--cold", action="store_true",
                   help="a fresh browser context (empty cache) every round, as on a first visit")
    p.add_argument("--roles", default="dispatcher,department,report",
                   help="whose rounds to run (comma-separated; default all three)")
    p.add_argument("--trace", metavar="FILE",
                   help="write every websocket frame, decoded and timed, to FILE (to follow a click)")


# --- data -------------------------------------------------------------------------------------------

OPEN_1M = 45_000  # open cases at 1M, about what the sample's own history leaves open (4.6 %)


def _engine(scale: str, cases_1m: int, open_1m: int = OPEN_1M):
    """The scale's database: the sample district with its history; at ``1m`` filled up to
    ``cases_1m`` cases of which ``open_1m`` open with generate_series (``bench.wall._fill``:
    closed history over two years, open cases spread over the open states, triggers off), made
    once and reused; reported cases then carry no level yet, as the lifecycle leaves them (not sorted)."""
    from sample_data.load import DEFAULT_CASES

    eng = common.bench_engine(SCALES[scale], cases=DEFAULT_CASES)
    with eng.connect() as c:
        have = c.execute(text("SELECT count(*) FROM cases")).scalar_one()
    if scale == "1m" and have < cases_1m:
        from bench.wall import _fill

        print(f"filling {SCALES[scale]} to {cases_1m:,} cases ({open_1m:,} open) ...", flush=True)
        made = _fill(eng, cases_1m, open_1m, seed=0.4711)
        with eng.begin() as c:  # the wall's fill gives every case its category's level
            c.execute(text("SET LOCAL session_replication_role = replica"))
            c.execute(text("UPDATE cases SET level = NULL, registered_at = NULL "
                           "WHERE status = 'reported' AND case_no LIKE 'O%'"))
        print(f"fill_s={made['fill_s']} cases={made['cases']} open={made['open']}", flush=True)
        have = made["cases"]
    _partitioned(eng)
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE cases"))  # a freshly built history has no statistics yet
    return eng, have


def _partitioned(eng) -> int:
    """Every month of the history in its own partition before the app is served (issue 8, the 1M
    部门工单 pick that never showed a panel): a fill made before the history writers made their
    months first (issue 12 §6: ``sample_data.bulk.make_months``) left 973,414 of 1,000,000 cases
    in ``cases_default``, and the app's ticker moved them in ONE transaction of several minutes
    holding the DEFAULT partition, every page refused meanwhile ("数据库正忙"). A fresh fill now
    leaves nothing there, and the ticker moves what it finds one month per transaction
    (``db.partitions.make_partitions``); this empties an older fill the same way before the
    timed pages. Returns the partitions made."""
    from db.partitions import is_partitioned, make_partitions

    with eng.connect() as c:
        if not is_partitioned(c) or not c.execute(text("SELECT EXISTS (SELECT 1 FROM cases_default)")).scalar():
            return 0
    print("moving the history's months out of the DEFAULT partition ...", flush=True)
    run = make_partitions(eng)
    print(f"partitions_made={run.made} partition_s={run.seconds:.1f} left={len(run.left)}", flush=True)
    return run.made


def _accounts(eng) -> tuple[str, dict[str, str]]:
    """The benchmark's three accounts (created once, a new password each run)."""
    from accounts.auth import create_user, set_password

    password = secrets.token_urlsafe(12)
    with eng.begin() as c:
        dep = c.execute(text("""
            SELECT d.code FROM department d WHERE d.active AND EXISTS (
                SELECT 1 FROM cases c WHERE c.department_id = d.id AND c.status IN ('dispatched', 'disposing'))
            ORDER BY d.code LIMIT 1""")).scalar_one()
        com = c.execute(text("SELECT code FROM community ORDER BY code LIMIT 1")).scalar_one()
        units = {"dispatcher": ("district", None), "department_staff": ("department", dep),
                 "grid_worker": ("community", com)}
        for role, user in USERS.items():
            if c.execute(text("SELECT 1 FROM person WHERE username = :u"), {"u": user}).first():
                set_password(c, user, password)
            else:
                level, unit = units[role]
                create_user(c, username=user, full_name=f"基准{role}", role=role, password=password,
                            unit_level=level, unit=unit)
    return password, USERS


def _cases(eng, n: int) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """``n`` reported cases (to register) and ``n`` registered at district level (to dispatch),
    made through the lifecycle like any other, inside the district's grids."""
    from accounts.actors import load_actor
    from dispatch import service

    to_register, to_dispatch = [], []
    with eng.begin() as c:
        actor = load_actor(c, c.execute(text("SELECT id FROM person WHERE username = :u"),
                                        {"u": USERS["dispatcher"]}).scalar_one())
        code = c.execute(text("""SELECT k.code FROM case_category k WHERE k.default_department_id IS NOT NULL
                                 ORDER BY k.code LIMIT 1""")).scalar_one()
        points = c.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(gv.geom) AS p FROM grid_version gv
            WHERE gv.valid_to IS NULL ORDER BY gv.id LIMIT :n) s"""), {"n": 2 * n}).all()
        for i, (lon, lat) in enumerate(points):
            row = service.report_case(c, channel="hotline", lon=lon, lat=lat, category_code=code,
                                      description=f"bench pages {i}")
            if i % 2:
                row = service.transition(c, case_id=row["id"], action="register", actor=actor, level="district")
                to_dispatch.append((row["id"], row["case_no"]))
            else:
                to_register.append((row["id"], row["case_no"]))
    return to_register, to_dispatch


# --- the browser ------------------------------------------------------------------------------------

class Driver:
    def __init__(self, browser, base: str, timeout_s: float):
        self.browser, self.base, self.timeout_ms = browser, base, timeout_s * 1000
        self.times: dict[str, list[float]] = {}
        self.verbose = False
        self.cold = False
        self.pages: dict = {}
        # the websocket, per step: frames received from its click until the next step's click
        # (so the reruns a step causes after it is usable count too): script runs started, bytes
        self.frames: list[tuple[int, bool]] = []
        self.traffic: dict[str, list[tuple[int, int]]] = {}
        self._open: tuple[str, int] | None = None
        self.trace = None  # a file: every websocket frame, decoded (--trace)
        self._t0 = time.perf_counter()

    def note(self, line: str) -> None:
        if self.trace is not None:
            self.trace.write(f"{time.perf_counter() - self._t0:9.3f} {line}\n")
            self.trace.flush()

    def _received(self, data) -> None:
        from ui.wall_view import describe_frame, starts_a_run

        if isinstance(data, (bytes, bytearray)):
            self.frames.append((len(data), starts_a_run(bytes(data))))
            if self.trace is not None:
                self.note(f"{len(data):7d} B {describe_frame(bytes(data), sent=False)}")

    def _sent(self, data) -> None:
        from ui.wall_view import describe_frame

        if self.trace is not None and isinstance(data, (bytes, bytearray)):
            self.note(f"{len(data):7d} B {describe_frame(bytes(data), sent=True)}")

    def close_step(self) -> None:
        """Book the frames since the open step's click to it (runs, bytes)."""
        if self._open is not None:
            step, start = self._open
            got = self.frames[start:]
            self.traffic.setdefault(step, []).append((sum(r for _, r in got), sum(n for n, _ in got)))
            self._open = None

    def context(self, role: str):
        """A page for ``role``: the same browser context every round (its HTTP cache warm, as on a
        desk that has used the app before) unless ``cold``; each round still opens a new
        Streamlit session (a new page load signs nobody in)."""
        if not self.cold and role in self.pages:
            return self.pages[role]
        ctx = self.browser.new_context(viewport={"width": 1600, "height": 1000}, locale="zh-CN",
                                       timezone_id="Asia/Shanghai")
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(self.base) else r.abort())
        page = ctx.new_page()
        page.on("websocket", lambda ws: (ws.on("framereceived", self._received), ws.on("framesent", self._sent)))
        page.set_default_timeout(self.timeout_ms)
        if not self.cold:
            self.pages[role] = (ctx, page)
        return ctx, page

    def done(self, ctx) -> None:
        if self.cold:
            ctx.close()

    def usable(self, page, *want) -> float:
        """Wait until the page is usable; returns the seconds of quiet waited after it was."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        args = [list(w) + [None] * (3 - len(w)) for w in want]
        try:
            page.wait_for_function(_USABLE_JS, arg=args, polling=25, timeout=self.timeout_ms)
            t = time.perf_counter()
            quiet = page.evaluate(_SETTLED_JS, [SETTLED_MS, SETTLED_GAP_MS, self.timeout_ms]) / 1000
            page.wait_for_function(_USABLE_JS, arg=args, polling=25, timeout=self.timeout_ms)  # still so
            tail = min(quiet, time.perf_counter() - t)
            self.note(f"settled after {time.perf_counter() - t - tail:.2f} s more")
            return tail
        except PlaywrightTimeout:
            missing = [(w, page.evaluate("""(s) => [...document.querySelectorAll(s)].map(e => [
                e.closest('[data-stale]')?.getAttribute('data-stale'), e.getClientRects().length,
                e.textContent.slice(0, 40)])""", w[0])) for w in args if not page.evaluate(_USABLE_JS, [w])]
            states = []
            for _ in range(20):
                states.append(page.evaluate(
                    "() => document.querySelector('[data-test-script-state]')?.getAttribute('data-test-script-state')"))
                page.wait_for_timeout(100)
            shot = ROOT / "var" / "bench-pages-timeout.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot))
            raise TimeoutError(f"not usable within {self.timeout_ms / 1000:.0f} s at {page.url}: "
                               f"missing {missing or 'an idle script'}, script states over 2 s {states} (screenshot {shot})") from None

    def timed(self, step: str, page, act, *want) -> float:
        self.close_step()
        self._open = (step, len(self.frames))
        self.note(f"=== {step}")
        t = time.perf_counter()
        act()
        tail = self.usable(page, *want)
        took = time.perf_counter() - t - tail
        self.note(f"=== {step} usable after {took:.2f} s")
        self.times.setdefault(step, []).append(took)
        if self.verbose:
            print(f"  {step} {took:.2f}s", flush=True)
        return took

    def sign_in(self, page, user: str, password: str, step: str, *want) -> None:
        page.goto(self.base + "/")
        page.get_by_label("用户名").wait_for(timeout=120_000)  # a cold server imports a lot first
        page.get_by_label("用户名").fill(user)
        page.get_by_label("密码").fill(password)
        self.usable(page)
        self.timed(step, page, page.get_by_role("button", name="登录").click, *want)

    def nav(self, page, key: str, step: str | None, *want) -> None:
        # by its title: the first page of a role is served at "/", not at its key
        link = page.locator("[data-testid=stSidebarNav] a").filter(has_text=TITLES[key]).first
        if step is None:
            link.click()
            page.wait_for_timeout(50)
            self.usable(page, *want)
        else:
            self.timed(step, page, link.click, *want)


def _row_xy(page, table: str, i: int) -> tuple[float, float]:
    """The tick box of row ``i`` (0-based) of a single-row-select dataframe."""
    box = page.locator(f"{table} [data-testid=stDataFrame]").first.bounding_box()
    return box["x"] + 18, box["y"] + 35 + 35 * i + 17


def _panel_no(page) -> str:
    loc = page.locator(".dp-no")
    return loc.first.inner_text() if loc.count() else ""


TITLES = {"wall": "指挥大屏", "dispatch": "派单", "charts": "结案统计", "account": "我的账号",
          "department_queue": "部门工单", "report": "网格上报"}
WALL = ((WALL_MAP,), (".st-key-kpi-open [data-testid=stMetricValue]",))
DISPATCH = (("h1", "派单调度"), (MAP,), (".st-key-dispatch-queue",), ("[data-testid=stDataFrame]",))


def _act(d: Driver, page, case: tuple[int, str], action: str, label: str, step: str) -> None:
    cid, no = case
    box = page.locator(".st-key-dispatch-search input")
    box.fill(no)
    d.timed("search_case", page, lambda: box.press("Enter"), (".dp-no", no))
    # the action's form: the one with its submit button (the search box is a form too)
    form = page.locator("[data-testid=stForm]").filter(
        has=page.locator("[data-testid=stFormSubmitButton]").get_by_role("button", name=label, exact=True))
    # the action's button (ui.case_panel.action_bar); a click that lands while the page redraws
    # is sometimes lost, as for a person (issue 8, still open): clicked again, unless it took
    button = page.locator(f".st-key-dispatch-act-{cid}-do-{action} button")
    for attempt in range(3):
        if button.get_attribute("data-testid") != "stBaseButton-primary":  # primary: its form is open
            button.click()
        try:
            form.wait_for(timeout=d.timeout_ms / 3)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: try again, the third time fails
            if attempt == 2:
                raise
    d.usable(page, ("[data-testid=stForm]",))
    submit = form.get_by_role("button", name=label, exact=True)
    d.timed(step, page, submit.click, ("[data-testid=stToast]", no), (".dp-no", no))


def _dispatcher_round(d: Driver, user: str, password: str, i: int, reg, dis) -> None:
    ctx, page = d.context("dispatcher")
    try:
        d.sign_in(page, user, password, "sign_in_wall", *WALL)
        d.nav(page, "dispatch", "open_dispatch", *DISPATCH)
        before = _panel_no(page)
        x, y = _row_xy(page, ".st-key-dispatch-q-awaiting_sorting", i % 5)
        d.timed("pick_row", page, lambda: page.mouse.click(x, y), (".dp-no", None, before or None))
        _act(d, page, reg, "register", "立案", "register")
        _act(d, page, dis, "dispatch", "派遣", "dispatch")
        d.nav(page, "charts", "open_charts", ("h1", "结案统计"), (".st-key-backlog-csv",))
        d.nav(page, "wall", "open_wall", ("h1", "指挥大屏"), *WALL)
    finally:
        d.done(ctx)


def _department_round(d: Driver, user: str, password: str, i: int) -> None:
    ctx, page = d.context("department_staff")
    queue = (("h1", "部门工单"), (".st-key-dq-filter",), ("[data-testid=stDataFrame]",))
    try:
        d.sign_in(page, user, password, "sign_in_department", *queue)
        d.nav(page, "account", None, ("h1", "我的账号"))
        d.nav(page, "department_queue", "open_department_queue", *queue)
        before = _panel_no(page)
        x, y = _row_xy(page, ".st-key-dq-table", i % 5)  # the table is its own keyed element
        d.timed("pick_department_row", page, lambda: page.mouse.click(x, y), (".dp-no", None, before or None))
    finally:
        d.done(ctx)


def _report_round(d: Driver, user: str, password: str) -> None:
    ctx, page = d.context("grid_worker")
    report = (("h1", "网格上报"), (".st-key-rp_submit",))
    try:
        d.sign_in(page, user, password, "sign_in_report", *report)
        d.nav(page, "account", None, ("h1", "我的账号"))
        d.nav(page, "report", "open_report", *report)
    finally:
        d.done(ctx)


def _measure(eng, repeat: int, timeout_s: float, verbose: bool = False, cold: bool = False,
             trace: str | None = None, roles: tuple[str, ...] = ("dispatcher", "department", "report")
             ) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    password, users = _accounts(eng)
    reg, dis = _cases(eng, repeat + 1)
    url = eng.url.render_as_string(hide_password=False)
    proc, base = serve_app(url, log_prefix="gridgov-bench-pages-")
    tracing = open(trace, "w", encoding="utf-8") if trace else None  # noqa: SIM115 (closed below)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            d = Driver(browser, base, max(timeout_s, 120))  # the warm-up round: a cold server
            d.verbose, d.cold = verbose, cold
            d.trace = tracing
            rounds = {"dispatcher": lambda i, r, s: _dispatcher_round(d, users["dispatcher"], password, i, r, s),
                      "department": lambda i, r, s: _department_round(d, users["department_staff"], password, i),
                      "report": lambda i, r, s: _report_round(d, users["grid_worker"], password)}
            # one warm-up round (a cold server imports and fills its caches once), not counted
            for role in roles:
                rounds[role](0, reg[-1], dis[-1])
            d.close_step()
            d.times.clear()
            d.traffic.clear()
            d.timeout_ms = timeout_s * 1000
            for i in range(repeat):
                for role in roles:
                    rounds[role](i, reg[i], dis[i])
            d.close_step()
            browser.close()
    finally:
        stop_app(proc)
        if tracing is not None:
            tracing.close()
    return d.times, d.traffic


def p95(xs: list[float]) -> float:
    """The 95th percentile, nearest rank (with few rounds: the slowest but rarely one)."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-95 * len(s) // 100) - 1))]


def main(args) -> int:
    if args.repeat < 1:
        raise ValueError("--repeat must be at least 1")
    scales = ("sample", "1m") if args.scale == "both" else (args.scale,)
    worst = 0.0
    for scale in scales:
        eng, n = _engine(scale, args.cases_1m)
        print(f"{scale}.cases={n}", flush=True)
        trace = args.trace and (args.trace if len(scales) == 1 else f"{args.trace}.{scale}")
        roles = tuple(r.strip() for r in args.roles.split(",") if r.strip())
        unknown = set(roles) - {"dispatcher", "department", "report"}
        if unknown:
            raise ValueError(f"--roles: unknown {', '.join(sorted(unknown))} (dispatcher, department, report)")
        times, traffic = _measure(eng, args.repeat, args.timeout, args.verbose, args.cold, trace, roles)
        worst = 0.0
        for step in STEPS:
            xs = times.get(step, [])
            if not xs:
                continue
            ws = traffic.get(step, [])
            runs = f" {scale}.{step}_runs={statistics.median(r for r, _ in ws):g}" if ws else ""
            kb = f" {scale}.{step}_kb={statistics.median(b for _, b in ws) / 1000:.1f}" if ws else ""
            print(f"{scale}.{step}_median_s={statistics.median(xs):.2f} {scale}.{step}_p95_s={p95(xs):.2f}{runs}{kb}",
                  flush=True)
            worst = max(worst, p95(xs))
        print(f"{scale}.worst_p95_s={worst:.2f}", flush=True)
    print(f"pages_p95_s={worst:.2f}")
    return 0
