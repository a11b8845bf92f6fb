"""Filtered indicators and trends (category, level, channel, department, area and their
combinations) read from the roll-up ``case_stat_cut`` equal the same figures computed straight
from the event log (``exact=True``), for whole months, periods that cut months and periods that
reach today; trends honour every filter.

The hand-built week of tests/stats/test_indicators.py, plus a WeChat report in C1 re-classified
from 0102 to 0401 at registration (its report counts under 0102, everything after under 0401)
and left dispatched; whatever else the shared test database holds (the sample district) is
compared too.
"""
from __future__ import annotations

import math

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from dispatch import service
from stats.indicators import indicators, trend
from tests.stats.test_indicators import NEXT, OCTOBER, WEEK, _history, _same
from tests.world import T


@pytest.fixture
def history(world):
    ids = _history(world)
    c = world.conn
    k = world.report("C1", category="0102", at=T(2025, 10, 14, 9, 0), channel="wechat")["id"]
    service.transition(c, case_id=k, action="register", actor=world["disp_c1"], at=T(2025, 10, 14, 9, 5),
                       category_code="0401")
    service.transition(c, case_id=k, action="dispatch", actor=world["disp_c1"], at=T(2025, 10, 14, 9, 10),
                       department_id=world.dept["CGZF"])
    ids["K"] = k
    return ids


def _filters(w) -> list[dict]:
    return [
        {"category_code": "0102"},
        {"category_code": "0401"},
        {"level": "district"},
        {"level": "community"},
        {"channel": "wechat"},
        {"channel": "hotline", "level": "community"},
        {"department_id": w.dept["HWC"]},
        {"department_id": w.dept["CGZF"], "category_code": "0401"},
        {"subdistrict_id": w.sub["S1"], "category_code": "0102"},
        {"community_id": w.com["C1"], "channel": "wechat"},
        {"subdistrict_id": w.sub["S2"], "department_id": w.dept["HWC"], "level": "district", "channel": "hotline"},
    ]


def _periods(conn) -> list[tuple[date, date]]:
    today = conn.execute(text("SELECT local_day(now())")).scalar_one()
    return [WEEK, OCTOBER, (date(2025, 10, 15), date(2025, 12, 3)), (today - timedelta(days=45), today + timedelta(days=1)),
            # ends near month boundaries: a month's rows minus the days outside the period
            (date(2025, 10, 2), date(2025, 10, 30)), (date(2025, 9, 3), date(2025, 11, 28)),
            (today - timedelta(days=29), today + timedelta(days=1))]  # the charts page's default


def test_the_reclassified_case_counts_its_report_under_its_first_category(world, conn, history):
    k = history["K"]
    got = conn.execute(text("SELECT action, category_code, channel FROM case_event WHERE case_id = :k ORDER BY at, id"),
                       {"k": k}).all()
    assert [tuple(r) for r in got] == [("report", "0102", "wechat"), ("register", "0401", "wechat"),
                                       ("dispatch", "0401", "wechat")]
    week = dict(start=WEEK[0], end=WEEK[1], by="subdistrict", total=True, channel="wechat")
    first = indicators(conn, category_code="0102", **week)[-1]
    later = indicators(conn, category_code="0401", **week)[-1]
    assert (first["reported"], first["registered"], first["open"]) == (1, 0, 0)
    assert (later["reported"], later["registered"], later["open"]) == (0, 1, 1)


@pytest.mark.parametrize("by", ["subdistrict", "community", "department"])
def test_filtered_indicators_from_the_rollup_equal_the_event_log(world, conn, history, by):
    for f in _filters(world):
        for start, end in _periods(conn):
            fast = indicators(conn, start=start, end=end, by=by, total=True, **f)
            exact = indicators(conn, start=start, end=end, by=by, total=True, exact=True, **f)
            assert _same(fast, exact), (by, f, start, end)


def test_the_filtered_week_has_the_hand_counted_figures(world, conn, history):
    """0102 in S1 (A B C H I, and G rejected; J is 0401, K reported under 0102 but re-classified):
    registered A B C H I = 5, closed A B C I = 4, on time A C I, overdue H."""
    tot = indicators(conn, start=WEEK[0], end=WEEK[1], by="community", subdistrict_id=world.sub["S1"],
                     category_code="0102", total=True)[-1]
    assert (tot["registered"], tot["closed"], tot["due"], tot["closed_on_time"], tot["overdue"]) == (5, 4, 5, 3, 1)


@pytest.mark.parametrize("freq", ["day", "week"])
def test_filtered_trends_equal_the_event_log_day_by_day(world, conn, history, freq):
    today = conn.execute(text("SELECT local_day(now())")).scalar_one()
    spans = [(WEEK[0], NEXT[1]), (today - timedelta(days=9), today + timedelta(days=1))]
    cols = ("registered", "closed", "due", "closure_rate", "on_time_rate", "rework_rate", "self_handled_share",
            "on_spot", "open", "overdue")
    for f in _filters(world):
        for start, end in spans:
            got = trend(conn, start=start, end=end, freq=freq, **f)
            for row in got.to_dict("records"):
                p0 = row["period"]
                p1 = min(end, p0 + timedelta(days=1 if freq == "day" else 7 - p0.weekday()))
                want = indicators(conn, start=max(p0, start), end=p1, by="subdistrict", total=True, exact=True, **f)[-1]
                got_row = {c: None if isinstance(row[c], float) and math.isnan(row[c]) else row[c] for c in cols}
                assert _same([got_row], [{c: want[c] for c in cols}]), (f, freq, p0)


def test_trends_follow_category_level_and_channel(world, conn, history):
    """Before, trends ignored these filters: now the week's registered count follows them."""
    kw = dict(start=WEEK[0], end=WEEK[1], freq="week")
    assert trend(conn, **kw)["registered"].sum() >= 9
    assert trend(conn, category_code="0401", channel="wechat", **kw)["registered"].sum() == 1
    assert trend(conn, level="district", subdistrict_id=world.sub["S2"], **kw)["registered"].sum() == 0  # D: registered at community


def test_cut_segments_count_every_day_of_the_period_once():
    """Months expanded into their days, the signed ranges of ``cut_segments`` cover [d0, d1)
    exactly once (flows) and every day before the state's day exactly once (open, overdue)."""
    import random

    from stats.indicators import cut_segments

    def days(segs) -> dict[date, int]:
        out: dict[date, int] = {}
        for grain, f, t, sign in segs:
            f = max(f, date(2024, 1, 1))
            d = f
            while d < t:
                out[d] = out.get(d, 0) + sign
                d += timedelta(days=1)
            if grain == "month":
                assert f.day == 1 and t.day == 1
        return {d: n for d, n in out.items() if n}

    def span(a, b) -> dict[date, int]:
        return {a + timedelta(days=i): 1 for i in range((b - a).days)}

    rnd = random.Random(12)
    for _ in range(400):
        d0 = date(2025, 1, 1) + timedelta(days=rnd.randrange(500))
        d1 = d0 + timedelta(days=rnd.randrange(1, 120))
        x = d1 + timedelta(days=rnd.randrange(0, 3))
        segs = cut_segments(d0, d1, x, d1)
        assert days(segs["flows"]) == span(d0, d1), (d0, d1)
        assert days(segs["open"]) == span(date(2024, 1, 1), x), x
        assert days(segs["overdue"]) == span(date(2024, 1, 1), d1), d1
        cost = sum((t - f).days if g == "day" else 6 * ((t.year - f.year) * 12 + t.month - f.month)
                   for g, f, t, _ in segs["flows"])
        assert cost <= (d1 - d0).days  # never more than reading the period's days
