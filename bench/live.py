"""``bench live``: how soon a report reaches every open wall (issue 12 §3).

``--walls`` walls (default 10) are opened in Debian's Chromium against ``streamlit run app.py``
(one browser, a page and a session each, each signed in), on the database of ``bench wall``
(``gridgov_bench_wall``: 1,000,000 cases, 10,000 open, made on first use like there), or with
``--sample`` the sample district alone (``gridgov_bench_live``). Then
``--reports`` reports are inserted with plain SQL at a steady ``--rate`` per second, each
committed on its own. The wall's map component records, in the browser, when it first drew each
case id (``window.__wall.drawn``, taken when its points' overlay is drawn — before session 7, in
deck.gl's ``onAfterRender``); the latency of a report on a wall is that moment minus the moment its
commit returned (one machine, one clock). The pages are kept off the network by Chromium's host
resolver (every host but 127.0.0.1 resolves to nothing); ``--route-requests`` blocks them with a
Playwright route handler instead, as before session 7 (each request then passes through this process).

Printed: ``walls``, ``reports``, ``missed`` (report × wall pairs not drawn within ``--wait``
seconds of the last commit), ``live_p50_s``, ``live_max_s`` (of those drawn), the load average, and last
``live_p95_s`` (target ≤ 1.5 s) over every report × wall pair, a missed pair counting as late
without bound.

The path measured (issue 12 §3): commit → NOTIFY → the listener thread bumps its version → the
beacon thread reads the open cases once (``wall.delta.DeltaFeed``) and writes each wall's delta
file, then the beacon → each wall's map sees the beacon move at its next one-second poll, fetches
its delta file and merges the changed cases into what it draws (no Streamlit rerun, no new
payload) → the points' 2D canvas is drawn (the district's canvas is not). The page reruns
later (``ui.wall_view.SETTLE_S``) for its tiles.
Also printed: ``by_delta`` / ``by_map`` (pairs drawn from a delta file or from a whole payload),
``reruns_per_wall`` (reruns the maps asked for during the run) and ``builds_per_wall`` (whole
payloads drawn), so a run shows which path carried the points, and ``reruns_asked_by_reason``;
``base_draws_per_wall`` / ``overlay_draws_per_wall`` (draws of the district, deck.gl's until session 10,
and of the points' canvas: 0 for a map from before the overlay) and ``poll_ticks_per_wall_min`` (the beacon
poll's timer ticks per minute from the first report on: 120 planned while reports flow, fewer when
the page's timers fire late).

CPU (the browsers were the bottleneck: ten software-WebGL pages on two cores): the CPU time of
every Chromium process under the bench (renderers, the one GPU process, the browser, utilities)
and of the Streamlit server, read from /proc, over ``--idle`` quiet seconds before the reports
(``idle_…``) and over the reports' window (``live_…``), as CPU-seconds per wall per minute
(``…_browser_cpu_s_per_wall_min``, split by process kind) and the server's per minute. At load
these are the figures that carry: latency is mostly waiting for a core.
"""
from __future__ import annotations

import math
import os
import statistics
import time

from sqlalchemy import text

from bench import common
from bench.browser import CHROMIUM, CHROMIUM_ARGS, serve_app, stop_app
from bench.wall import _bench_account, _fill, bench_engine, bench_url, sign_in, wall_document
from db.config import STORAGE_SRID
from gis.crs import STORAGE_CRS

SAMPLE_DB = "gridgov_bench_live"  # --sample: the sample district alone (about 200 open cases)

_INSERT = (
    "INSERT INTO cases(channel, category_code, description, received_x, received_y, received_crs, geom) "
    f"SELECT 'hotline', '0102', 'bench live', x, y, :crs, ST_SetSRID(ST_MakePoint(x, y), {STORAGE_SRID}) "
    "FROM (SELECT ST_X(c) x, ST_Y(c) y FROM (SELECT ST_PointOnSurface(geom) c FROM grid_version "
    "WHERE valid_to IS NULL ORDER BY random() LIMIT 1) s) p RETURNING id")


def configure(p) -> None:
    p.add_argument("--walls", type=int, default=10, help="walls open at once (default 10)")
    p.add_argument("--reports", type=int, default=20, help="reports to insert (default 20)")
    p.add_argument("--rate", type=float, default=0.5, help="reports per second (default 0.5)")
    p.add_argument("--wait", type=float, default=30, help="seconds to wait for the last report to be drawn")
    p.add_argument("--cases", type=int, default=1_000_000, help="cases in the database (as bench wall)")
    p.add_argument("--open", type=int, default=10_000, help="of which open (as bench wall)")
    p.add_argument("--idle", type=float, default=15,
                   help="seconds the walls stay quiet before the reports, for the idle CPU figure (default 15)")
    p.add_argument("--seed", type=float, default=0.4711, help="setseed() value for generated cases")
    p.add_argument("--route-requests", action="store_true",
                   help="block requests leaving localhost with a Playwright route handler (every request of every "
                        "wall through this process, as before session 7) instead of Chromium's host resolver")
    p.add_argument("--sample", action="store_true",
                   help=f"the sample district alone ({SAMPLE_DB}) instead of bench wall's million: the live path "
                        "without the drawing of 10,000 points in software WebGL")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank rule.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.95), percentile([5.0], 0.5)
    (4.0, 5.0)
    """
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * q)) - 1]


def _cpu_by_kind(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of every live process under each root pid, by kind:
    Chromium's ``renderer``, ``gpu``, ``utility``, ``browser`` (no ``--type``) and, for the other
    roots, the root's name (e.g. ``server``: the Streamlit process). Read from /proc."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for name, root in roots.items():
        todo, seen = [root], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            todo.extend(c for c, pp in parent.items() if pp == pid)
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            cpu = (int(f[11]) + int(f[12])) / tick
            if name != "bench":
                kind = name
            elif "chrom" not in cmd.split(" ", 1)[0]:
                continue    # the bench itself and Playwright's driver: not the walls
            else:
                kind = next((k for flag, k in (("--type=renderer", "renderer"), ("--type=gpu-process", "gpu"),
                                               ("--type=utility", "utility"), ("--type=", "other")) if flag in cmd),
                            "browser")
            out[kind] = out.get(kind, 0.0) + cpu
    return out


def _cpu_report(label: str, a: dict, b: dict, seconds: float, walls: int) -> str:
    """``label: browsers X CPU-s per wall per minute (renderer … gpu … browser …), server Y CPU-s per minute``."""
    d = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in set(a) | set(b)}
    per_min = 60 / max(seconds, 1e-9)
    chrome = sum(v for k, v in d.items() if k != "server")
    parts = " ".join(f"{k}={v * per_min / walls:.2f}" for k, v in sorted(d.items()) if k != "server")
    return (f"{label}_browser_cpu_s_per_wall_min={chrome * per_min / walls:.2f} ({parts}) "
            f"{label}_server_cpu_s_per_min={d.get('server', 0.0) * per_min:.2f} over {seconds:.0f} s")


# Every host but the loopback resolves to nothing: the walls stay offline without a route handler (a
# Playwright route sends each request of each wall — twenty beacon polls a second with ten walls —
# through this process and back before Chromium may send it, which at load added its own delay)
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


def _open_walls(browser, base: str, password: str, n: int, route: bool = False) -> list:
    walls = []
    for _ in range(n):
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(180_000)  # signing in the tenth wall while nine draw, at load
        if route:
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
        sign_in(page, base, password)
        walls.append(wall_document(page, timeout_ms=300_000))
        print(f"wall {len(walls)} open", flush=True)
    return walls


def _run(eng, url: str, args) -> dict:
    from playwright.sync_api import sync_playwright

    password = _bench_account(eng)
    proc, base = serve_app(url, log_prefix="gridgov-bench-live-")
    made: list[int] = []
    commits: dict[int, float] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=CHROMIUM_ARGS + ([] if args.route_requests else OFFLINE_ARGS))
            walls = _open_walls(browser, base, password, args.walls, args.route_requests)
            # Waiting is done inside Playwright (wait_for_timeout), never with time.sleep: with
            # --route-requests the pages' requests pass through this process's route handler, which runs only
            # while a Playwright call is in progress, so a sleeping bench held every beacon poll and
            # delta fetch of every wall until its next call (the 30 s safety check drew instead).
            pump = walls[0].page
            pump.wait_for_timeout(3000)  # let the last sign-ins settle
            counters = ("[window.__wall.reruns || 0, window.__wall.builds, window.__wall.baseDraws || 0, "
                        "window.__wall.draws || 0, window.__wall.ticks || 0]")
            roots = {"bench": os.getpid(), "server": proc.pid}
            idle0, t_idle = _cpu_by_kind(roots), time.monotonic()
            pump.wait_for_timeout(args.idle * 1000)   # the walls quiet: what an idle wall costs
            cpu0, t_cpu = _cpu_by_kind(roots), time.monotonic()
            cpu_lines = [_cpu_report("idle", idle0, cpu0, t_cpu - t_idle, len(walls))]
            before = [w.evaluate(counters) for w in walls]
            start = time.monotonic()
            for k in range(args.reports):
                pump.wait_for_timeout(max(0.0, start + k / args.rate - time.monotonic()) * 1000)
                with eng.begin() as c:
                    case_id = c.execute(text(_INSERT), {"crs": STORAGE_CRS}).scalar_one()
                commits[case_id] = time.time() * 1000
                made.append(case_id)
            pump.wait_for_timeout(max(0.0, start + args.reports / args.rate - time.monotonic()) * 1000)
            cpu_lines.append(_cpu_report("live", cpu0, _cpu_by_kind(roots), time.monotonic() - t_cpu, len(walls)))
            deadline = time.monotonic() + args.wait
            ids = list(commits)
            drawn: list[dict] = []
            how: list[str | None] = []
            after: list[list[int]] = []
            why: dict[str, int] = {}    # reruns the maps asked for, by reason (their whole run, sign-in included)
            lost = 0
            for wall in walls:
                left = max(0.1, deadline - time.monotonic())
                try:
                    wall.wait_for_function(f"{ids}.every(i => window.__wall.drawn[i] !== undefined)",
                                           timeout=left * 1000)
                except Exception:  # noqa: BLE001 (a wall that missed some: counted below)
                    pass
                try:
                    drawn.append(wall.evaluate(
                        f"Object.fromEntries({ids}.map(i => [i, window.__wall.drawn[i] ?? null]))"))
                    how.extend(wall.evaluate(f"{ids}.map(i => window.__wall.drawnBy ? window.__wall.drawnBy[i] : null)"))
                    after.append(wall.evaluate(counters))
                    for k, v in wall.evaluate("window.__wall.why || {}").items():
                        why[k] = why.get(k, 0) + v
                except Exception:  # noqa: BLE001 (its map's frame went away: a lost session, every report missed)
                    lost += 1
                    drawn.append({})
            browser.close()
    finally:
        stop_app(proc)
        if made:
            with eng.begin() as c:
                c.execute(text("DELETE FROM cases WHERE id = ANY(:i)"), {"i": made})
    lat = [(d[str(i)] - commits[i]) / 1000 for d in drawn for i in ids if d.get(str(i)) is not None]
    missed = len(ids) * len(drawn) - len(lat)
    runs = [[x - y for x, y in zip(a, b)] for a, b in zip(after, before)]
    return {"walls": len(drawn), "reports": len(ids), "missed": missed, "latencies": lat, "lost": lost,
            "by_delta": how.count("delta"), "by_map": how.count("map"),
            "reruns": statistics.mean(r[0] for r in runs) if runs else math.nan,
            "builds": statistics.mean(r[1] for r in runs) if runs else math.nan,
            "base_draws": statistics.mean(r[2] for r in runs) if runs else math.nan,
            "draws": statistics.mean(r[3] for r in runs) if runs else math.nan,
            "ticks": statistics.mean(r[4] for r in runs) if runs else math.nan,
            "seconds": time.monotonic() - start if runs else math.nan, "cpu": cpu_lines, "why": why}


def main(args) -> int:
    if args.walls < 1 or args.reports < 1 or args.rate <= 0:
        raise ValueError("--walls and --reports must be at least 1 and --rate above 0")
    if args.sample:
        from sample_data.load import DEFAULT_CASES

        eng, url = common.bench_engine(SAMPLE_DB, cases=DEFAULT_CASES), common.bench_url(SAMPLE_DB)
    else:
        eng, url = bench_engine(), bench_url()
        for k, v in _fill(eng, args.cases, args.open, args.seed).items():
            print(f"{k}={v}", flush=True)
    got = _run(eng, url, args)
    lat = got["latencies"]
    print(f"walls={got['walls']}")
    print(f"reports={got['reports']} at {args.rate}/s")
    print(f"missed={got['missed']} (walls whose map went away: {got['lost']})")
    print(f"load_average={os.getloadavg()[0]:.1f}")
    print(f"by_delta={got['by_delta']} by_map={got['by_map']}")
    print(f"reruns_per_wall={got['reruns']:.1f} builds_per_wall={got['builds']:.1f}")
    # the drawing (wall.js): the district's draws, the points' draws (0: a map from before the
    # overlay, which redrew everything with deck.gl), and the beacon poll's timer
    # ticks per minute from the first report to the last wall read (planned: 120 while reports flow)
    print(f"base_draws_per_wall={got['base_draws']:.1f} overlay_draws_per_wall={got['draws']:.1f} "
          f"poll_ticks_per_wall_min={got['ticks'] * 60 / max(got['seconds'], 1e-9):.0f}")
    print("reruns_asked_by_reason=" + (" ".join(f"{k}:{v}" for k, v in sorted(got["why"].items())) or "none"))
    for line in got["cpu"]:
        print(line)
    if not lat:
        print("live_p95_s=nan")
        return 1
    print(f"live_p50_s={statistics.median(lat):.2f}")
    print(f"live_max_s={max(lat):.2f}")
    # a pair never drawn counts as infinitely late, so missing walls cannot flatter the figure
    print(f"live_p95_s={percentile(lat + [math.inf] * got['missed'], 0.95):.2f}")
    return 0 if got["missed"] == 0 else 1
