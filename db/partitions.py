"""Month partitions of the case and event tables (migration 0017; docs/scale.md, *Years of cases*).

``cases`` is partitioned by month of ``reported_at``, ``case_event`` by month of ``at`` (months of
the command centre's clock, Asia/Shanghai), each with a DEFAULT partition so an insert never
fails for want of a month. The SQL function ``ensure_case_partitions(months_ahead, since)`` makes
the missing months and moves rows waiting in a DEFAULT partition into their month; this module is
its Python side: the app's ticker (``db.schedule``) and pg_cron call it, tests and benchmarks use
``partition_list`` to see where rows landed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from db.config import TIME_ZONE

MONTHS_AHEAD = 3
PARTITIONED = {"cases": "reported_at", "case_event": "at"}

# The months (Asia/Shanghai, as the partitions) holding an open case, by a skip scan of the
# partial index case_key_open_idx (one probe per month), and those holding a case ended since
# :since (case_key_ended_idx); with the start of this month, so cases reported meanwhile are in.
_LIVE_MONTHS = f"""
    WITH RECURSIVE m(month) AS (
        SELECT date_trunc('month', min(reported_at) AT TIME ZONE '{TIME_ZONE}') FROM case_key WHERE ended_at IS NULL
      UNION ALL
        SELECT (SELECT date_trunc('month', min(k.reported_at) AT TIME ZONE '{TIME_ZONE}') FROM case_key k
                WHERE k.ended_at IS NULL AND k.reported_at >= (m.month + interval '1 month') AT TIME ZONE '{TIME_ZONE}')
        FROM m WHERE m.month IS NOT NULL
    ), months AS (
        SELECT month FROM m WHERE month IS NOT NULL
        UNION SELECT date_trunc('month', reported_at AT TIME ZONE '{TIME_ZONE}') FROM case_key
              WHERE ended_at >= CAST(:since AS timestamptz)
        UNION SELECT date_trunc('month', now() AT TIME ZONE '{TIME_ZONE}')
    )
    SELECT month AT TIME ZONE '{TIME_ZONE}', (month + interval '1 month') AT TIME ZONE '{TIME_ZONE}',
           month = date_trunc('month', now() AT TIME ZONE '{TIME_ZONE}')
    FROM months ORDER BY month"""


@dataclass(frozen=True)
class Partition:
    table: str          # the parent: cases or case_event
    name: str           # cases_p2026_12, case_event_default, ...
    lower: datetime | None  # None for the DEFAULT partition
    upper: datetime | None


def ensure_partitions(conn: Connection, months_ahead: int = MONTHS_AHEAD, since: datetime | None = None) -> int:
    """Make every missing month from ``since``'s month (default: this month) to ``months_ahead``
    months ahead, and every month with rows in a DEFAULT partition (moved into it). Returns how
    many partitions were made. Runs in the caller's transaction."""
    if months_ahead < 0:
        raise ValueError(f"months_ahead must be 0 or more, not {months_ahead}")
    return conn.execute(text("SELECT ensure_case_partitions(:n, :since)"),
                        {"n": months_ahead, "since": since}).scalar_one()


def is_partitioned(conn: Connection, table: str = "cases") -> bool:
    return conn.execute(text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:t)"),
                        {"t": table}).scalar() is True


def partition_list(conn: Connection, table: str) -> list[Partition]:
    """The partitions of ``table`` in month order, the DEFAULT one last."""
    if table not in PARTITIONED:
        raise ValueError(f"{table!r} is not a partitioned table (one of {sorted(PARTITIONED)})")
    rows = conn.execute(text("""
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = CAST(:t AS regclass)"""), {"t": table}).all()
    out = []
    for name, bound in rows:
        if bound == "DEFAULT":
            out.append(Partition(table, name, None, None))
            continue
        lo, hi = conn.execute(text(
            "SELECT CAST(:lo AS timestamptz), CAST(:hi AS timestamptz)"),
            {"lo": bound.split("'")[1], "hi": bound.split("'")[3]}).one()
        out.append(Partition(table, name, lo, hi))
    return sorted(out, key=lambda p: (p.lower is None, p.lower or datetime.min))


def partition_of(conn: Connection, table: str, row_id: int) -> str:
    """The partition that holds the row ``row_id`` of ``table`` (a test and diagnosis helper)."""
    if table not in PARTITIONED:
        raise ValueError(f"{table!r} is not a partitioned table (one of {sorted(PARTITIONED)})")
    return conn.execute(text(f"SELECT tableoid::regclass::text FROM {table} WHERE id = :id"),
                        {"id": row_id}).scalar_one()


def live_months(conn: Connection, alias: str = "c", *, since: datetime | None = None) -> str:
    """SQL over ``cases`` (alias ``alias``): the case lies in a month that holds an open case, a
    case ended since ``since`` (closed, rejected or merged: ``case_key.ended_at``), or in this
    month or later. TRUE when the tables are not partitioned.

    AND it to a query over open cases (or over cases open at some moment since ``since``: closed
    today, with an event today) and the planner prunes every other month: its planning stays
    flat as closed months pile up, where without it every month's partition and indexes are
    planned (docs/scale.md, *What it costs*). The bounds are written into the SQL as literals so
    the pruning happens at plan time. A case reported into an old month, or reopened there,
    between this call and the query is missed by that query only (the next refresh sees it).
    """
    info = conn.info
    if "cases_partitioned" not in info:  # per database connection: the schema does not change under it
        info["cases_partitioned"] = conn.execute(text(
            "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('cases')")).scalar() is True \
            and conn.execute(text("SELECT to_regclass('case_key') IS NOT NULL")).scalar()
    if not info["cases_partitioned"]:
        return "TRUE"
    rows = conn.execute(text(_LIVE_MONTHS), {"since": since}).all()
    ranges: list[list] = []
    for lo, hi, current in rows:
        if ranges and ranges[-1][1] == lo:
            ranges[-1][1] = hi
        else:
            ranges.append([lo, hi])
        if current:
            ranges[-1][1] = None  # this month and every later one
            break
    col = f"{alias}.reported_at"
    parts = [f"({col} >= TIMESTAMPTZ '{lo.isoformat()}'"
             + (f" AND {col} < TIMESTAMPTZ '{hi.isoformat()}')" if hi is not None else ")") for lo, hi in ranges]
    return "(" + " OR ".join(parts) + ")"
