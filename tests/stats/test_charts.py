"""stats.charts and stats.export: the tables behind 结案统计 and their files."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from openpyxl import load_workbook

from stats import charts as cd
from dispatch import service
from dispatch.calendar import TZ
from stats.export import labelled, to_csv, to_xlsx


@pytest.mark.parametrize("rate, want", [(1.0, "A"), (0.95, "A"), (0.9499, "B"), (0.85, "B"), (0.7, "C"),
                                        (0.69, "D"), (0.0, "D"), (None, "none")])
def test_grades_follow_the_on_time_rate_bands(rate, want):
    assert cd.grade(rate) == want


@pytest.mark.parametrize("preset, want", [
    ("this_month", (date(2026, 3, 1), date(2026, 3, 18))),
    ("last_month", (date(2026, 2, 1), date(2026, 3, 1))),
    ("last_30", (date(2026, 2, 16), date(2026, 3, 18))),
    ("this_year", (date(2026, 1, 1), date(2026, 3, 18))),
])
def test_periods_are_whole_days_end_exclusive(preset, want):
    assert cd.period(preset, date(2026, 3, 17)) == want


def test_a_custom_period_includes_its_last_day():
    assert cd.period("custom", date(2026, 3, 17), (date(2026, 3, 5), date(2026, 3, 1))) == (date(2026, 3, 1), date(2026, 3, 6))


def _closed_case(world, conn, where: str, *, level: str, on_time: bool = True):
    c = world.report(where)
    disp = {"C1": "disp_c1", "C2": "disp_c2", "C3": "disp_c3"}[where] if level != "district" else "disp_d"
    service.transition(conn, case_id=c["id"], action="register", actor=world[disp], level=level)
    if level == "district":
        disp = "disp_d"
    service.transition(conn, case_id=c["id"], action="close", actor=world[disp], comment="已处理")
    return c


def test_level_split_counts_self_handled_and_reported_up(world, conn):
    _closed_case(world, conn, "C1", level="community")
    _closed_case(world, conn, "C1", level="grid")
    _closed_case(world, conn, "C3", level="district")
    today = cd.today(conn)
    f = cd.ChartFilter(today, today + timedelta(days=1))
    df = cd.level_split(conn, f)
    s1 = df[df["name"] == "测试街道S1"].iloc[0]
    s2 = df[df["name"] == "测试街道S2"].iloc[0]
    assert (s1["self_handled"], s1["reported_up"]) == (2, 0)
    assert (s2["self_handled"], s2["reported_up"]) == (0, 1)
    total = df.iloc[-1]
    assert total["closed"] >= 3 and total["self_handled"] + total["reported_up"] == total["closed"]


def test_the_backlog_counts_open_cases_by_state_with_the_filters(world, conn):
    a = world.report("C1")
    world.report("C3")
    service.transition(conn, case_id=a["id"], action="register", actor=world["disp_c1"], level="community")
    today = cd.today(conn)
    f = cd.ChartFilter(today, today + timedelta(days=1), subdistrict_id=world.sub["S1"])
    df = cd.open_backlog(conn, f).set_index("status")
    assert df.loc["registered", "open"] == 1 and df.loc["reported", "open"] == 0
    assert list(df.index) == ["reported", "registered", "dispatched", "disposing", "awaiting_verification", "rework",
                              "postponed", "returned"]


def test_ranking_puts_the_best_first_and_lower_is_better_for_rework_and_time(world, conn):
    _closed_case(world, conn, "C1", level="community")
    _closed_case(world, conn, "C2", level="community")
    world.report("C3")
    today = cd.today(conn)
    f = cd.ChartFilter(today, today + timedelta(days=1), subdistrict_id=world.sub["S1"])
    df = cd.ranking(conn, f, by="community", metric="avg_disposal_wh")
    ranked = df.dropna(subset=["rank"])
    assert list(ranked["avg_disposal_wh"]) == sorted(ranked["avg_disposal_wh"])
    assert set(df["name"]) <= {"测试社区C1", "测试社区C2"}
    with pytest.raises(ValueError):
        cd.ranking(conn, f, by="community", metric="happiness")


def test_categories_share_adds_up(world, conn):
    world.report("C1", category="0102")
    world.report("C1", category="0102")
    world.report("C2", category="0101")
    today = cd.today(conn)
    df = cd.category_table(conn, cd.ChartFilter(today, today + timedelta(days=1), subdistrict_id=world.sub["S1"]))
    assert df.iloc[0]["code"] == "0102" and df.iloc[0]["reported"] == 2
    assert abs(df["share_pct"].sum() - 100) < 0.2


def test_csv_is_utf8_with_a_bom_and_the_same_rows():
    df = pd.DataFrame({"名称": ["兴隆街道", "创新街道"], "结案率(%)": [98.5, None], "在办数": [3, 0]})
    data = to_csv(df)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines == ["名称,结案率(%),在办数", "兴隆街道,98.5,3", "创新街道,,0"]


def test_xlsx_holds_the_table_header_first_frozen_below_it():
    df = pd.DataFrame({"期间": [date(2026, 3, 2)], "时间": [datetime(2026, 3, 2, 9, 0, tzinfo=TZ)],
                       "数量": pd.array([5], dtype="Int64"), "比率": [None]})
    ws = load_workbook(io.BytesIO(to_xlsx(df, sheet="趋势"))).active
    assert ws.title == "趋势" and ws.freeze_panes == "A2"
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("期间", "时间", "数量", "比率")
    assert rows[1][0].date() == date(2026, 3, 2) and rows[1][1] == datetime(2026, 3, 2, 9, 0) and rows[1][2:] == (5, None)


def test_labelled_renames_only_known_columns():
    df = pd.DataFrame(columns=["name", "open", "x"])
    assert list(labelled(df, {"name": "名称", "open": "在办数"}).columns) == ["名称", "在办数", "x"]
_TYPED = ["=1+1", "+SUM(A1:A9)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)", "\t=1", "正常", "-12.5"]


def test_csv_writes_formula_like_text_as_text_and_keeps_negative_numbers():
    df = pd.DataFrame({"=名称": _TYPED, "数": [-5, 0, -1, 2, 3, 4, -7], "率": [-2.5] * 7})
    rows = list(csv.reader(io.StringIO(to_csv(df).decode("utf-8-sig"))))
    assert rows[0] == ["'=名称", "数", "率"]
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'+SUM(A1:A9)", "'-2+3+cmd|' /C calc'!A0", "'@SUM(1)", "'\t=1",
                                        "正常", "-12.5"]
    assert [r[1] for r in rows[1:]] == ["-5", "0", "-1", "2", "3", "4", "-7"] and rows[1][2] == "-2.5"


def test_xlsx_writes_formula_like_text_as_string_cells_and_numbers_as_numbers():
    df = pd.DataFrame({"名称": _TYPED, "数": [-5, 0, -1, 2, 3, 4, -7]})
    ws = load_workbook(io.BytesIO(to_xlsx(df, title="=HYPERLINK(\"http://x\")"))).active
    assert ws.cell(1, 1).data_type == "s" and ws.cell(1, 1).value == "=HYPERLINK(\"http://x\")"
    names = [ws.cell(r, 1) for r in range(3, 3 + len(_TYPED))]
    assert [c.value for c in names] == _TYPED and all(c.data_type == "s" for c in names)
    numbers = [ws.cell(r, 2) for r in range(3, 3 + len(_TYPED))]
    assert [c.value for c in numbers] == [-5, 0, -1, 2, 3, 4, -7] and {c.data_type for c in numbers} == {"n"}


def test_satisfaction_rate_counts_satisfied_and_basically_satisfied_answers_of_the_period(world, conn):
    from sqlalchemy import text

    answers = {"C1": "satisfied", "C2": "basically_satisfied", "C3": "unsatisfied"}
    ids = {}
    for where, rating in answers.items():
        ids[where] = world.report(where)["id"]
        conn.execute(text("INSERT INTO case_satisfaction(case_id, rating, answered_at) VALUES (:c, :r, :at)"),
                     {"c": ids[where], "r": rating, "at": datetime(2026, 3, 10, 9, tzinfo=TZ)})
    march = cd.ChartFilter(date(2026, 3, 1), date(2026, 4, 1))
    assert cd.satisfaction(conn, march) == {"satisfaction_answers": 3, "satisfaction_rate": 2 / 3}
    s1 = cd.ChartFilter(date(2026, 3, 1), date(2026, 4, 1), subdistrict_id=world.sub["S2"])
    assert cd.satisfaction(conn, s1) == {"satisfaction_answers": 1, "satisfaction_rate": 0.0}
    april = cd.ChartFilter(date(2026, 4, 1), date(2026, 5, 1))
    assert cd.satisfaction(conn, april) == {"satisfaction_answers": 0, "satisfaction_rate": None}
