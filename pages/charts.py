"""结案统计 — clearance charts: closure and on-time rates, trends, rankings with colour grades,
ageing and state of open cases, level split and categories; every table as CSV and Excel.

Figures are the lifecycle's indicators (stats/indicators.py) through stats/charts.py,
cached per filter and per change notice, so a case that moves shows here on the next draw.
"""
from __future__ import annotations

from datetime import timedelta

import streamlit as st

from stats import charts as cd
from stats.export import period_tag
from dispatch.states import CHANNELS, LEVELS, label
from i18n import dispatch_ui  # noqa: F401  (registers this page's texts)
from i18n import t
from ui import chart_views as cv
from ui import kit
from ui import wall_view

kit.require_page("charts")
kit.css("theme", "wall", "dispatch")
lang = kit.lang()


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def data(kind: str, version, f: cd.ChartFilter, lang: str, **kw):
    """One chart table for one filter, recomputed when any case changed (``version``)."""
    with kit.reading() as conn:
        if kind == "today":
            return cd.today(conn)
        fn = {"summary": cd.summary, "ranking": cd.ranking, "trend": cd.trend, "ageing": cd.ageing,
              "backlog": cd.open_backlog, "levels": cd.level_split, "categories": cd.category_table}[kind]
        return fn(conn, f, **kw) if kind in ("summary", "trend") else fn(conn, f, lang=lang, **kw)


version = kit.listener().version
today = data("today", version, None, lang)
opts = wall_view.options(wall_view.current_stamp(), lang)  # new areas show once boundaries change


def _choice(key: str, values: list, names: dict, **kw):
    kit.keep_choice(f"ch-{key}")  # named in the session's language: kept across a switch
    return kit.kept(f"ch-{key}", st.selectbox(
        kit.tr(key), [None, *values], format_func=lambda v: t("ch.all", lang) if v is None else names[v],
        key=f"ch-{key}", **kw))


with st.sidebar:
    st.subheader(kit.tr("ch.filters"))
    preset = st.segmented_control(kit.tr("ch.period"), cd.PERIODS, default="last_30", key="ch-period",
                                  format_func=lambda p: kit.tr(f"ch.period.{p}")) or "last_30"
    custom = None
    if preset == "custom":
        custom = (st.date_input(kit.tr("ch.from"), value=today.replace(day=1), max_value=today, key="ch-from"),
                  st.date_input(kit.tr("ch.to"), value=today, max_value=today, key="ch-to"))
    sd = _choice("ch.subdistrict", [i for i, _ in opts["subdistricts"]], dict(opts["subdistricts"]))
    cms = {i: n for i, n, s in opts["communities"] if sd is None or s == sd}
    cm = _choice("ch.community", list(cms), cms)
    dep = _choice("ch.department", [i for i, _ in opts["departments"]], dict(opts["departments"]))
    cat = _choice("ch.category", [c for c, _ in opts["categories"]], dict(opts["categories"]))
    lvl = _choice("ch.level", list(LEVELS), {v: label("level", v, lang) for v in LEVELS})
    ch = _choice("ch.channel", list(CHANNELS), {c: kit.tr(f"dp.channel.{c}") for c in CHANNELS})

start, end = cd.period(preset, today, custom)
f = cd.ChartFilter(start, end, sd, cm, dep, cat, lvl, ch)
tag = period_tag(start, end)  # the days shown beside the title, in every file name

head, when = st.columns([3, 2], vertical_alignment="bottom")
head.title(kit.tr("ch.heading"), anchor=False)
when.markdown(f"### {kit.tr('ch.period_label', start=start, end=end - timedelta(days=1))}")

s = data("summary", version, f, lang)
tiles = [("closure_rate", s["closure_rate"]), ("on_time_rate", s["on_time_rate"]),
         ("self_handled_share", s["self_handled_share"]), ("rework_rate", s["rework_rate"]),
         ("avg_disposal_wh", s["avg_disposal_wh"]), ("satisfaction_rate", s["satisfaction_rate"]),
         ("closed", s["closed"]), ("open", s["open"]), ("overdue", s["overdue"])]
with st.container(key="ch-big"):
    for row in (tiles[:4], tiles[4:]):
        for col, (k, v) in zip(st.columns(len(row)), row):
            shown = "—" if v is None else f"{100 * v:.1f}%" if k.endswith(("rate", "share")) else (
                f"{v:.1f}" if isinstance(v, float) else f"{v:,}")
            # the two counts of open cases are "as the period ends" (now, if it reaches today):
            # named and explained on the tile so nobody reads 超期 as "closed late"
            name = kit.tr(f"ch.tile.{k}") if k in ("open", "overdue") else cv.column_labels()[k]
            col.container(key=f"kpi-{k}").metric(name, shown, help=kit.tr(f"ch.tile.{k}.help")
                                                 if k in ("open", "overdue") else None)
st.caption(f'{kit.tr("ch.grade")}：{kit.tr("ch.grade." + s["grade"])} · '
           f'{cv.column_labels()["due"]} {s["due"]:,} · {cv.column_labels()["registered"]} {s["registered"]:,}')

st.subheader(kit.tr("ch.trend"), anchor=False)
freq = st.segmented_control(kit.tr("ch.trend"), cd.FREQS, default="week", key="ch-freq", label_visibility="collapsed",
                            format_func=lambda q: kit.tr(f"ch.freq.{q}")) or "week"
tr_df = data("trend", version, f, lang, freq=freq)
cv.show(None, cv.trend_charts(tr_df) if not tr_df.empty else None, tr_df, f"trend-{freq}-{tag}", key="trend")

st.subheader(kit.tr("ch.ranking"), anchor=False)
c1, c2, c3 = st.columns([3, 2, 1])
by = c1.segmented_control(kit.tr("ch.ranking"), ("subdistrict", "community", "grid", "department", "person"),
                          default="subdistrict", key="ch-by", label_visibility="collapsed",
                          format_func=lambda b: kit.tr(f"ch.by.{b}")) or "subdistrict"
metric = c2.selectbox(kit.tr("ch.rank_metric"), cd.RANK_METRICS, key="ch-metric",
                      format_func=lambda m: cv.column_labels()[m])
top = c3.number_input(kit.tr("ch.top_n"), 5, 100, 15, step=5, key="ch-top")
rk = data("ranking", version, f, lang, by=by, metric=metric)
cv.grade_legend()
cv.show(None, cv.ranking_chart(rk, metric, int(top)) if not rk.empty else None, rk, f"ranking-{by}-{tag}", key="rank",
        height=max(260, 34 * min(int(top), len(rk))), hidden=("closed_lower", "on_spot"))
if by in ("subdistrict", "community", "grid"):
    st.caption(kit.tr("ch.area_rows"))

left, right = st.columns(2)
with left:
    bl = data("backlog", version, f, lang)
    cv.show(kit.tr("ch.backlog"), cv.open_and_overdue(bl, "state"), bl, f"backlog-{tag}", key="backlog")
with right:
    ag = data("ageing", version, f, lang)
    cv.show(kit.tr("ch.ageing"), cv.open_and_overdue(ag, "bucket"), ag, f"ageing-{tag}", key="ageing")

left, right = st.columns(2)
with left:
    lv = data("levels", version, f, lang)
    parts = {"self_handled": kit.tr("ch.self_handled"), "reported_up": kit.tr("ch.reported_up")}
    cv.show(kit.tr("ch.levels"), cv.stacked(lv.iloc[:-1], "name", parts, ["#22c55e", "#f59e0b"], horizontal=True)
            if lv["closed"].iloc[:-1].sum() else None, lv,
            f"levels-{tag}", key="levels", height=max(260, 40 * len(lv)))
with right:
    ct = data("categories", version, f, lang)
    cv.show(kit.tr("ch.categories"), cv.category_chart(ct), ct, f"categories-{tag}", key="cats",
            height=max(260, 34 * min(15, len(ct))))
