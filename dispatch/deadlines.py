"""Time limits (处置时限) and deadlines on the working clock.

- The limit of a case comes from ``time_limit_policy`` (category × level → value + unit,
  working_hours | working_days); a category/level without a row gets ``DEFAULT_LIMIT``.
- ``due_at`` is computed when the case is dispatched (from the dispatch instant) and stored;
  a dispatcher may override it with a reason; an approved postponement moves it.
- ``warn_at`` is stored with it: the instant from which less than a fifth
  (``AT_RISK_FRACTION``) of the working time between the start of the clock and ``due_at`` is
  left. "At risk" (临期) is ``warn_at <= now < due_at`` — see dispatch/queries.py, which holds
  the one SQL definition of overdue and at-risk.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from db.models import TimeLimitPolicy
from dispatch.calendar import WorkingCalendar, from_epoch, to_epoch

DEFAULT_LIMIT: tuple[float, str] = (5.0, "working_days")
AT_RISK_FRACTION = 0.2  # at risk when less than a fifth of the time is left


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


def working_hours_left(cal: WorkingCalendar, now: datetime, due: datetime) -> float:
    """Working hours from ``now`` to ``due`` (negative once overdue)."""
    return cal.working_hours_between(now, due)
