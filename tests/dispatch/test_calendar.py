"""Working-time arithmetic: lunch break, weekend, public holiday, make-up working day (调休)."""
from __future__ import annotations

from datetime import date, time

import numpy as np
import pytest
from sqlalchemy import text

from dispatch.calendar import DEFAULT_PERIODS, WorkingCalendar, to_epoch
from dispatch.deadlines import warn_instant
from tests.world import T

CAL = WorkingCalendar.default()


@pytest.mark.parametrize("start, hours, due, why", [
    (T(2026, 11, 23, 11, 0), 2, T(2026, 11, 23, 14, 30), "the lunch break 12:00–13:30 does not count"),
    (T(2026, 11, 23, 11, 0), 1, T(2026, 11, 23, 12, 0), "ending exactly at 12:00 stays at 12:00"),
    (T(2026, 11, 20, 16, 30), 4, T(2026, 11, 23, 11, 30), "Friday afternoon to Monday: the weekend does not count"),
    (T(2026, 9, 30, 16, 0), 4, T(2026, 10, 8, 11, 0), "National Day 1–7 October 2026 does not count"),
    (T(2026, 10, 9, 16, 0), 4, T(2026, 10, 10, 11, 0), "Saturday 10 October 2026 is a make-up working day"),
    (T(2026, 11, 23, 3, 0), 0.5, T(2026, 11, 23, 9, 0), "a night report starts the clock at 08:30"),
    (T(2026, 11, 21, 10, 0), 2, T(2026, 11, 23, 10, 30), "a Saturday report starts the clock on Monday"),
])
def test_add_working_hours(start, hours, due, why):
    assert CAL.add_working_hours(start, hours) == due, why
    assert CAL.working_hours_between(start, due) == pytest.approx(hours)


@pytest.mark.parametrize("start, days, due", [
    (T(2026, 11, 23, 10, 0), 1, T(2026, 11, 24, 17, 30)),   # next working day, close of business
    (T(2026, 11, 20, 10, 0), 1, T(2026, 11, 23, 17, 30)),   # over the weekend
    (T(2026, 9, 29, 10, 0), 2, T(2026, 10, 8, 17, 30)),     # 30 Sep, then the holiday, then 8 Oct
    (T(2026, 10, 9, 10, 0), 1, T(2026, 10, 10, 17, 30)),    # the make-up Saturday counts
    (T(2026, 10, 9, 10, 0), 2, T(2026, 10, 12, 17, 30)),
])
def test_add_working_days_ends_at_close_of_business(start, days, due):
    assert CAL.add_working_days(start, days) == due


def test_fractional_working_days_count_as_hours():
    assert CAL.add_working_days(T(2026, 11, 23, 8, 30), 0.5) == T(2026, 11, 23, 13, 45)  # 3h45 on the clock


def test_days_of_the_calendar():
    assert CAL.is_working_day(date(2026, 10, 10))          # make-up Saturday
    assert not CAL.is_working_day(date(2026, 10, 5))       # holiday Monday
    assert not CAL.is_working_day(date(2026, 11, 22))      # ordinary Sunday
    assert CAL.is_working_day(date(2031, 3, 4))            # beyond the package: weekday rule
    assert CAL.is_working_time(T(2026, 11, 23, 12, 0)) and not CAL.is_working_time(T(2026, 11, 23, 12, 1))


def test_vectorised_and_single_forms_agree():
    rng = np.random.default_rng(3)
    starts = to_epoch(T(2026, 9, 1)) + rng.uniform(0, 90 * 86400, 500)
    hours = rng.uniform(0.1, 40, 500)
    v = CAL.add_seconds_v(starts, hours * 3600)
    from dispatch.calendar import from_epoch
    for s, h, d in list(zip(starts, hours, v))[:50]:
        assert abs((CAL.add_working_hours(from_epoch(s), h) - from_epoch(d)).total_seconds()) < 1e-3
    assert CAL.is_working_time_v(v).all()


def test_at_risk_starts_when_a_fifth_of_the_time_is_left():
    start, due = T(2026, 11, 23, 11, 0), T(2026, 11, 23, 16, 30)   # 4 working hours
    assert warn_instant(CAL, start, due) == T(2026, 11, 23, 15, 42)  # 3h12 = 4/5 of 4h on the clock


def test_bad_periods_are_refused():
    with pytest.raises(ValueError):
        WorkingCalendar([(time(9), time(12)), (time(11), time(14))])


def test_database_calendar_matches_the_package_and_takes_local_closures(conn):
    db = WorkingCalendar.from_db(conn)
    assert db.periods == DEFAULT_PERIODS
    assert db.add_working_hours(T(2026, 9, 30, 16, 0), 4) == CAL.add_working_hours(T(2026, 9, 30, 16, 0), 4)
    conn.execute(text("UPDATE calendar_day SET is_working = false, kind = 'closure', name = '暴雪停工' "
                      "WHERE day = '2026-11-24'"))
    closed = WorkingCalendar.from_db(conn)
    assert closed.add_working_hours(T(2026, 11, 23, 17, 0), 1) == T(2026, 11, 25, 9, 0)
