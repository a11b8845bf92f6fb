"""``bench load``: dispatchers acting and walls refreshing at once, on loopback, for a fixed time.

In a database of its own (``gridgov_bench_load``, the sample district with ``--cases`` cases),
``--dispatchers`` threads (20) each carry fresh cases around the loop through the one service
(report, register, dispatch, accept, feed back, verify), each move its own transaction as a
click would be, while ``--walls`` threads (10) each read a wall frame (open cases, ticker, KPI
figures: what a wall reads on a refresh) once a second. After ``--seconds`` (60) it prints
``actions=``, ``wall_frames=``, ``load_errors=`` (any exception in either) and last
``load_p95_ms=`` (95th percentile of one action's time). Conflicts cannot happen (each dispatcher
owns its cases), so every error is a real one.
"""
from __future__ import annotations

import statistics
import threading
import time
import traceback
from datetime import datetime

from sqlalchemy import text

from bench.common import bench_engine

LOOP = ("register", "dispatch", "accept", "feed_back", "verify_pass")


def configure(p) -> None:
    p.add_argument("--seconds", type=float, default=60, help="how long to run (default 60)")
    p.add_argument("--dispatchers", type=int, default=20, help="dispatcher threads (default 20)")
    p.add_argument("--walls", type=int, default=10, help="wall threads (default 10)")
    p.add_argument("--cases", type=int, default=2000, help="sample cases in the bench database (default 2,000)")


def main(args) -> int:
    from accounts.actors import load_actor
    from dispatch import service
    from dispatch.calendar import TZ
    from wall.frame import WallFilter, kpis, latest_events, open_cases

    if args.seconds <= 0 or args.dispatchers < 1 or args.walls < 0:
        raise ValueError("--seconds must be positive, --dispatchers at least 1, --walls not negative")
    eng = bench_engine("gridgov_bench_load", cases=args.cases)
    eng.pool.dispose()
    from sqlalchemy import create_engine

    # One connection per thread, as each session of the app would hold one.
    eng = create_engine(eng.url, pool_size=args.dispatchers + args.walls + 2,
                        connect_args={"options": "-c timezone=Asia/Shanghai"})
    with eng.connect() as c:
        admin_id = c.execute(text("SELECT id FROM person WHERE username = 'admin'")).scalar_one()
        actor = load_actor(c, admin_id)
        dept = c.execute(text("SELECT id FROM department WHERE active ORDER BY id LIMIT 1")).scalar_one()
        # Points inside the district (a report outside it cannot be registered).
        points = c.execute(text(
            "SELECT ST_X(p.geom), ST_Y(p.geom) FROM district d, ST_Dump(ST_GeneratePoints(d.geom, 2000, 7)) p "
            "WHERE d.code = '211103'")).all()
        x0, y0 = points[0]
    stop = threading.Event()
    lock = threading.Lock()
    times: list[float] = []
    errors: list[str] = []
    frames = [0]

    def error(e: BaseException) -> None:
        with lock:
            errors.append(f"{type(e).__name__}: {e}")
            if len(errors) <= 3:
                traceback.print_exception(e)

    def dispatcher(k: int) -> None:
        import random

        rnd = random.Random(k)
        with eng.connect() as c:
            while not stop.is_set():
                try:
                    lon, lat = rnd.choice(points)
                    t = time.perf_counter()
                    case = service.report_case(c, channel="hotline", lon=lon, lat=lat, crs="EPSG:4326",
                                               category_code="0102", description=f"压测 {k}", actor=actor)
                    c.commit()
                    with lock:
                        times.append((time.perf_counter() - t) * 1000)
                    for action in LOOP:
                        if stop.is_set():
                            break
                        values = {"department_id": dept} if action == "dispatch" else {}
                        if action == "feed_back":
                            values["comment"] = "已处置"
                        t = time.perf_counter()
                        case = service.transition(c, case_id=case["id"], action=action, actor=actor,
                                                  expected_version=case["version"], **values)
                        c.commit()
                        with lock:
                            times.append((time.perf_counter() - t) * 1000)
                except Exception as e:  # noqa: BLE001 - counted and reported
                    c.rollback()
                    error(e)
                    time.sleep(0.1)

    def wall(k: int) -> None:
        f = WallFilter()
        with eng.connect() as c:
            while not stop.is_set():
                t = time.monotonic()
                try:
                    now = datetime.now(TZ)
                    open_cases(c, f, now, "zh", (x0, y0))
                    latest_events(c, f, "zh", now)
                    kpis(c, f, now)
                    c.rollback()
                    with lock:
                        frames[0] += 1
                except Exception as e:  # noqa: BLE001 - counted and reported
                    c.rollback()
                    error(e)
                stop.wait(max(0.0, 1.0 - (time.monotonic() - t)))

    threads = [threading.Thread(target=dispatcher, args=(k,), daemon=True) for k in range(args.dispatchers)]
    threads += [threading.Thread(target=wall, args=(k,), daemon=True) for k in range(args.walls)]
    print(f"load: {args.dispatchers} dispatchers, {args.walls} walls, {args.seconds:g} s", flush=True)
    for th in threads:
        th.start()
    time.sleep(args.seconds)
    stop.set()
    for th in threads:
        th.join(60)
    eng.dispose()
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else (times[0] if times else float("nan"))
    print(f"actions={len(times)}")
    print(f"actions_per_s={len(times) / args.seconds:.1f}")
    print(f"wall_frames={frames[0]}")
    print(f"load_median_ms={statistics.median(times) if times else float('nan'):.1f}")
    print(f"load_errors={len(errors)}")
    print(f"load_p95_ms={p95:.1f}")
    return 1 if errors else 0
