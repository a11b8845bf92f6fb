"""Command line of the indicators (registered by manage.py).

- ``python manage.py indicators --from 2026-10-01 --to 2026-10-31 --by subdistrict`` prints the
  indicator table (both dates included; ``--lang en``, ``--csv`` for machine-readable output).
- ``python manage.py rebuild-stats`` recomputes the indicator roll-up from the event log.
- ``python manage.py fold-stats`` folds the days before today into the one-filter roll-up
  (``case_stat_one``): what the app's timer and pg_cron run hourly (``stats.indicators.fold_due``).
"""
from __future__ import annotations

import csv
import sys
from datetime import date, timedelta

from db.engine import command_engine


def cmd_indicators(args) -> int:
    from stats.indicators import TABLE_COLUMNS, format_table, indicators

    start, last = date.fromisoformat(args.date_from), date.fromisoformat(args.date_to)
    if last < start:
        raise ValueError(f"--to {last} is before --from {start}")
    with command_engine(getattr(args, "test", False)).connect() as conn:
        rows = indicators(conn, start=start, end=last + timedelta(days=1), by=args.by, total=True,
                          category_code=args.category, exact=args.exact)
    if args.csv:
        w = csv.writer(sys.stdout)
        cols = ["id", "code", "name", *TABLE_COLUMNS]
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
        return 0
    title = (f"{start} – {last}  按{ {'subdistrict': '街道', 'community': '社区', 'grid': '网格', 'department': '部门', 'person': '人员'}[args.by] }"
             if args.lang == "zh" else f"{start} – {last}  by {args.by}")
    print(title)
    print(format_table(rows, lang=args.lang))
    return 0


def cmd_rebuild_stats(args) -> int:
    from stats.indicators import rebuild_stats

    with command_engine(getattr(args, "test", False)).begin() as conn:
        n = rebuild_stats(conn)
    print(f"case_stat_day rebuilt: {n} rows")
    return 0


def cmd_fold_stats(args) -> int:
    from stats.indicators import fold_due

    with command_engine(getattr(args, "test", False)).begin() as conn:
        w = fold_due(conn)
    if w is None:
        print("not folded: a writer of past-dated events holds the fold's lock; run again later")
        return 1
    print(f"case_stat_one holds every day before {w}")
    return 0


def register_commands(register) -> None:
    def conf_indicators(p):
        p.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
        p.add_argument("--to", dest="date_to", required=True, help="last day (included), YYYY-MM-DD")
        p.add_argument("--by", choices=("subdistrict", "community", "grid", "department", "person"), default="subdistrict")
        p.add_argument("--category", help="only this case category (4-digit code)")
        p.add_argument("--exact", action="store_true", help="compute from the event log instead of the daily roll-up")
        p.add_argument("--lang", choices=("zh", "en"), default="zh")
        p.add_argument("--csv", action="store_true", help="CSV on stdout")
        p.add_argument("--test", action="store_true", help="act on the test database")

    def conf_rebuild(p):
        p.add_argument("--test", action="store_true", help="act on the test database")

    register("indicators", cmd_indicators, "print the indicator table (考核) for a period", conf_indicators)
    register("rebuild-stats", cmd_rebuild_stats, "recompute the indicator roll-up from the event log", conf_rebuild)
    register("fold-stats", cmd_fold_stats, "fold the days before today into the one-filter roll-up (the hourly job)",
             conf_rebuild)
