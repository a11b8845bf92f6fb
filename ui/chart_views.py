"""Chart drawing for 结案统计: Vega-Lite charts (Altair, rendered by Streamlit's bundled Vega —
nothing from a CDN), each followed by the table behind it and its CSV / Excel download.

Layout only: the tables come from ``stats.charts``; files from ``stats.export``.
Type is large on purpose: the page is also shown on the command centre's wall.
"""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from stats import charts as cd
from stats.export import CSV_MIME, XLSX_MIME, labelled, rounded, to_csv, to_xlsx
from stats.indicators import INDICATOR_LABELS
from i18n import dispatch_ui  # noqa: F401  (registers this page's texts)
from ui import kit

FONT = "Noto Sans CJK SC, Source Han Sans SC, WenQuanYi Zen Hei, Microsoft YaHei, sans-serif"
GRADE_ORDER = ["A", "B", "C", "D", "none"]


OWN_COLUMNS = ("rank", "name", "parent", "grade", "period", "bucket", "state", "status", "self_handled", "reported_up",
               "code", "major", "category", "share_pct", "closure_share_pct")


def column_labels() -> dict[str, str]:
    """Column headers in the session's language: the lifecycle's indicator names, then ours."""
    lang = kit.lang()
    lab = {k: v.get(lang) or v["zh"] for k, v in INDICATOR_LABELS.items()}
    for c in cd.RATE_COLUMNS:
        lab[f"{c}_pct"] = f"{lab[c]}(%)"
    lab.update({k: kit.tr(f"ch.col.{k}") for k in OWN_COLUMNS})
    return lab


def big(chart: alt.Chart, height: int = 320) -> alt.Chart:
    """Wall-readable type."""
    return (chart.properties(height=height)
            .configure(font=FONT)
            .configure_axis(labelFontSize=15, titleFontSize=16, labelLimit=220, gridOpacity=0.25)
            .configure_legend(labelFontSize=15, titleFontSize=15, orient="top", symbolSize=160)
            .configure_title(fontSize=18))


def table_and_files(df: pd.DataFrame, name: str, *, key: str, hidden: tuple[str, ...] = ()) -> None:
    """The table behind a chart, with CSV and Excel of exactly these rows and columns, figures
    rounded as the screen shows them; ``name`` is the file name without extension (it should
    carry the period on screen, ``stats.export.period_tag``)."""
    shown = labelled(rounded(df.drop(columns=[c for c in hidden if c in df.columns])), column_labels())
    row = st.container(horizontal=True)
    row.download_button(kit.tr("ch.csv"), to_csv(shown), file_name=f"{name}.csv", mime=CSV_MIME, key=f"{key}-csv",
                      icon=":material/download:", on_click="ignore")
    row.download_button(kit.tr("ch.xlsx"), to_xlsx(shown, sheet=name), file_name=f"{name}.xlsx", mime=XLSX_MIME,
                      key=f"{key}-xlsx", icon=":material/table_view:", on_click="ignore")
    with st.expander(kit.tr("ch.table")):
        st.dataframe(shown, hide_index=True, width="stretch", key=f"{key}-table")


def trend_charts(df: pd.DataFrame) -> list[alt.Chart]:
    """Closure and on-time rates (lines) and registered vs closed (bars) per period."""
    lab = column_labels()
    rates = df.melt(id_vars=["period"], value_vars=["closure_rate_pct", "on_time_rate_pct"], var_name="k", value_name="v")
    rates["k"] = rates["k"].map(lab)
    counts = df.melt(id_vars=["period"], value_vars=["registered", "closed"], var_name="k", value_name="v")
    counts["k"] = counts["k"].map(lab)
    days = pd.to_datetime(df["period"])
    fmt = "%Y-%m" if len(days) > 1 and (days.iloc[1] - days.iloc[0]).days >= 28 else "%m-%d"  # monthly: name the month
    counts["day"] = pd.to_datetime(counts["period"]).dt.strftime(fmt)
    x = alt.X("period:T", title=None, axis=alt.Axis(format=fmt, labelAngle=0))
    tip = [alt.Tooltip("period:T", format="%Y-%m-%d"), "k:N", "v:Q"]
    line = alt.Chart(rates).mark_line(point=alt.OverlayMarkDef(size=70), strokeWidth=3).encode(
        x=x, y=alt.Y("v:Q", title="%", scale=alt.Scale(zero=False)),
        color=alt.Color("k:N", title=None, scale=alt.Scale(range=["#38bdf8", "#22c55e"])), tooltip=tip)
    bars = alt.Chart(counts).mark_bar(opacity=0.9).encode(
        x=alt.X("day:O", title=None, axis=alt.Axis(labelAngle=0, labelOverlap=True)), xOffset="k:N",
        y=alt.Y("v:Q", title=kit.tr("ch.cases")),
        color=alt.Color("k:N", title=None, scale=alt.Scale(range=["#64748b", "#f59e0b"])), tooltip=tip)
    return [line, bars]


def ranking_chart(df: pd.DataFrame, metric: str, top: int) -> alt.Chart:
    col = f"{metric}_pct" if metric in cd.RATE_COLUMNS else metric
    data = df.dropna(subset=["rank"]).head(top).copy()
    data["grade_label"] = data["grade"].map(lambda g: kit.tr(f"ch.grade.{g}"))
    colours = [cd.GRADE_COLOURS[g] for g in GRADE_ORDER]
    return alt.Chart(data).mark_bar(cornerRadiusEnd=3).encode(
        y=alt.Y("name:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False)),
        x=alt.X(f"{col}:Q", title=column_labels()[col]),
        color=alt.Color("grade:N", scale=alt.Scale(domain=GRADE_ORDER, range=colours), legend=None),
        tooltip=["rank:Q", "name:N", "grade_label:N", f"{col}:Q", "due:Q", "closed:Q", "overdue:Q"],
    ) + alt.Chart(data).mark_text(align="left", dx=4, fontSize=14, color="#e2e8f0").encode(
        y=alt.Y("name:N", sort=None), x=f"{col}:Q", text=alt.Text(f"{col}:Q", format=".1f"))


def grade_legend() -> None:
    bands = dict((g, f) for f, g in cd.GRADE_BANDS)
    items = "".join(f'<span><i style="background:{cd.GRADE_COLOURS[g]}"></i>{kit.tr("ch.grade." + g)}</span>'
                    for g in GRADE_ORDER[:4])
    st.html(f'<div class="ch-grades">{items}</div>')
    st.caption(kit.tr("ch.grade_note", metric=INDICATOR_LABELS["on_time_rate"][kit.lang()],
                     a=round(bands["A"] * 100), b=round(bands["B"] * 100), c=round(bands["C"] * 100)))


def stacked(df: pd.DataFrame, cat: str, parts: dict[str, str], colours: list[str], *, horizontal: bool = False,
            sort=None) -> alt.Chart:
    long = df.melt(id_vars=[cat], value_vars=list(parts), var_name="k", value_name="v")
    long["k"] = long["k"].map(parts)
    cat_enc = (alt.Y if horizontal else alt.X)(f"{cat}:N", sort=sort if sort is not None else list(df[cat]), title=None,
                                              axis=alt.Axis(labelAngle=0, labelOverlap=False))
    val_enc = (alt.X if horizontal else alt.Y)("v:Q", stack=True, title=kit.tr("ch.cases"))
    return alt.Chart(long).mark_bar().encode(
        cat_enc, val_enc, color=alt.Color("k:N", title=None, sort=list(parts.values()),
                                          scale=alt.Scale(domain=list(parts.values()), range=colours)),
        order=alt.Order("k:N"), tooltip=[f"{cat}:N", "k:N", "v:Q"])


def open_and_overdue(df: pd.DataFrame, cat: str) -> alt.Chart:
    """Open cases per ``cat`` as a stacked bar: overdue (red) on top of the rest (the backlog and
    ageing charts)."""
    return stacked(df.assign(rest=df["open"] - df["overdue"]), cat,
                   {"rest": kit.tr("ch.not_overdue"), "overdue": kit.tr("ch.overdue_part")}, ["#38bdf8", "#ef4444"])


def category_chart(df: pd.DataFrame, top: int = 15) -> alt.Chart:
    """The most reported categories: closed and not (yet) closed."""
    data = df.head(top).assign(rest=lambda d: d["reported"] - d["closed"])
    return stacked(data, "category", {"closed": column_labels()["closed"], "rest": kit.tr("ch.not_closed")},
                   ["#22c55e", "#38bdf8"], horizontal=True)


def show(title: str | None, charts: alt.Chart | list[alt.Chart] | None, df: pd.DataFrame, name: str, *, key: str,
         height: int = 320, hidden: tuple[str, ...] = ()) -> None:
    """A titled chart (or charts side by side), its table and its two downloads."""
    if title:
        st.subheader(title, anchor=False)
    if df.empty or charts is None:
        st.info(kit.tr("ch.no_data"))
        return
    charts = charts if isinstance(charts, list) else [charts]
    for i, (col, chart) in enumerate(zip(st.columns(len(charts)), charts)):
        col.altair_chart(big(chart, height), width="stretch", key=f"{key}-chart{i}")
    table_and_files(df, name, key=key, hidden=hidden)
