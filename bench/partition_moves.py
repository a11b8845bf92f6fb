"""Moving rows out of a DEFAULT partition while pages read (issue 12 §6, the session 8 finding).

    .venv/bin/python -m bench.partition_moves [--cases 150000] [--months 12] [--ways one_tx,stepwise]

A scratch database ``<owner db>_bench_moves`` at head gets ``--cases`` reported cases (and one
event each) spread over ``--months`` months before this one, written the bulk way
(``session_replication_role = replica``) so they all wait in ``cases_default`` /
``case_event_default``, as after a restore, a bulk import of old cases, or an app down longer
than the months it makes ahead. Then, twice on the same data (rebuilt in between):

- ``one_tx``: 0024's way, ``ensure_partitions`` in ONE transaction (what the ticker did);
- ``stepwise``: ``make_partitions``: one month per transaction, lock time-out 500 ms, retried;

each while two readers with the app's lock time-out (3 s) read ``cases`` and ``case_event`` over
and over. Printed: the move's seconds, the readers' longest statement (ms: its lock wait plus
its own run), their median, how many statements were refused, and the mover's lock time-outs.
The machine is shared: the load average is printed with the figures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import config
from db.cluster import drop_database, ensure_database
from db.config import TIME_ZONE
from db.engine import LOCK_TIMEOUT_MS
from db.migrate import upgrade
from db.partitions import ensure_partitions, make_partitions


def _fill(url: str, cases: int, months: int) -> None:
    drop_database(url)
    ensure_database(url)
    upgrade(url)
    eng = create_engine(url, connect_args={"options": f"-c timezone={TIME_ZONE}"})
    with eng.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))
        # spread over the months before this one; every row's month has no partition yet
        c.execute(text("""
            INSERT INTO cases (case_no, channel, status, address, description, reported_at, updated_at)
            SELECT 'BM-' || g, 'hotline', 'reported', '某路' || (g % 997) || '号', repeat('描述', 60),
                   date_trunc('month', now()) - make_interval(days => 1 + ((g::bigint * 7919) % (:months * 30))::int),
                   now()
            FROM generate_series(1, :n) g"""), {"n": cases, "months": months})
        c.execute(text("INSERT INTO case_event (case_id, action, at) SELECT id, 'note', reported_at FROM cases"))
    with eng.begin() as c:
        c.execute(text("ANALYZE cases; ANALYZE case_event; ANALYZE case_key"))
        print("in default:", c.execute(text("SELECT (SELECT count(*) FROM cases_default), "
                                            "(SELECT count(*) FROM case_event_default)")).one(), flush=True)
    eng.dispose()


def _measure(url: str, how: str) -> dict:
    opts = f"-c timezone={TIME_ZONE}"
    reader = create_engine(url, connect_args={"options": f"{opts} -c lock_timeout={LOCK_TIMEOUT_MS}"})
    mover = create_engine(url, connect_args={"options": opts})
    done = threading.Event()
    times: list[float] = []
    refused: list[str] = []
    with mover.connect() as c:
        some = c.execute(text("SELECT id FROM cases ORDER BY id LIMIT 1")).scalar_one()

    def read():
        with reader.connect() as c:
            while not done.is_set():
                for sql in ("SELECT case_no FROM cases WHERE id = :i", "SELECT count(*) FROM case_event WHERE case_id = :i",
                            "SELECT count(*) FROM cases WHERE status = 'reported' AND address = '某路1号'"):
                    t = time.perf_counter()
                    try:
                        c.execute(text(sql), {"i": some}).all()
                        c.commit()
                        times.append((time.perf_counter() - t) * 1000)
                    except Exception as e:
                        refused.append(str(e).splitlines()[0])
                        c.rollback()
                time.sleep(0.02)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the readers' own pace first
    t0 = time.perf_counter()
    waits = 0
    if how == "one_tx":
        with mover.begin() as c:
            made = ensure_partitions(c)
    else:
        run = make_partitions(mover)
        made, waits = run.made, run.lock_waits
    secs = time.perf_counter() - t0
    done.set()
    for t in threads:
        t.join()
    with mover.connect() as c:
        left = c.execute(text("SELECT (SELECT count(*) FROM cases_default) + (SELECT count(*) FROM case_event_default)")).scalar()
    reader.dispose()
    mover.dispose()
    return {"how": how, "made": made, "move_s": round(secs, 1), "reader_max_ms": round(max(times), 0) if times else None,
            "reader_median_ms": round(statistics.median(times), 1) if times else None, "reads": len(times),
            "refused": len(refused), "mover_lock_timeouts": waits, "left_in_default": left,
            "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=150_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--ways", default="one_tx,stepwise", help="which of one_tx,stepwise to run")
    a = ap.parse_args()
    owner = make_url(config.owner_database_url())
    url = owner.set(database=f"{owner.database}_bench_moves").render_as_string(hide_password=False)
    try:
        for how in a.ways.split(","):
            _fill(url, a.cases, a.months)
            print(_measure(url, how), flush=True)
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
