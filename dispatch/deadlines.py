"""Time limits (处置时限) and deadlines on the working clock.

- The limit of a case comes from ``time_limit_policy`` (category × level → value + unit,
  working_hours | working_days); a category/level without a row gets ``DEFAULT_LIMIT``.
- ``due_at`` is computed when the case is dispatched (from the dispatch instant) and stored;
  a dispatcher may override it with a reason; an approved postponement moves it.
- ``warn_at`` is stored with it: the instant from which less than a fifth
  (``AT_RISK_FRACTION``) of the working time between the start of the clock and ``due_at`` is
  left. "At risk" (临期) is ``warn_at <= now < due_at`` — see dispatch/queries.py, which holds
  the one SQL definition of overdue and at-risk.
- ``accept_due_at`` (migration 0035): the lead department must accept (接收) a case it was sent
  within ``ACCEPT_LIMIT`` of working time — from the dispatch, or from the failed verification
  that sent it back for rework — and never later than ``due_at``. Stored like ``warn_at``;
  "not accepted in time" (超时未接收) is ``dispatch.queries.late_accept_sql``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from db.models import TimeLimitPolicy
from dispatch.calendar import WorkingCalendar, from_epoch, to_epoch

DEFAULT_LIMIT: tuple[float, str] = (5.0, "working_days")
AT_RISK_FRACTION = 0.2  # at risk when less than a fifth of the time is left
ACCEPT_LIMIT: tuple[float, str] = (1.0, "working_hours")  # a department takes up a case sent to it within this


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    warn_at: datetime
    value: float
    unit: str
    source: str  # 'policy' | 'default' | 'override'


def time_limit(conn: Connection, category_code: str | None, level: str | None) -> tuple[float, str, str]:
    """(value, unit, source) for a category at a level; source is 'policy' or 'default'."""
    if category_code and level:
        row = conn.execute(select(TimeLimitPolicy.value, TimeLimitPolicy.unit).where(
            TimeLimitPolicy.category_code == category_code, TimeLimitPolicy.level == level)).one_or_none()
        if row is not None:
            return float(row.value), row.unit, "policy"
    return DEFAULT_LIMIT[0], DEFAULT_LIMIT[1], "default"


def warn_instant(cal: WorkingCalendar, start: datetime, due: datetime) -> datetime:
    """The instant from which less than a fifth of the working time from ``start`` to ``due`` is left."""
    return from_epoch(warn_instants(cal, np.array([to_epoch(start)]), np.array([to_epoch(due)]))[0])


def warn_instants(cal: WorkingCalendar, start_utc: np.ndarray, due_utc: np.ndarray) -> np.ndarray:
    """Vectorised ``warn_instant`` over UTC epoch seconds."""
    c0, c1 = cal.clock(start_utc), cal.clock(due_utc)
    span = c1 - c0
    warn = cal.unclock(c0 + (1.0 - AT_RISK_FRACTION) * np.maximum(span, 0.0))
    return np.where(span > 0, np.minimum(warn, due_utc), due_utc)


def deadline(conn: Connection, cal: WorkingCalendar, *, category_code: str | None, level: str | None,
             start: datetime, override_due: datetime | None = None) -> Deadline:
    """The deadline of a case dispatched at ``start`` (or the override, if given)."""
    value, unit, source = time_limit(conn, category_code, level)
    if override_due is not None:
        due, source = override_due, "override"
    else:
        due = cal.add_limit(start, value, unit)
    return Deadline(due_at=due, warn_at=warn_instant(cal, start, due), value=value, unit=unit, source=source)


def accept_due(cal: WorkingCalendar, start: datetime, due: datetime | None) -> datetime:
    """The instant by which the lead department must accept a case sent to it at ``start``:
    ``ACCEPT_LIMIT`` of working time later, or the case's deadline if that comes first (a deadline
    already past when a rework starts does not make the acceptance late at once)."""
    return from_epoch(accept_dues(cal, np.array([to_epoch(start)]),
                                  np.array([np.nan if due is None else to_epoch(due)]))[0])


def accept_dues(cal: WorkingCalendar, start_utc: np.ndarray, due_utc: np.ndarray) -> np.ndarray:
    """Vectorised ``accept_due`` over UTC epoch seconds (NaN: no deadline)."""
    by = cal.add_limit_v(start_utc, ACCEPT_LIMIT[0], ACCEPT_LIMIT[1])
    with np.errstate(invalid="ignore"):
        return np.where(due_utc > start_utc, np.minimum(by, due_utc), by)


def start_missing_accept_clocks(conn: Connection) -> int:
    """Give the cases waiting for their department's 接收 that have no clock one (``manage.py
    migrate`` runs it after the migrations: cases dispatched before migration 0035 stored none, and
    the working calendar is not SQL) — from the dispatch, or for a case in rework from the failed
    verification (its ``verified_at``), with its deadline as it stands; the rule of ``accept_due``.
    Only rows without one are touched, so it can run any number of times. How many it set."""
    rows = conn.execute(text(
        "SELECT id, reported_at, extract(epoch FROM CASE WHEN status = 'rework' THEN verified_at "
        "ELSE dispatched_at END)::float8 AS start, extract(epoch FROM due_at)::float8 AS due FROM cases "
        "WHERE status IN ('dispatched', 'rework') AND accept_due_at IS NULL")).all()
    rows = [r for r in rows if r.start is not None]  # no time it was sent: nothing to count from
    if not rows:
        return 0
    by = accept_dues(WorkingCalendar.from_db(conn), np.array([r.start for r in rows]),
                     np.array([np.nan if r.due is None else r.due for r in rows]))
    conn.execute(text(
        "UPDATE cases c SET accept_due_at = to_timestamp(u.t) FROM unnest(CAST(:ids AS bigint[]), "
        "CAST(:rep AS timestamptz[]), CAST(:t AS float8[])) AS u(id, rep, t) "
        "WHERE c.id = u.id AND c.reported_at = u.rep AND c.accept_due_at IS NULL"),
        {"ids": [r.id for r in rows], "rep": [r.reported_at for r in rows], "t": [float(x) for x in by]})
    return len(rows)


def working_hours_left(cal: WorkingCalendar, now: datetime, due: datetime) -> float:
    """Working hours from ``now`` to ``due`` (negative once overdue)."""
    return cal.working_hours_between(now, due)
