"""Sample data on the command line (registered by manage.py).

- ``python manage.py load-sample [--cases N] [--seed S] [--until ISO] [--if-empty] [--test]
  [--into-shared-database]``: into the project's own local cluster; a database named by
  ``DATABASE_URL`` (``TEST_DATABASE_URL`` with ``--test``) only with ``--into-shared-database``,
  and never one that holds anything but the sample (``sample_data.load.real_data``).
- ``python manage.py play-history --seed 1 [--until ISO]`` plays every raw reported case without
  events forward (``sample_data.history``; the sample loader does this itself).
"""
from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime

from sample_data.generate import DEFAULT_SEED
from sample_data.load import DEFAULT_CASES


def _shared_database(test: bool) -> str | None:
    """The variable naming the target database when it is not this project's local cluster."""
    for var in (("TEST_DATABASE_URL", "DATABASE_URL") if test else ("DATABASE_URL",)):
        if os.environ.get(var):
            return var
    return None


def cmd_load_sample(args) -> int:
    from db.config import owner_database_url, test_owner_database_url
    from db.engine import get_engine
    from sample_data.accounts import login_hint, sample_password
    from sample_data.load import (RealDataPresent, SampleDataPresent, load_sample, password_works, real_data,
                                  retire_known_passwords, sample_loaded)

    shared = _shared_database(args.test)
    if shared and not args.into_shared_database:
        print(f"error: {shared} names a database outside this project's local cluster; the sample's nine "
              "accounts (admin among them) go there only when asked: add --into-shared-database", file=sys.stderr)
        return 1
    # the owner: the bulk load switches triggers off, which the application's role may not
    url = test_owner_database_url() if args.test else owner_database_url()
    until = _parse_until(args.until)
    engine = get_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        if sample_loaded(conn):
            moved = retire_known_passwords(conn, sample_password())
            if moved:
                print(f"sample accounts moved off the published password: {', '.join(moved)}")
            if args.if_empty:
                print("sample data already loaded: nothing to do")
                print(login_hint() if password_works(conn, sample_password()) else
                      "the sample accounts' password is not the one in var/sample-password (loaded by another "
                      "checkout?): give them one with `manage.py set-password`")
                return 0
            print("error: the sample district 211103 兴隆台区 is already loaded; load-sample never duplicates "
                  "or wipes data (use --if-empty to make this a no-op)", file=sys.stderr)
            return 1
        found = real_data(conn)
    if found:
        if args.if_empty:  # `make run` on a real install: serve it, load nothing
            print(f"the database holds real data ({found}): the sample is not loaded")
            return 0
        print(f"error: the database holds data that is not the sample's ({found}); the sample and its accounts "
              "are never loaded next to real data: use an empty database", file=sys.stderr)
        return 1
    try:
        with engine.begin() as conn:
            counts = load_sample(conn, cases=args.cases, seed=args.seed, until=until)
    except SampleDataPresent as e:  # another loader won the race
        if args.if_empty:
            print("sample data already loaded: nothing to do")
            return 0
        print(f"error: {e}", file=sys.stderr)
        return 1
    except RealDataPresent as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    history = counts.pop("history")
    timings = {k: v for k, v in counts.items() if k.startswith("seconds_")}
    print("sample district loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items() if k not in timings))
    if isinstance(history, dict):
        print("history: " + ", ".join(f"{k}={v}" for k, v in history.items()))
    elif history:
        print(f"history: {history}")
    print("timings: " + ", ".join(f"{k[8:]}={v}s" for k, v in timings.items())
          + f", total={time.perf_counter() - t0:.1f}s")
    print(login_hint())
    return 0


def cmd_play_history(args) -> int:
    from db.config import database_url, test_database_url
    from db.engine import get_engine
    from sample_data.history import play_history

    engine = get_engine(test_database_url() if args.test else database_url())
    with engine.begin() as conn:
        stats = play_history(conn, seed=args.seed, until=_parse_until(args.until))
    print(json.dumps(stats, ensure_ascii=False, default=str, indent=1))
    return 0


def _parse_until(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--until {value!r} is not an ISO date-time such as 2025-06-30T18:00+08:00") from None


def _configure(p) -> None:
    p.add_argument("--cases", type=int, default=DEFAULT_CASES, help=f"raw case reports to generate (default {DEFAULT_CASES})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--until", help="end of the two-month history, ISO date-time (default now)")
    p.add_argument("--if-empty", action="store_true", help="do nothing if the sample district is already loaded")
    p.add_argument("--test", action="store_true", help="act on the test database")
    p.add_argument("--into-shared-database", action="store_true",
                   help="allow loading into the database named by DATABASE_URL (never one holding real data)")


def _configure_play(p) -> None:
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--until", help="ISO timestamp; default now")
    p.add_argument("--test", action="store_true", help="act on the test database")


def register_commands(register) -> None:
    register("load-sample", cmd_load_sample,
             "load the synthetic sample district, accounts and case history (never duplicates or wipes)", _configure)
    register("play-history", cmd_play_history, "play raw reported cases forward into event histories", _configure_play)
