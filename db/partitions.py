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

MONTHS_AHEAD = 3
PARTITIONED = {"cases": "reported_at", "case_event": "at"}


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
