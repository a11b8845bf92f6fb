"""Filtered indicators and trends (category, level, channel, department, area and their
combinations) read from the roll-up ``case_stat_cut`` equal the same figures computed straight
from the event log (``exact=True``), for whole months, periods that cut months and periods that
reach today; trends honour every filter.

The hand-built week of tests/stats/test_indicators.py, plus a WeChat report in C1 re-classified
from 0102 to 0401 at registration (its report counts under 0102, everything after under 0401)
and left dispatched, a report with an address only located later in C1 (待定位, then C1), one
never located and one outside every grid (辖区外); whatever else the shared test database holds
(the sample district) is compared too.
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
    # 待定位: U (0401, an address only) reported Tue, located in C1 on Wed, registered and dispatched;
    # V reported Thu with an address only and never located; O reported Thu outside every grid
    u = world.report("unlocated", category="0401", at=T(2025, 10, 14, 11, 0))["id"]
    service.transition(c, case_id=u, action="locate", actor=world["disp_d"], at=T(2025, 10, 15, 10, 0), lon=0.5, lat=0.5)
    service.transition(c, case_id=u, action="register", actor=world["disp_c1"], at=T(2025, 10, 15, 10, 5))
    service.transition(c, case_id=u, action="dispatch", actor=world["disp_c1"], at=T(2025, 10, 15, 10, 10),
                       department_id=world.dept["CGZF"])
    ids["U"] = u
    ids["V"] = world.report("unlocated", category="0401", at=T(2025, 10, 16, 9, 0))["id"]
    ids["O"] = world.report("outside", category="0401", at=T(2025, 10, 16, 9, 30))["id"]
    return ids


def _filters(w) -> list[dict]:
    return [
        {"category_code": "0102"},
        {"category_code": "0401"},
        {"category_code": "0401", "channel": "hotline"},
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


@pytest.mark.parametrize("by", ["subdistrict", "community", "department", "grid", "person"])
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


def test_rebuild_reproduces_the_trigger_rollups_by_group_and_cut(world, conn, history):
    """``case_stat_group`` (0021) and ``case_stat_cut`` (0010) as the triggers kept them equal
    ``rebuild_stats``'s recomputation from the event log (our history's days only, as in
    test_indicators.test_rebuild_reproduces_the_trigger_rollup)."""
    from stats.indicators import COUNTERS, rebuild_stats

    def rows(table: str, keys: str) -> list:
        sums = ", ".join(f"round({c}::numeric, 6)" if c == "disposal_wh" else c for c in COUNTERS)
        nonzero = " OR ".join(f"round({c}::numeric, 6) <> 0" if c == "disposal_wh" else f"{c} <> 0" for c in COUNTERS)
        return conn.execute(text(f"SELECT grain, day, {keys}, {sums} FROM {table} "
                                 f"WHERE day < '2026-01-01' AND ({nonzero}) ORDER BY grain, day, {keys}")).all()

    group_keys = "dim, category_code, key_id, community_id, department_id, level, channel"
    cut_keys = "community_id, department_id, category_code, level, channel"
    before = rows("case_stat_group", group_keys), rows("case_stat_cut", cut_keys)
    assert {r.dim for r in before[0]} == {"grid", "person"}
    rebuild_stats(conn)
    assert (rows("case_stat_group", group_keys), rows("case_stat_cut", cut_keys)) == before


def test_an_unlocated_report_counts_in_its_own_row_not_outside_the_jurisdiction(world, conn, history):
    """U and V reported with an address only: 待定位 reported 2, open at the end of the week 1 (V;
    U moved to C1 when it was located); 辖区外 holds O alone. C1 counts U's registration and
    holds it open; the total counts each case once."""
    week = dict(start=WEEK[0], end=WEEK[1], total=True)
    for kw in ({}, {"category_code": "0401"}, {"channel": "hotline"}):
        for exact in (False, True):
            rows = {r["name"]: r for r in indicators(conn, by="subdistrict", exact=exact, **week, **kw)}
            waiting, outside = rows["待定位"], rows["辖区外"]
            assert waiting["name_en"] == "Awaiting location" and outside["name_en"] == "Outside the jurisdiction"
            assert (waiting["reported"], waiting["registered"], waiting["open"]) == (2, 0, 1), (kw, exact)
            assert (outside["reported"], outside["registered"], outside["open"]) == (1, 0, 1), (kw, exact)
    mine = dict(category_code="0401", channel="hotline")  # (K, 0401 by WeChat, is open in C1 too)
    before = {r["name"]: r for r in indicators(conn, by="community", start=WEEK[0], end=date(2025, 10, 15), **mine)}
    assert before["待定位"]["open"] == 1 and before["测试社区C1"]["open"] == 0  # U, not yet located
    after = {r["name"]: r for r in indicators(conn, by="community", **week, **mine)}
    c1 = after["测试社区C1"]
    assert (c1["registered"], c1["open"]) == (2, 1)  # J (resolved on the spot) and U (dispatched, open)
    # an area table leaves both out
    only = {r["name"] for r in indicators(conn, by="community", subdistrict_id=world.sub["S1"], **week)}
    assert "待定位" not in only and "辖区外" not in only
    # the case as it stands, for the record
    assert conn.execute(text("SELECT array_agg(awaiting_location ORDER BY at, id) FROM case_event WHERE case_id = :u"),
                        {"u": history["U"]}).scalar_one() == [True, False, False, False]


@pytest.mark.parametrize("by", ["subdistrict", "community", "grid", "department", "person"])
def test_the_rollup_with_located_later_cases_equals_the_event_log_and_a_rebuild(world, conn, history, by):
    for start, end in (WEEK, OCTOBER, (date(2025, 10, 14), date(2025, 10, 16))):
        fast = indicators(conn, start=start, end=end, by=by, total=True)
        assert _same(fast, indicators(conn, start=start, end=end, by=by, total=True, exact=True)), (by, start, end)


def test_rebuild_keeps_the_awaiting_location_rows(world, conn, history):
    from stats.indicators import AWAITING_KEY, rebuild_stats

    q = text("SELECT dim, day, key_id, reported, open FROM case_stat_day WHERE dim = 'grid' AND key_id = :k "
             "AND day BETWEEN '2025-10-13' AND '2025-10-17' ORDER BY day")
    qc = text("SELECT grain, day, channel, reported, open FROM case_stat_cut WHERE community_id = :k "
              "AND day BETWEEN '2025-10-01' AND '2025-10-17' ORDER BY 1, 2, 3")
    before = conn.execute(q, {"k": AWAITING_KEY}).all(), conn.execute(qc, {"k": AWAITING_KEY}).all()
    # Tue: U reported (+1 open); Wed: U located (-1 open); Thu: V reported
    assert [(r.day.day, r.reported, r.open) for r in before[0]] == [(14, 1, 1), (15, 0, -1), (16, 1, 1)]
    rebuild_stats(conn)
    assert (conn.execute(q, {"k": AWAITING_KEY}).all(), conn.execute(qc, {"k": AWAITING_KEY}).all()) == before


def _one_rows(conn) -> list:
    from stats.indicators import COUNTERS

    nonzero = " OR ".join(f"round({c}::numeric, 6) <> 0" if c == "disposal_wh" else f"{c} <> 0" for c in COUNTERS)
    sums = ", ".join(f"round({c}::numeric, 6)" if c == "disposal_wh" else c for c in COUNTERS)
    return conn.execute(text(f"SELECT grain, dim, filter, value, day, key_id, community_id, {sums} FROM case_stat_one "
                             f"WHERE {nonzero} ORDER BY 1, 2, 3, 4, 5, 6, 7")).all()


def _mark(conn, day: date) -> None:
    """Move ``case_stat_one``'s mark W to ``day`` and make the table again (as folded up to it)."""
    from stats.indicators import refold_one

    conn.execute(text("UPDATE case_stat_one_mark SET folded_before = :d"), {"d": day})
    refold_one(conn)


ONE_FILTERS = ("category_code", "level", "channel", "department_id")


@pytest.mark.parametrize("mark", [date(2025, 10, 15), date(2025, 10, 1), date(2025, 9, 1)])
def test_one_filter_tables_with_the_mark_inside_the_history_equal_the_event_log(world, conn, history, mark):
    """``case_stat_one`` (0025) holds the days before its mark W; the days from W on come from the
    fine roll-ups: with W in the middle of the week, at a month's start and before every event,
    every grouping under one filter or two (with and without an area) equals the event log."""
    _mark(conn, mark)
    filters = [f for f in _filters(world) if len([k for k in f if k in ONE_FILTERS]) <= 2]
    filters += [{"subdistrict_id": world.sub["S1"]},  # and the pairs kept in case_stat_one beyond level + channel
                {"level": "community", "department_id": world.dept["CGZF"]},
                {"channel": "wechat", "department_id": world.dept["CGZF"], "subdistrict_id": world.sub["S1"]}]
    for by in ("subdistrict", "community", "department", "grid", "person"):
        for f in filters:
            for start, end in _periods(conn)[:3] + _periods(conn)[4:6]:
                fast = indicators(conn, start=start, end=end, by=by, total=True, **f)
                exact = indicators(conn, start=start, end=end, by=by, total=True, exact=True, **f)
                assert _same(fast, exact), (mark, by, f, start, end)


def test_one_filter_trends_with_the_mark_inside_the_history_equal_the_event_log(world, conn, history):
    _mark(conn, date(2025, 10, 16))
    cols = ("registered", "closed", "due", "closure_rate", "on_time_rate", "open", "overdue")
    for f in ({"category_code": "0401"}, {"level": "district"}, {"channel": "wechat", "subdistrict_id": world.sub["S1"]},
              {"department_id": world.dept["CGZF"]}, {"level": "community", "channel": "hotline"}):
        for row in trend(conn, start=WEEK[0], end=NEXT[1], freq="day", **f).to_dict("records"):
            p0 = row["period"]
            want = indicators(conn, start=p0, end=p0 + timedelta(days=1), by="subdistrict", total=True, exact=True, **f)[-1]
            got_row = {c: None if isinstance(row[c], float) and math.isnan(row[c]) else row[c] for c in cols}
            assert _same([got_row], [{c: want[c] for c in cols}]), (f, p0)


def test_an_event_on_a_new_day_does_not_fold_the_job_does_and_past_ones_go_straight_in(world, conn, history):
    """An event on a day after the mark W returns without folding (W stays; the fold is the
    scheduled job's, ``fold_due``); the job folds the fine rows of [W, today) and moves W; figures
    equal the event log before and after. An event dated before W is added to ``case_stat_one``
    at once. Either way the table equals one made again from the fine roll-ups up to the same mark."""
    from stats.indicators import fold_due, refold_one

    _mark(conn, date(2025, 10, 15))
    late = world.report("C1", category="0401", at=T(2025, 10, 20, 9, 0), channel="hotline")["id"]
    assert conn.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar_one() == date(2025, 10, 15)
    assert not any(r.day >= date(2025, 10, 15) and r.grain == "day" for r in _one_rows(conn))

    def equal_to_the_log():
        for by, f in (("grid", {"channel": "hotline"}), ("community", {"category_code": "0401"}),
                      ("department", {"level": "community"}), ("person", {"channel": "hotline"})):
            for start, end in ((date(2025, 10, 13), date(2025, 10, 21)), (date(2025, 10, 1), date(2025, 11, 1))):
                fast = indicators(conn, start=start, end=end, by=by, total=True, **f)
                exact = indicators(conn, start=start, end=end, by=by, total=True, exact=True, **f)
                assert _same(fast, exact), (by, f, start, end)

    equal_to_the_log()
    w = fold_due(conn)
    today = conn.execute(text("SELECT local_day(now())")).scalar_one()
    assert w is not None and date(2025, 10, 21) <= w <= today
    assert conn.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar_one() == w
    folded = _one_rows(conn)
    assert any(r.day == date(2025, 10, 16) and r.grain == "day" for r in folded)
    assert any(r.day == date(2025, 10, 20) and r.grain == "day" and r.filter == "channel" and r.value == "hotline"
               for r in folded)
    equal_to_the_log()
    refold_one(conn)
    assert _one_rows(conn) == folded
    # a past event: straight in (W stays)
    service.transition(conn, case_id=late, action="register", actor=world["disp_c1"], at=T(2025, 10, 20, 9, 5))
    world.report("C1", category="0102", at=T(2025, 10, 3, 9, 0), channel="wechat")
    assert conn.execute(text("SELECT folded_before FROM case_stat_one_mark")).scalar_one() == w
    kept = _one_rows(conn)
    assert any(r.day == date(2025, 10, 3) and r.filter == "channel" and r.value == "wechat" for r in kept)
    refold_one(conn)
    assert _one_rows(conn) == kept
    equal_to_the_log()


def test_which_roll_up_answers_two_filters():
    """Two filters of ``case_stat_one``'s pairs read it (any order of the filters, an area beside
    them); a category with another filter, three filters, and tables by department keep the fine
    roll-ups."""
    from stats.indicators import _rollup_for

    for by in ("grid", "community", "subdistrict", "person", "trend"):
        r = _rollup_for(by, {"channel": "hotline", "level": "community", "subdistrict_id": 3})[1]
        assert (r.table, r.params["o_filter"], r.params["o_value"]) == ("case_stat_one", "level+channel",
                                                                         "community|hotline"), by
        r = _rollup_for(by, {"department_id": 7, "channel": "wechat"})[1]
        assert (r.table, r.params["o_filter"], r.params["o_value"]) == ("case_stat_one", "channel+department_id",
                                                                         "wechat|7"), by
        assert _rollup_for(by, {"category_code": "0401", "channel": "wechat"})[1].table != "case_stat_one"
        assert _rollup_for(by, {"level": "district", "channel": "wechat", "department_id": 7})[1].table != "case_stat_one"
    assert _rollup_for("department", {"level": "district", "channel": "wechat"})[1].table == "case_stat_cut"


@pytest.mark.parametrize("by", ["subdistrict", "community", "grid", "department", "person"])
def test_a_period_reaching_today_unfiltered_and_by_area_equals_the_event_log(world, conn, history, by):
    """Unfiltered and under an area, a period that reaches today (the charts page's default) has
    the event log's figures, open cases included (V still waiting to be located under 待定位, O
    outside every grid under 辖区外)."""
    today = conn.execute(text("SELECT local_day(now())")).scalar_one()
    for start in (today.replace(day=1), today - timedelta(days=29), date(2025, 10, 13)):
        for f in ({}, {"subdistrict_id": world.sub["S1"]}, {"community_id": world.com["C1"]}):
            fast = indicators(conn, start=start, end=today + timedelta(days=1), by=by, total=True, **f)
            exact = indicators(conn, start=start, end=today + timedelta(days=1), by=by, total=True, exact=True, **f)
            assert _same(fast, exact), (by, f, start)
            assert fast[-1]["open"] >= 1


# --- the states of a period that ended: up from the first day, or back from now (migration 0029) ---

def _ended_periods() -> list[tuple[date, date]]:
    return [WEEK, OCTOBER, (date(2025, 10, 15), date(2025, 10, 17)), (date(2025, 9, 3), date(2025, 11, 28))]


@pytest.mark.parametrize("way", ["start", "end"])
def test_states_read_either_way_equal_the_event_log(world, conn, history, way, monkeypatch):
    """A period that ended reads its open and overdue states as the sum of every day before its
    end ("start") or as the open cases now minus every day's deltas from its end on, deadlines to
    come included ("end"): either way every grouping, unfiltered, under an area and under the
    page's filters, and the trends day by day, have the event log's figures."""
    import stats.indicators as ind

    monkeypatch.setattr(ind, "STATES_FROM", way)
    for by in ("subdistrict", "community", "grid", "department", "person"):
        for f in [{}, {"subdistrict_id": world.sub["S1"]}, {"community_id": world.com["C1"]}] + _filters(world)[:9]:
            for start, end in _ended_periods():
                fast = indicators(conn, start=start, end=end, by=by, total=True, **f)
                exact = indicators(conn, start=start, end=end, by=by, total=True, exact=True, **f)
                assert _same(fast, exact), (way, by, f, start, end)
    cols = ("registered", "closed", "due", "open", "overdue")
    for f in ({}, {"category_code": "0401"}, {"level": "district"}, {"channel": "wechat", "subdistrict_id": world.sub["S1"]}):
        for row in trend(conn, start=WEEK[0], end=NEXT[1], freq="day", **f).to_dict("records"):
            p0 = row["period"]
            want = indicators(conn, start=p0, end=p0 + timedelta(days=1), by="subdistrict", total=True, exact=True, **f)[-1]
            assert {c: row[c] for c in cols} == {c: want[c] for c in cols}, (way, f, p0)


def _plant_old_states(conn, day: date) -> None:
    """Every roll-up given, for each key it holds, rows dated ``day`` (both grains) with 1,000 open
    and overdue cases and no flows: deltas no event made, long before every period asked."""
    for table in ("case_stat_day", "case_stat_cut", "case_stat_group", "case_stat_one"):
        cols = [r[0] for r in conn.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position"),
            {"t": table})]
        counters = {"reported", "registered", "closed", "closed_np", "closed_on_time", "closed_lower", "closed_on_spot",
                    "disposal_wh", "verified", "reworked", "open", "overdue", "overdue_np"}
        values = [("1000" if c in ("open", "overdue", "overdue_np") else "0") if c in counters
                  else ("CAST(:day AS date)" if c == "day" else c) for c in cols]
        conn.execute(text(f"INSERT INTO {table} ({', '.join(cols)}) SELECT DISTINCT {', '.join(values)} FROM {table} "
                          f"ON CONFLICT DO NOTHING"), {"day": day})


def test_states_read_back_from_now_read_nothing_before_the_period(world, conn, history, monkeypatch):
    """With rows planted years before every period (1,000 open and overdue under each key), the
    states read back from now are untouched and still the event log's; read up from the first day
    they are not (so the planted rows are seen by a read that reaches them)."""
    import stats.indicators as ind

    _plant_old_states(conn, date(2001, 1, 1))
    kw = dict(start=OCTOBER[0], end=OCTOBER[1], total=True)
    for by, f in (("subdistrict", {}), ("grid", {"subdistrict_id": world.sub["S1"]}), ("community", {"level": "district"}),
                  ("person", {"channel": "wechat"}), ("department", {"category_code": "0401"}),
                  ("grid", {"level": "community", "channel": "hotline"})):
        exact = indicators(conn, by=by, exact=True, **kw, **f)
        monkeypatch.setattr(ind, "STATES_FROM", "end")
        assert _same(indicators(conn, by=by, **kw, **f), exact), (by, f)
        monkeypatch.setattr(ind, "STATES_FROM", "start")
        assert indicators(conn, by=by, **kw, **f)[-1]["open"] >= exact[-1]["open"] + 1000, (by, f)
    for f in ({}, {"category_code": "0401"}):
        monkeypatch.setattr(ind, "STATES_FROM", "end")
        back = trend(conn, start=WEEK[0], end=WEEK[1], freq="week", **f)
        monkeypatch.setattr(ind, "STATES_FROM", "start")
        up = trend(conn, start=WEEK[0], end=WEEK[1], freq="week", **f)
        want = indicators(conn, start=WEEK[0], end=WEEK[1], by="subdistrict", total=True, exact=True, **f)[-1]
        assert (back["open"][0], back["overdue"][0]) == (want["open"], want["overdue"]), f
        assert up["open"][0] >= want["open"] + 1000, f


def test_a_trend_read_back_from_now_takes_a_deadline_years_ahead(world, conn, history, monkeypatch):
    """A deadline set years ahead (the working calendar ends in 2050) dates its overdue delta
    there: read back from now, that row is in the sum of the states and not among the days drawn."""
    import stats.indicators as ind

    k = world.report("C1", category="0401", at=T(2025, 10, 14, 9, 0))["id"]
    service.transition(conn, case_id=k, action="register", actor=world["disp_c1"], at=T(2025, 10, 14, 9, 5))
    service.transition(conn, case_id=k, action="dispatch", actor=world["disp_c1"], at=T(2025, 10, 14, 9, 10),
                       department_id=world.dept["CGZF"], due_at=T(2049, 6, 1, 9, 0), due_reason="长期整治")
    monkeypatch.setattr(ind, "STATES_FROM", "end")
    cols = ("registered", "closed", "due", "open", "overdue")
    for f in ({}, {"category_code": "0401"}):
        for row in trend(conn, start=WEEK[0], end=NEXT[1], freq="week", **f).to_dict("records"):
            p0 = row["period"]
            p1 = min(NEXT[1], p0 + timedelta(days=7 - p0.weekday()))
            want = indicators(conn, start=p0, end=p1, by="subdistrict", total=True, exact=True, **f)[-1]
            assert {c: row[c] for c in cols} == {c: want[c] for c in cols}, (f, p0)
