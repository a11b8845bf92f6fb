"""结案统计 in AppTest: who may open it, the headline figures are the lifecycle's indicators,
filters narrow them, each chart has its table as CSV and xlsx (same rows), and a case moved
through the lifecycle shows in the charts at once."""
from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from dispatch import service
from stats import charts as cd
from stats.export import labelled, to_csv, to_xlsx
from stats.filters import filter_options
from tests.ui.dispatch_world import build, new_case, open_page, purge

PAGE = "pages/charts.py"
CHARTS = ("trend", "rank", "backlog", "ageing", "levels", "cats")


@pytest.fixture(scope="module")
def w(engine):
    world = build(engine)
    for state in ("reported", "registered", "dispatched", "disposing", "awaiting_verification", "closed"):
        new_case(engine, world, state, community=1)
    yield world
    purge(engine)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _pick(at, engine, kind: str, value: int, lang: str = "zh"):
    """Choose an area or department by its position in the list (listed by code). Like the
    browser, AppTest sends the choice back by its shown label, which the page keeps unique even
    where names repeat."""
    with engine.connect() as c:
        ids = [None] + [o[0] for o in filter_options(c, lang)[kind]]
    key = {"subdistricts": "ch-ch.subdistrict", "communities": "ch-ch.community",
           "departments": "ch-ch.department"}[kind]
    return at.selectbox(key=key).select_index(ids.index(value)).run()


@pytest.mark.parametrize("user", ["dpt_staff_hwc", "dpt_worker"])
def test_roles_without_charts_cannot_open_them(w, user):
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        open_page(w[user], PAGE)


@pytest.mark.parametrize("user", ["dpt_cmd", "dpt_disp_d", "dpt_disp_cm", "dpt_planner", "dpt_admin"])
def test_every_role_with_charts_gets_figures_charts_and_downloads(w, user):
    at = open_page(w[user], PAGE)
    assert not at.exception and not at.error
    assert {"结案率", "按期结案率", "自行处置率", "满意率", "在办数", "在办超期数"} <= set(_metrics(at))
    # the ranking by area says what its two rows that are no area count
    assert any("“辖区外”" in c.value and "“待定位”" in c.value for c in at.caption)
    keys = {d.key for d in at.download_button}
    for chart in CHARTS:
        assert {f"{chart}-csv", f"{chart}-xlsx"} <= keys, chart
    assert len(at.get("vega_lite_chart")) >= len(CHARTS)


def test_headline_figures_are_the_lifecycle_indicators_and_follow_the_filter(w, engine):
    at = open_page(w["dpt_cmd"], PAGE)
    sd = w.district.subdistrict_ids[0]
    _pick(at, engine, "subdistricts", sd)
    assert at.selectbox(key="ch-ch.subdistrict").value == sd
    with engine.connect() as c:
        start, end = cd.period("last_30", cd.today(c))
        want = cd.summary(c, cd.ChartFilter(start, end, subdistrict_id=sd))
    got = _metrics(at)
    assert got["在办数"] == f"{want['open']:,}" and got["在办超期数"] == f"{want['overdue']:,}"
    # the tile says what it counts: open and overdue now, not closed late in the period
    (tile,) = [m for m in at.metric if m.label == "在办超期数"]
    assert "已结案但逾期的案件不计入" in tile.help
    assert want["open"] >= 5  # the cases of this module are in it


def test_the_backlog_chart_moves_when_a_case_is_dispatched(w, engine):
    row = new_case(engine, w, "registered", community=1)
    with engine.connect() as c:
        start, end = cd.period("last_30", cd.today(c))
        f = cd.ChartFilter(start, end, community_id=w.district.community_ids[1])
        before = cd.open_backlog(c, f).set_index("status")["open"]
    with engine.begin() as c:
        service.transition(c, case_id=row["id"], action="dispatch", actor=w["dpt_admin"], department_id=w.dept["HWC"])
    with engine.connect() as c:
        after = cd.open_backlog(c, f).set_index("status")["open"]
    assert after["registered"] == before["registered"] - 1 and after["dispatched"] == before["dispatched"] + 1
    at = open_page(w["dpt_cmd"], PAGE)
    _pick(at, engine, "communities", w.district.community_ids[1])
    assert not at.exception and at.selectbox(key="ch-ch.community").value == w.district.community_ids[1]


def test_the_ranking_is_graded_and_ordered(w, engine):
    with engine.connect() as c:
        start, end = cd.period("last_30", cd.today(c))
        df = cd.ranking(c, cd.ChartFilter(start, end), by="community", metric="on_time_rate")
    ranked = df.dropna(subset=["rank"])
    assert list(ranked["rank"]) == list(range(1, len(ranked) + 1))
    rates = ranked["on_time_rate_pct"].tolist()
    assert rates == sorted(rates, reverse=True)
    assert set(df["grade"]) <= {"A", "B", "C", "D", "none"}


@pytest.mark.parametrize("kind", ["ranking", "trend", "backlog", "ageing", "levels", "categories"])
def test_the_xlsx_and_csv_hold_the_rows_of_the_table(w, engine, kind):
    with engine.connect() as c:
        start, end = cd.period("last_30", cd.today(c))
        f = cd.ChartFilter(start, end)
        df = {"ranking": lambda: cd.ranking(c, f, by="subdistrict"), "trend": lambda: cd.trend(c, f, freq="day"),
              "backlog": lambda: cd.open_backlog(c, f), "ageing": lambda: cd.ageing(c, f),
              "levels": lambda: cd.level_split(c, f), "categories": lambda: cd.category_table(c, f)}[kind]()
    table = labelled(df, {"name": "名称", "open": "在办数"})
    assert len(table) > 0
    ws = load_workbook(io.BytesIO(to_xlsx(table, sheet=kind))).active
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == list(table.columns)
    assert len(rows) - 1 == len(table)
    for got, want in zip(rows[1:], table.itertuples(index=False)):
        for g, v in zip(got, want):
            if v is None or v is pd.NA or v == "" or (isinstance(v, float) and v != v):  # empty cells
                assert g in (None, "")
            elif hasattr(v, "isoformat") and hasattr(g, "date"):
                assert g.date() == v
            else:
                assert g == v or (isinstance(v, float) and abs(g - v) < 1e-9)
    csv = to_csv(table).decode("utf-8-sig").splitlines()
    assert csv[0].split(",") == list(table.columns) and len(csv) == len(table) + 1


def test_english(w):
    at = open_page(w["dpt_cmd"], PAGE, lang="en")
    assert not at.exception and at.title[0].value == "Clearance statistics"
    assert {"Closure rate", "On-time closure rate"} <= set(_metrics(at))


def test_cases_outside_the_period_do_not_count(w, engine):
    with engine.connect() as c:
        empty = cd.summary(c, cd.ChartFilter(date(2015, 1, 1), date(2015, 2, 1)))
    assert empty["registered"] == 0 and empty["closed"] == 0


def test_namesakes_in_the_filters_still_filter_the_one_chosen(w, engine):
    """The charts page shares the wall's filter choices (stats.filters): two subdistricts of one
    name, and two communities of one name, still filter the one chosen (a choice comes back by
    its label, and the server takes the first option with that label). English department
    namesakes: tests/stats/test_filters.py (AppTest formats other widgets' labels in Chinese)."""
    first, second = w.district.subdistrict_ids[:2]
    cm_a, cm_b = w.district.community_ids[:2]
    with engine.begin() as c:
        old = {t: dict(c.execute(text(f"SELECT id, name FROM {t} WHERE id = ANY(:i)"), {"i": ids}).all())
               for t, ids in (("subdistrict", [second]), ("community", [cm_b]))}
        c.execute(text("UPDATE subdistrict SET name = (SELECT name FROM subdistrict WHERE id = :a) WHERE id = :b"),
                  {"a": first, "b": second})
        c.execute(text("UPDATE community SET name = (SELECT name FROM community WHERE id = :a) WHERE id = :b"),
                  {"a": cm_a, "b": cm_b})
    try:
        at = open_page(w["dpt_cmd"], PAGE)
        for key in ("ch-ch.subdistrict", "ch-ch.community"):
            options = at.selectbox(key=key).options
            assert len(set(options)) == len(options), key
        _pick(at, engine, "subdistricts", second)
        assert not at.exception and at.selectbox(key="ch-ch.subdistrict").value == second
        at = open_page(w["dpt_cmd"], PAGE)
        _pick(at, engine, "communities", cm_b)
        assert not at.exception and at.selectbox(key="ch-ch.community").value == cm_b
    finally:
        with engine.begin() as c:
            for table, names in old.items():
                for i, n in names.items():
                    c.execute(text(f"UPDATE {table} SET name = :n WHERE id = :i"), {"n": n, "i": i})


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """Every file the page hands to a download button: file name → bytes (recorded on the way into
    Streamlit's own in-memory media storage, which still stores them)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: dict[str, bytes] = {}
    real = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if filename:
            seen[filename] = path_or_data
        return real(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return seen


def test_every_file_is_named_with_the_period_on_screen_and_rounded_as_shown(w, engine, downloads):
    at = open_page(w["dpt_cmd"], PAGE)
    at.segmented_control(key="ch-by").set_value("person").run()   # hours per person: many decimals
    shown = next(m.value for m in at.markdown if "至" in m.value)
    first, last = (date.fromisoformat(d) for d in shown.lstrip("# ").split(" 至 "))
    tag = f"{first:%Y%m%d}-{last:%Y%m%d}"
    names = {n for n in downloads if n.endswith((".csv", ".xlsx"))}
    assert names and len(names) >= 2 * len(CHARTS)
    assert [n for n in names if tag not in n] == []
    ranking = next(n for n in names if n.startswith("ranking-person-") and n.endswith(".csv"))
    table = pd.read_csv(io.BytesIO(downloads[ranking]), encoding="utf-8-sig")
    for col in ("平均处置时长(工作小时)", "按期结案率(%)", "结案率(%)"):
        values = table[col].dropna()
        assert len(values) and (values.round(1) == values).all(), (col, values.tolist()[:5])
    book = load_workbook(io.BytesIO(downloads[ranking.replace(".csv", ".xlsx")])).active
    head = [c.value for c in book[1]]
    j = head.index("平均处置时长(工作小时)")
    hours = [r[j] for r in book.iter_rows(min_row=2, values_only=True) if r[j] is not None]
    assert hours and all(round(h, 1) == h for h in hours)
