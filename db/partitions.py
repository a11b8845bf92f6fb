"""Month partitions of the case and event tables (migration 0024; docs/scale.md, *Years of cases*).

``cases`` is partitioned by month of ``reported_at``, ``case_event`` by month of ``at`` (months of
the command centre's clock, Asia/Shanghai), each with a DEFAULT partition so an insert never
fails for want of a month. The SQL function ``ensure_case_partitions(months_ahead, since)`` makes
the missing months and moves rows waiting in a DEFAULT partition into their month, in the
caller's transaction (pg_cron; a loader before anyone reads). A server in service uses
``make_partitions`` instead (the app's ticker, ``db.schedule``): one month per transaction
(``ensure_case_partition``, migration 0027) under a short lock time-out, retried, so the ACCESS
EXCLUSIVE lock ATTACH PARTITION takes on the DEFAULT partition is held for one scan of DEFAULT,
never for minutes of moves (issue 12 §6). Tests and benchmarks use ``partition_list`` to see
where rows landed.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from db.config import TIME_ZONE

log = logging.getLogger(__name__)

MONTHS_AHEAD = 3
# make_partitions: how long one month's transaction waits for a lock before it gives up (and is
# retried): well under the pages' lock time-out (db.engine, 3 s), since a waiting ACCESS EXCLUSIVE
# request holds up every reader that comes after it
MOVE_LOCK_TIMEOUT_MS = 500
MOVE_TRIES = 5
PARTITIONED = {"cases": "reported_at", "case_event": "at"}

# The months (Asia/Shanghai, as the partitions) holding an open case, by a skip scan of the
# partial index case_key_open_idx (one probe per month).
_OPEN_MONTHS = f"""
    WITH RECURSIVE m(month) AS (
        SELECT date_trunc('month', min(reported_at) AT TIME ZONE '{TIME_ZONE}') FROM case_key WHERE ended_at IS NULL
      UNION ALL
        SELECT (SELECT date_trunc('month', min(k.reported_at) AT TIME ZONE '{TIME_ZONE}') FROM case_key k
                WHERE k.ended_at IS NULL AND k.reported_at >= (m.month + interval '1 month') AT TIME ZONE '{TIME_ZONE}')
        FROM m WHERE m.month IS NOT NULL
    )
    SELECT month FROM m WHERE month IS NOT NULL"""
# ... and those holding a case ended since :since (case_key_ended_idx) or with an event since
# :since (the event log's months from :since on, its cases' report times from the key table).
_ENDED_MONTHS = f"""
    UNION SELECT date_trunc('month', reported_at AT TIME ZONE '{TIME_ZONE}') FROM case_key
          WHERE ended_at >= CAST(:since AS timestamptz)"""
# Each case once, probed in the key table by its id (LIMIT 1 keeps the probe a probe: as a join
# the planner hashed the whole key table, 20 ms at 24 months of 20,000 cases, growing with them).
_EVENT_MONTHS = f"""
    UNION SELECT date_trunc('month', k.reported_at AT TIME ZONE '{TIME_ZONE}')
          FROM (SELECT DISTINCT e.case_id FROM case_event e WHERE e.at >= CAST(:since AS timestamptz)) x
          CROSS JOIN LATERAL (SELECT reported_at FROM case_key WHERE id = x.case_id LIMIT 1) k"""


@dataclass(frozen=True)
class Partition:
    table: str          # the parent: cases or case_event
    name: str           # cases_p2026_12, case_event_default, ...
    lower: datetime | None  # None for the DEFAULT partition
    upper: datetime | None


def ensure_partitions(conn: Connection, months_ahead: int = MONTHS_AHEAD, since: datetime | None = None) -> int:
    """Make every missing month from ``since``'s month (default: this month) to ``months_ahead``
    months ahead, and every month with rows in a DEFAULT partition (moved into it). Returns how
    many partitions were made. Runs in the caller's transaction, which then holds each DEFAULT
    partition a month was attached beside in ACCESS EXCLUSIVE mode to its end: for a loader
    before anyone reads; a server in service calls ``make_partitions``."""
    if months_ahead < 0:
        raise ValueError(f"months_ahead must be 0 or more, not {months_ahead}")
    return conn.execute(text("SELECT ensure_case_partitions(:n, :since)"),
                        {"n": months_ahead, "since": since}).scalar_one()


@dataclass
class PartitionRun:
    """What ``make_partitions`` did: months made, lock time-outs met (each retried), the months
    it gave up on (left for the next run), seconds spent."""
    made: int = 0
    lock_waits: int = 0
    left: list[tuple[str, datetime]] = field(default_factory=list)
    seconds: float = 0.0


def months_due(conn: Connection, months_ahead: int = MONTHS_AHEAD,
               since: datetime | None = None) -> list[tuple[str, datetime, bool]]:
    """The missing months ``ensure_partitions`` would make: (table, month as local midnight of its
    first day, whether rows wait for it in DEFAULT), oldest first per table."""
    if months_ahead < 0:
        raise ValueError(f"months_ahead must be 0 or more, not {months_ahead}")
    return [tuple(r) for r in conn.execute(text("SELECT tbl, month, waiting FROM case_partitions_due(:n, :since)"),
                                           {"n": months_ahead, "since": since}).all()]


def make_partitions(engine: Engine, months_ahead: int = MONTHS_AHEAD, since: datetime | None = None, *,
                    lock_timeout_ms: int = MOVE_LOCK_TIMEOUT_MS, tries: int = MOVE_TRIES) -> PartitionRun:
    """Make the months ``ensure_partitions`` would, one month of one table per transaction, each
    with ``lock_timeout_ms``: a month whose locks are not granted in time is rolled back and tried
    again after a pause (up to ``tries`` times, then left for the next run, in ``left``). A reader
    of ``cases`` thus waits at most about ``lock_timeout_ms`` plus one scan of the DEFAULT partition
    (ATTACH checks it), whatever the number of rows waiting there."""
    if lock_timeout_ms <= 0 or tries < 1:
        raise ValueError(f"lock_timeout_ms must be positive and tries 1 or more, not {lock_timeout_ms}, {tries}")
    t0 = time.perf_counter()
    run = PartitionRun()
    with engine.connect() as conn:
        due = months_due(conn, months_ahead, since)
    for table, month, _waiting in due:
        for attempt in range(tries):
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
                    run.made += conn.execute(text("SELECT ensure_case_partition(:t, :m)"),
                                             {"t": table, "m": month}).scalar_one()
                break
            except DBAPIError as e:
                if getattr(e.orig, "pgcode", None) != "55P03":  # lock_not_available: anything else is an error
                    raise
                run.lock_waits += 1
                time.sleep(min(0.2 * 2 ** attempt, 2.0))  # let the readers queued meanwhile through
        else:
            run.left.append((table, month))
            log.warning("month partition %s %s: locks not granted in %d tries; left for the next run",
                        table, f"{month:%Y-%m}", tries)
    run.seconds = time.perf_counter() - t0
    return run


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


def _serial(conn: Connection, sql: str, params: dict) -> list:
    """The rows of ``sql`` planned without parallel workers. Its probes are costed as disk reads
    (a thousand of the key table's, some 18,000), so the planner starts two workers to share
    them: 6.5 ms where one process takes 1.6 ms (at 24 months of 20,000 cases; the key table is
    in memory). Set for the transaction (``set_config(…, true)``) and put back after the
    statement: nothing outlives the transaction, and an error's rollback puts it back too (on an
    autocommit connection the setting lasts one statement: no effect, nothing left behind)."""
    old = conn.execute(text(
        "SELECT old, set_config('max_parallel_workers_per_gather', '0', true) FROM "
        "(SELECT current_setting('max_parallel_workers_per_gather') AS old OFFSET 0) s")).scalar()
    rows = conn.execute(text(sql), params).all()
    conn.execute(text("SELECT set_config('max_parallel_workers_per_gather', :v, true)"), {"v": old})
    return rows


def _partitioned(conn: Connection) -> bool:
    """Whether ``cases`` is partitioned with its key table (asked once per database connection:
    the schema does not change under it)."""
    info = conn.info
    if "cases_partitioned" not in info:
        info["cases_partitioned"] = bool(conn.execute(text(
            "SELECT c.relkind = 'p' AND to_regclass('case_key') IS NOT NULL FROM pg_class c "
            "WHERE c.oid = to_regclass('cases')")).scalar())
    return info["cases_partitioned"]


def case_bound(conn: Connection, case_id: int, alias: str = "c", *, events: bool = False,
               reported_at: datetime | None = None) -> str:
    """SQL naming where case ``case_id``'s rows lie, for a query that reads one case by its id:
    over ``cases`` (alias ``alias``) its ``reported_at``, so the planner keeps the one month that
    holds it; over ``case_event`` (``events=True``) the months from its report on (an event is never
    earlier than its case's report: the lifecycle refuses a step before it, docs/scale.md), so
    every earlier month is pruned. The report time is read from ``case_key`` (one primary-key
    probe) and written in as a literal, so the pruning happens at plan time: planning a case's
    page costs one month, not every month of history.

    TRUE when the tables are not partitioned, or when the key table does not know the case (the
    query then finds what it would have found without the bound: nothing, or a case made in
    this transaction after the call). ``reported_at``: the case's, when the caller holds its row
    (no probe then)."""
    if not _partitioned(conn):
        return "TRUE"
    at = reported_at if reported_at is not None else conn.execute(
        text("SELECT reported_at FROM case_key WHERE id = :i"), {"i": case_id}).scalar()
    if at is None:
        return "TRUE"
    return (f"{alias}.at >= TIMESTAMPTZ '{at.isoformat()}'" if events
            else f"{alias}.reported_at = TIMESTAMPTZ '{at.isoformat()}'")


def numbers(conn: Connection) -> str:
    """The table to look a case's id up by its number in, or its duplicates up by ``duplicate_of``
    (reading ``id``, ``case_no``, ``reported_at``): ``case_key`` (one index, where ``cases`` would
    plan and read every month's), or ``cases`` when the tables are not partitioned."""
    return "case_key" if _partitioned(conn) else "cases"


def live_months(conn: Connection, alias: str = "c", *, since: datetime | None = None, events: bool = True) -> str:
    """SQL over ``cases`` (alias ``alias``): the case lies in a month that holds an open case, or
    in this month; with ``since``, also in a month holding a case that ended (closed, rejected
    or merged: ``case_key.ended_at``) or has an event since ``since``, or in a month from
    ``since``'s to this one (``events=False``: the cases with a step since then are not looked
    up; for queries that select cases by their end). TRUE when the tables are not partitioned.

    AND it to a query over open cases (or, with ``since``, over cases reported, ended or with a
    step since then) and the planner prunes every other month: its planning stays flat as closed
    months pile up, where without it every month's partition and indexes are planned
    (docs/scale.md, *What it costs, and the planner*). The bounds are written into the SQL as
    literals, so the pruning happens at plan time (DEFAULT and the months made ahead are pruned
    too, unless a case known to the key table lies there). A case reported into another month
    (an old one, or one ahead: a clock running fast), or reopened there, between this call and
    the query is missed by that query only (the next refresh sees it).
    """
    if not _partitioned(conn):
        return "TRUE"
    sql = (_OPEN_MONTHS + (_ENDED_MONTHS if since is not None else "")
           + (_EVENT_MONTHS if since is not None and events else "")
           # ... and every month from since's (or this one) to this one
           + f" UNION SELECT generate_series(date_trunc('month', LEAST(now(), CAST(:since AS timestamptz)) AT TIME ZONE "
             f"'{TIME_ZONE}'), date_trunc('month', now() AT TIME ZONE '{TIME_ZONE}'), interval '1 month')")
    sql = (f"SELECT month AT TIME ZONE '{TIME_ZONE}', (month + interval '1 month') AT TIME ZONE '{TIME_ZONE}' "
           f"FROM ({sql}) s(month) ORDER BY month")
    ranges: list[list] = []
    rows = (_serial(conn, sql, {"since": since}) if since is not None and events
            else conn.execute(text(sql), {"since": since}).all())
    for lo, hi in rows:
        if ranges and ranges[-1][1] == lo:
            ranges[-1][1] = hi
        else:
            ranges.append([lo, hi])
    col = f"{alias}.reported_at"
    return "(" + " OR ".join(f"({col} >= TIMESTAMPTZ '{lo.isoformat()}' AND {col} < TIMESTAMPTZ '{hi.isoformat()}')"
                             for lo, hi in ranges) + ")"
