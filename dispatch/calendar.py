"""Working calendar (工作日历) and working-time arithmetic, Asia/Shanghai.

A *working clock* maps an instant to the number of working seconds since 2000-01-01; it stands
still outside working periods, at weekends and on public holidays, and runs on make-up working
days (调休). Adding working time is ``unclock(clock(t) + n)``; working time between two instants
is ``clock(b) - clock(a)``. One numpy implementation serves single timestamps (the service) and
millions at once (the history simulator), so both agree to the second.

Data (migration 0002, editable): ``working_period`` (default 08:30–12:00 and 13:30–17:30) and
``calendar_day`` (every day 2004–2026 seeded from the ``chinesecalendar`` package: workday,
weekend, holiday, makeup_workday; add rows of kind ``closure`` for local closures). A day with
no row follows the weekday rule (Monday–Friday work). ``WorkingCalendar.from_db(conn)`` reads
both (cached until the tables change); ``WorkingCalendar.default()`` builds the same calendar
from the package without a database.

Conventions
- Working instants are the closed periods [start, end]; an action at 12:00 or 17:30 is at
  working time.
- ``add_working_hours(t, h)`` with h > 0 returns the earliest instant at which h working hours
  have elapsed: ending exactly at 12:00 gives 12:00, not 13:30.
- ``add_working_days(t, n)`` for a whole n: the close of business (end of the last period) of
  the n-th working day after the day of t; the day of t is not counted (期间开始之日不计算在内).
  A fractional n counts n × (working hours of a day) on the clock instead.
- Naive datetimes are read as Asia/Shanghai wall time; results are aware, in Asia/Shanghai.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from db.config import TIME_ZONE

TZ = ZoneInfo(TIME_ZONE)
_OFFSET = 8 * 3600  # Asia/Shanghai has been UTC+8 without DST since 1991
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2050, 12, 31)
_N_DAYS = (LAST_DAY - FIRST_DAY).days + 1
_BASE = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=timezone.utc).timestamp() - _OFFSET
DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
UNITS = ("working_hours", "working_days")


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def to_epoch(t: datetime) -> float:
    """UTC epoch seconds of ``t``; a naive ``t`` is Asia/Shanghai wall time."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=TZ)
    return t.timestamp()


def from_epoch(s: float) -> datetime:
    return datetime.fromtimestamp(round(float(s), 6), TZ)


class WorkingCalendar:
    """Working periods of a day plus which days are working days."""

    def __init__(self, periods: Sequence[tuple[time, time]], days: Mapping[date, bool] | None = None):
        periods = sorted(periods)
        if not periods:
            raise ValueError("a working calendar needs at least one working period")
        for (s, e) in periods:
            if e <= s:
                raise ValueError(f"working period {s}–{e} ends before it starts")
        for (_, e1), (s2, _) in zip(periods, periods[1:]):
            if s2 < e1:
                raise ValueError(f"working periods overlap at {s2}")
        self.periods = tuple(periods)
        self._p_start = np.array([_secs(s) for s, _ in periods], dtype=np.float64)
        self._p_end = np.array([_secs(e) for _, e in periods], dtype=np.float64)
        self._p_len = self._p_end - self._p_start
        self._p_cum_end = np.cumsum(self._p_len)
        self._p_cum_start = self._p_cum_end - self._p_len
        self.day_seconds = float(self._p_len.sum())
        idx = np.arange(_N_DAYS)
        working = ((FIRST_DAY.weekday() + idx) % 7) < 5
        for d, w in (days or {}).items():
            i = (d - FIRST_DAY).days
            if 0 <= i < _N_DAYS:
                working[i] = bool(w)
        self._working = working
        self._cum = np.concatenate(([0.0], np.cumsum(working * self.day_seconds)[:-1]))
        self._cum_end = self._cum + working * self.day_seconds
        self._wd_count = np.cumsum(working)

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def default(cls) -> "WorkingCalendar":
        """Default periods and the official Chinese calendar from the ``chinesecalendar`` package."""
        return cls(DEFAULT_PERIODS, {d: w for d, w, _, _ in chinese_calendar_days()})

    @classmethod
    def from_db(cls, conn) -> "WorkingCalendar":
        """The calendar stored in ``working_period`` and ``calendar_day`` (cached per content)."""
        from sqlalchemy import select, text

        from db.models import CalendarDay, WorkingPeriod

        # a fingerprint of both tables: a cached calendar is reused until either changes
        fp = conn.execute(text(
            "SELECT (SELECT count(*) || ':' || COALESCE(sum(hashtext(day::text || is_working::text)), 0) FROM calendar_day)"
            " || '/' || (SELECT string_agg(starts::text || '-' || ends::text, ',' ORDER BY starts) FROM working_period)"
        )).scalar_one()
        cal = _CACHE.get(fp)
        if cal is None:
            periods = [tuple(r) for r in conn.execute(
                select(WorkingPeriod.starts, WorkingPeriod.ends).order_by(WorkingPeriod.starts))]
            days = dict(conn.execute(select(CalendarDay.day, CalendarDay.is_working)).all())
            cal = cls(periods or DEFAULT_PERIODS, days)
            _CACHE.clear()
            _CACHE[fp] = cal
        return cal

    # --- days -----------------------------------------------------------------------------
    def _day_index(self, d: date) -> int:
        i = (d - FIRST_DAY).days
        if not 0 <= i < _N_DAYS:
            raise ValueError(f"{d} is outside the working calendar ({FIRST_DAY}–{LAST_DAY})")
        return i

    def is_working_day(self, d: date) -> bool:
        return bool(self._working[self._day_index(d)])

    def working_days(self, start: date, end: date) -> list[date]:
        """Working days in [start, end]."""
        i, j = self._day_index(start), self._day_index(end)
        return [FIRST_DAY + timedelta(days=int(k)) for k in np.nonzero(self._working[i:j + 1])[0] + i]

    # --- the clock, vectorised ------------------------------------------------------------
    def _split(self, utc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        loc = np.asarray(utc, dtype=np.float64) - _BASE
        day = np.floor(loc / 86400.0).astype(np.int64)
        if day.size and (day.min() < 0 or day.max() >= _N_DAYS):
            raise ValueError(f"a timestamp is outside the working calendar ({FIRST_DAY}–{LAST_DAY})")
        return day, loc - day * 86400.0

    def clock(self, utc) -> np.ndarray:
        """Working seconds since the calendar's first day for UTC epoch seconds ``utc``."""
        day, sec = self._split(np.atleast_1d(utc))
        within = np.clip(sec[:, None] - self._p_start[None, :], 0.0, self._p_len[None, :]).sum(axis=1)
        return self._cum[day] + self._working[day] * within

    def unclock(self, w) -> np.ndarray:
        """The earliest UTC epoch second at which the working clock reads ``w``."""
        w = np.atleast_1d(np.asarray(w, dtype=np.float64))
        day = np.searchsorted(self._cum_end, w, side="left")
        if day.size and day.max() >= _N_DAYS:
            raise ValueError(f"a deadline falls after the end of the working calendar ({LAST_DAY})")
        r = w - self._cum[day]
        p = np.minimum(np.searchsorted(self._p_cum_end, r, side="left"), len(self._p_len) - 1)
        sec = self._p_start[p] + (r - self._p_cum_start[p])
        return _BASE + day * 86400.0 + sec

    def add_seconds_v(self, utc, seconds) -> np.ndarray:
        return self.unclock(self.clock(utc) + np.asarray(seconds, dtype=np.float64))

    def add_days_v(self, utc, n) -> np.ndarray:
        """Close of business of the n-th working day after the day of each ``utc`` (n whole, ≥ 1)."""
        day, _ = self._split(np.atleast_1d(utc))
        n = np.broadcast_to(np.asarray(n, dtype=np.int64), day.shape)
        if n.size and n.min() < 1:
            raise ValueError("a limit in working days must be at least 1")
        j = np.searchsorted(self._wd_count, self._wd_count[day] + n, side="left")
        if j.size and j.max() >= _N_DAYS:
            raise ValueError(f"a deadline falls after the end of the working calendar ({LAST_DAY})")
        return _BASE + j * 86400.0 + self._p_end[-1]

    def add_limit_v(self, utc, values, units) -> np.ndarray:
        """Deadlines for many start instants: ``units`` 'working_hours' or 'working_days'."""
        utc = np.atleast_1d(np.asarray(utc, dtype=np.float64))
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), utc.shape)
        units = np.broadcast_to(np.asarray(units, dtype=object), utc.shape)
        bad = ~np.isin(units, UNITS)
        if bad.any():
            raise ValueError(f"unknown time-limit unit {units[bad][0]!r}; expected one of {UNITS}")
        if (values <= 0).any():
            raise ValueError("a time limit must be positive")
        whole_days = (units == "working_days") & (values == np.floor(values))
        secs = np.where(units == "working_hours", values * 3600.0, values * self.day_seconds)
        out = self.add_seconds_v(utc, secs)
        if whole_days.any():
            out[whole_days] = self.add_days_v(utc[whole_days], values[whole_days].astype(np.int64))
        return out

    def is_working_time_v(self, utc) -> np.ndarray:
        """Whether each instant lies in a working period (ends included) of a working day."""
        day, sec = self._split(np.atleast_1d(utc))
        inside = ((sec[:, None] >= self._p_start[None, :]) & (sec[:, None] <= self._p_end[None, :])).any(axis=1)
        return self._working[day] & inside

    # --- single timestamps ----------------------------------------------------------------
    def is_working_time(self, t: datetime) -> bool:
        return bool(self.is_working_time_v(to_epoch(t))[0])

    def working_seconds_between(self, a: datetime, b: datetime) -> float:
        """Working seconds from ``a`` to ``b`` (negative if ``b`` is before ``a``)."""
        c = self.clock(np.array([to_epoch(a), to_epoch(b)]))
        return float(c[1] - c[0])

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        return self.working_seconds_between(a, b) / 3600.0

    def add_working_seconds(self, t: datetime, seconds: float) -> datetime:
        return from_epoch(self.add_seconds_v(to_epoch(t), seconds)[0])

    def add_working_hours(self, t: datetime, hours: float) -> datetime:
        if hours <= 0:
            raise ValueError("add a positive number of working hours")
        return self.add_working_seconds(t, hours * 3600.0)

    def add_working_days(self, t: datetime, days: float) -> datetime:
        return self.add_limit(t, days, "working_days")

    def add_limit(self, t: datetime, value: float, unit: str) -> datetime:
        """The deadline ``value`` ``unit`` (working_hours | working_days) after ``t``."""
        return from_epoch(self.add_limit_v(to_epoch(t), value, unit)[0])

    def next_working_instant(self, t: datetime) -> datetime:
        """``t`` itself if it is working time, else the start of the next working period."""
        if self.is_working_time(t):
            return t.astimezone(TZ) if t.tzinfo else t.replace(tzinfo=TZ)
        return self.add_working_seconds(t, 1e-6).replace(microsecond=0)


_CACHE: dict[str, WorkingCalendar] = {}


def chinese_calendar_days(first: date | None = None, last: date | None = None) -> Iterable[tuple[date, bool, str, str | None]]:
    """(day, is_working, kind, holiday name) for every day the ``chinesecalendar`` package knows.

    kind: workday | weekend | holiday | makeup_workday (a weekend day worked in lieu, 调休).
    """
    import chinese_calendar as cc
    from chinese_calendar import constants

    first = first or date(min(constants.holidays).year, 1, 1)
    last = last or date(max(max(constants.holidays), max(constants.workdays)).year, 12, 31)
    d = first
    while d <= last:
        try:
            working = cc.is_workday(d)
            _, name = cc.get_holiday_detail(d)
        except NotImplementedError:
            break
        weekend = d.weekday() >= 5
        if working:
            kind = "makeup_workday" if weekend else "workday"
        else:
            kind = "holiday" if name else "weekend"
        yield d, working, kind, name
        d += timedelta(days=1)
