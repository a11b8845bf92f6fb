"""What the roll-up triggers cost per event: the sample's history played row by row under each
way of keeping the roll-ups, alternated in one run.

    python -m bench.rollup_write [--cases 4011] [--rounds 2] [--with-0020] [--with-past] [--old-migration FILE]

In database ``gridgov_bench_rollup_write`` (made and migrated on first use, the sample district
without cases), each round and each variant: one transaction writes ``--cases`` sample reports
(``copy_reports``), switches the triggers to the variant, plays their history row by row
(``play_history(bulk=False)``: every event through the triggers, as the services write them)
and rolls back, so every variant plays the same reports on the same database. Timed: the
database backend's CPU (``/proc/<pid>/stat`` of ``pg_backend_pid()``; the server runs on this
machine) and this process's, over the play only. Variants:

- ``0020``: the cut trigger as migration 0020 made it (no ``case_stat_group``), JIT as configured;
- ``main``: as migration 0021 made it (the cut trigger also writes ``case_stat_group``; JIT off on
  the roll-up trigger functions);
- ``0025``: this branch's (migration 0025: the cut trigger also keeps ``case_stat_one``) as
  events arriving now meet it: dated today or later and on or after its mark, so the trigger
  checks that, takes no lock and adds them to the fine roll-ups only, leaving ``case_stat_one`` to
  the scheduled fold (here "today" in the trigger is a day before the history, as the history's
  events are dated in the past). The fold of every day of the history then runs once, after the
  timing of the play, and is printed apart (``fold_cpu_s``: the job's work, not an event's);
- ``0025_past`` (with ``--with-past``): the same trigger with every delta dated before the mark,
  each added to ``case_stat_one`` straight away (events inserted with past times: tests, replays);
- ``0019`` (with ``--old-migration``, the file of an earlier ``case_stat_group`` migration whose
  ``_collect("new_events", look_back=True)`` is its trigger's statement): main's cut trigger plus
  that one's own trigger into a table of that layout (named ``case_stat_group_old``), JIT off.

Prints ``cpu_ms_per_event[VARIANT]`` (backend, and backend + player) per round and the best.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text

BENCH_DB = "gridgov_bench_rollup_write"
MIGRATIONS = Path(__file__).resolve().parent.parent / "db/migrations/versions"
MIGRATION_0021 = MIGRATIONS / "0021_rollup_groups.py"
MIGRATION_0025 = MIGRATIONS / "0025_rollup_one_filter.py"
UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"_bench_mig_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cpu(pid: int) -> float:
    """utime + stime of process ``pid`` in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _variant(conn, name: str, new, old) -> None:
    if name == "0020":
        conn.execute(text(new._collect_cuts(groups=False)))
        conn.execute(text("ALTER FUNCTION case_event_collect_cuts() RESET jit; "
                          "ALTER FUNCTION case_event_collect_stats() RESET jit"))
    elif name == "main":
        conn.execute(text(new._collect_cuts(groups=True)))
        conn.execute(text("ALTER FUNCTION case_event_collect_cuts() SET jit = off; "
                          "ALTER FUNCTION case_event_collect_stats() SET jit = off"))
    elif name in ("0025", "0025_past"):
        trigger = _module(MIGRATION_0025)._collect_cuts(one=True)
        if name == "0025":  # "today" before the history: its events meet the trigger as reports arriving now
            assert "local_day(now())" in trigger
            trigger = trigger.replace("local_day(now())", "DATE '2000-01-01'")
        conn.execute(text(trigger))
        conn.execute(text("ALTER FUNCTION case_event_collect_cuts() SET jit = off; "
                          "ALTER FUNCTION case_event_collect_stats() SET jit = off"))
        # 0025: the mark before the history (each event on or after it, as reports arriving now);
        # 0025_past: after it, so every delta is a past one, added to case_stat_one straight away
        conn.execute(text("DELETE FROM case_stat_one"))
        conn.execute(text("UPDATE case_stat_one_mark SET folded_before = :d"),
                     {"d": "2000-01-01" if name == "0025" else "2100-01-01"})
    else:
        counters = ", ".join(f"{c} double precision NOT NULL DEFAULT 0" if c == "disposal_wh"
                             else f"{c} integer NOT NULL DEFAULT 0" for c in old.COUNTERS)
        conn.execute(text(new._collect_cuts(groups=False)))
        conn.execute(text(f"""
            CREATE TABLE case_stat_group_old (grain text NOT NULL, dim text NOT NULL, category_code text NOT NULL,
                day date NOT NULL, key_id integer NOT NULL, community_id integer NOT NULL,
                department_id integer NOT NULL, level text NOT NULL, channel text NOT NULL, {counters},
                PRIMARY KEY (grain, dim, category_code, day, key_id, community_id, department_id, level, channel));
            CREATE FUNCTION case_event_collect_groups_old() RETURNS trigger LANGUAGE plpgsql AS $f$
            BEGIN
                {old._collect("new_events", look_back=True).replace("case_stat_group", "case_stat_group_old")};
                RETURN NULL;
            END $f$;
            ALTER FUNCTION case_event_collect_groups_old() SET jit = off;
            ALTER FUNCTION case_event_collect_cuts() SET jit = off;
            ALTER FUNCTION case_event_collect_stats() SET jit = off;
            CREATE TRIGGER case_event_collect_groups_old AFTER INSERT ON case_event REFERENCING NEW TABLE AS new_events
                FOR EACH STATEMENT EXECUTE FUNCTION case_event_collect_groups_old()"""))


def _round(eng, name: str, cases: int, seed: int, new, old) -> tuple[float, float, int]:
    from sample_data.history import play_history
    from sample_data.load import copy_reports
    from sample_data.reports import generate_reports
    from sample_data.accounts import ACCOUNTS
    from sample_data.generate import DEFAULT_SEED, generate

    with eng.connect() as conn:
        tx = conn.begin()
        try:
            d = generate(DEFAULT_SEED)  # the district bench_engine loaded
            people = dict(conn.execute(text("SELECT username, id FROM person")).all())
            for a in ACCOUNTS:  # reports name the worker an account took over by the generated username
                if a.role == "grid_worker":
                    comm = next(c.code for c in d.communities if c.name == a.unit)
                    people[next(w.username for w in d.workers if w.community_code == comm)] = people[a.username]
            copy_reports(conn, generate_reports(d, cases, seed=seed, until=UNTIL), people)
            _variant(conn, name, new, old)
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            b0, p0, t0 = _cpu(pid), time.process_time(), time.perf_counter()
            played = play_history(conn, seed=seed, until=UNTIL, bulk=False)
            b1, p1 = _cpu(pid), time.process_time()
            wall = time.perf_counter() - t0
            fold_cpu = 0.0
            if name == "0025":  # then every day of the history folded at once (the job's work, apart)
                f0 = _cpu(pid)
                conn.execute(text("SELECT case_stat_one_fold(local_day(:t) + 1)"), {"t": UNTIL})
                fold_cpu = _cpu(pid) - f0
            groups = conn.execute(text("SELECT count(*) FROM case_stat_group")).scalar_one()
            ones = conn.execute(text("SELECT count(*) FROM case_stat_one")).scalar_one()
        finally:
            tx.rollback()
    events = played["events"]
    print(f"  {name}: events={events} backend_cpu_s={b1 - b0:.2f} player_cpu_s={p1 - p0:.2f} wall_s={wall:.1f} "
          f"case_stat_group_rows={groups} case_stat_one_rows={ones}"
          + (f" fold_cpu_s={fold_cpu:.2f} (the job, not counted above; per event {fold_cpu / played['events'] * 1000:.4f}"
             f" ms; its rows per event {ones / played['events']:.2f}: sparse history, few rows merge)" if fold_cpu else ""), flush=True)
    return (b1 - b0) / events * 1000, (b1 - b0 + p1 - p0) / events * 1000, events


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=4011)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--with-0020", action="store_true", help="also time 0020's trigger (no case_stat_group)")
    p.add_argument("--with-past", action="store_true", help="also time 0025 with every event in the past")
    p.add_argument("--old-migration", type=Path, help="an earlier case_stat_group migration to compare (variant 0019)")
    args = p.parse_args(argv)
    from bench.common import bench_engine

    new = _module(MIGRATION_0021)
    old = _module(args.old_migration) if args.old_migration else None
    eng = bench_engine(BENCH_DB, cases=0)
    names = ((["0020"] if args.with_0020 else []) + ["main", "0025"] + (["0025_past"] if args.with_past else [])
             + (["0019"] if old else []))
    best: dict[str, tuple[float, float]] = {}
    for r in range(args.rounds):
        print(f"round {r + 1} (load average {os.getloadavg()[0]:.1f})", flush=True)
        for name in names if r % 2 == 0 else names[::-1]:
            backend, total, _ = _round(eng, name, args.cases, args.seed, new, old)
            print(f"cpu_ms_per_event[{name}] backend={backend:.4f} backend+player={total:.4f}", flush=True)
            b = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(b[0], backend), min(b[1], total))
    for name, (backend, total) in best.items():
        print(f"best cpu_ms_per_event[{name}] backend={backend:.4f} backend+player={total:.4f}")
    if "main" in best:
        for name in best:
            if name != "main":
                print(f"added_backend_ms_per_event[{name}]={best[name][0] - best['main'][0]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
