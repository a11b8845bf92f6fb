"""The benchmark databases (one per benchmark, on the app's server, never the app's or the tests'),
and the timing rule every benchmark uses (the best of N runs; ``best_rolled_back`` for a
statement on a connection)."""
from __future__ import annotations

import os
import time


def bench_url(name: str) -> str:
    """The URL of database ``name`` on the app's server."""
    from sqlalchemy.engine import make_url

    from db.config import owner_database_url

    return make_url(owner_database_url()).set(database=name).render_as_string(hide_password=False)


def bench_engine(name: str, *, cases: int | None = 0):
    """An engine on database ``name``: created and migrated if needed, with the sample district
    loaded when missing (``cases`` sample cases with their history; ``None``: no district)."""
    from db import cluster
    from db.engine import get_engine
    from db.migrate import upgrade

    url = bench_url(name)
    if not os.environ.get("DATABASE_URL"):
        cluster.start()
    cluster.ensure_database(url)
    upgrade(url)
    eng = get_engine(url)
    if cases is None:
        return eng
    from sample_data.load import SampleDataPresent, load_sample, sample_loaded

    with eng.connect() as conn:
        present = sample_loaded(conn)
    if not present:
        print(f"loading the sample district ({cases} cases) into {name} ...", flush=True)
        try:
            with eng.begin() as conn:
                load_sample(conn, cases=cases)
        except SampleDataPresent:
            pass  # another run loaded it meanwhile
    return eng


def best_rolled_back(conn, fn, repeat: int) -> float:
    """``best_of`` for a statement run on ``conn``: one untimed run first (caches warm), then
    the fastest of ``repeat`` runs, each followed by a rollback (timed with it: nothing a run
    reads or locks is kept, and the next run starts its own transaction); in seconds."""
    def go():
        fn()
        conn.rollback()

    go()
    return best_of(go, repeat)


def best_of(fn, repeat: int) -> float:
    """The fastest of ``repeat`` (at least one) runs of ``fn()``, in seconds."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best
