"""部门工单 — a department's work queue: the cases it leads and must act on (and those it
assists), nearest deadline first, with filters and search by case number.

Department staff accept a case, feed back with a photo (camera or file, kept by the
intake's photo store) and a note, ask for a
postponement, or return a case that is not theirs — whatever the lifecycle service allows them
on the chosen case (verification is the command centre's, on the dispatch page). An
administrator picks the department to look at. The chosen case is
``session_state["dept.case_id"]``.
"""
from __future__ import annotations

import dataclasses
import time

import pandas as pd
import streamlit as st

from dispatch import desk as svc
from dispatch.states import label
from i18n import dispatch_ui  # noqa: F401  (registers this page's texts)
from i18n import name_in
from ui import case_panel as panel
from ui import case_view as view
from ui import kit
from ui import wall_view

CASE = "dept.case_id"
REFRESH_S = 300  # hours left tick on: redraw at least this often
PANEL = "dq-panel"  # the panel reruns on its own: picking a row or acting redraws just it
who = kit.require_page("department_queue")
kit.css("theme", "wall", "dispatch")
lang = kit.lang()


with kit.engine().connect() as conn:
    deps = {d["id"]: d for d in svc.departments(conn)}

head, pick = st.columns([3, 2], vertical_alignment="bottom")
head.title(kit.tr("dq.heading"), anchor=False)
if who.department_id is not None:
    dep_id = who.department_id
    pick.markdown(f"### {name_in(deps[dep_id], lang) if dep_id in deps else dep_id}")
elif who.role == "admin" and deps:
    dep_id = pick.selectbox(kit.tr("dq.department"), list(deps), format_func=lambda i: name_in(deps[i], lang), key="dq-dep")
else:
    st.warning(kit.tr("dq.no_department"))
    st.stop()

version = kit.listener().version
with kit.engine().connect() as conn:
    rows = svc.department_cases(conn, department_id=dep_id)
overdue = sum(r.time_state == "overdue" for r in rows)
at_risk = sum(r.time_state == "at_risk" for r in rows)
st.caption(kit.tr("dq.summary", n=len(rows), overdue=overdue, at_risk=at_risk))


def _on_search() -> None:
    with kit.engine().connect() as conn:
        found = svc.find_case(conn, case_no=st.session_state.get("dq-search", ""), actor=who)
    if found is None:
        st.session_state["dp.flash"] = (kit.tr("dp.search_none"), ":material/search_off:")
    else:
        st.session_state[CASE] = found


filt, search = st.columns([3, 2], vertical_alignment="bottom")
counts = {f: len(svc.department_filter(rows, f)) for f in svc.DEPARTMENT_FILTERS}
chosen = filt.segmented_control(kit.tr("dp.queues"), svc.DEPARTMENT_FILTERS, default="all", key="dq-filter",
                                label_visibility="collapsed",
                                format_func=lambda f: f"{kit.tr('dq.filter.' + f)} {counts[f]}") or "all"
with search:
    view.case_search("dq-search", _on_search, label_visibility="collapsed")
shown = svc.department_filter(rows, chosen)


def _on_pick(wkey: str, ids: list[int]) -> None:
    """A row ticked picks its case: the table shows its own tick, only the panel is redrawn."""
    current, cid = view.picked_row(wkey, ids)
    if current and cid is not None:
        st.session_state[CASE] = cid
    elif current:
        st.session_state.pop(CASE, None)
    st.rerun(PANEL)


@st.fragment(key=PANEL)
def panel_part() -> None:
    """The chosen case; its actions rerun this part alone (the live watcher redraws the queue
    once the change notice is in)."""
    panel.keep_signed_in()
    panel.flash()
    case_id = st.session_state.get(CASE)
    p = panel.load(case_id) if case_id is not None else None
    if case_id is not None and p is None:  # returned or closed meanwhile: no longer this department's
        st.session_state.pop(CASE, None)
        case_id = None
    if case_id is None:
        panel.leave()  # no case open here: nobody should read that we are on one
        wall_view.part_drawn("panel")
        st.info(kit.tr("dq.pick_hint"), icon=":material/touch_app:")
    else:
        if p.department_id != dep_id and not p.actions:
            st.caption(kit.tr("dq.assist_note"))
        panel.show(case_id, p, scope="dept")


left, right = st.columns([3, 2], gap="medium")
with left:
    if not rows:
        st.info(kit.tr("dq.empty"), icon=":material/inbox:")
    elif not shown:
        st.caption(kit.tr("dq.filter_empty"))
    ids = [r.id for r in shown]
    if shown:
        df = pd.DataFrame({
            "case_no": [r.case_no for r in shown],
            "category": [name_in(r, lang, "category_name") or "—" for r in shown],
            "status": [label("status", r.status, lang) for r in shown],
            "role": [kit.tr("dp.lead") if r.role == "lead" else kit.tr("dp.assist") for r in shown],
            "area": [view.area_cell(r) for r in shown],
            "due": [view.fmt_time(r.due_at) for r in shown],
            "hours_left": [r.hours_left for r in shown],
            "time": [label("time_state", r.time_state, lang) for r in shown],
            "accept_by": [view.accept_cell(r) for r in shown],
            "chased": [kit.tr("dq.chased_n", n=r.chase_count) if r.chase_count else "" for r in shown],
        })
        if not any(df["accept_by"]):
            df = df.drop(columns=["accept_by"])  # 接收时限: while a case here waits to be accepted
        if not any(r.chase_count for r in shown):
            df = df.drop(columns=["chased"])  # 催办: shown when a dispatcher has pressed on one of them
        if all(r.role == "lead" for r in shown):
            df = df.drop(columns=["role"])  # a column saying "lead" on every line says nothing
        cfg = view.queue_columns(df)
        # the tick follows the case in the panel, never a row number nor an old tick the browser
        # still holds (ui.case_view.case_table)
        view.case_table(view.styled(df, [r.time_state for r in shown]), ids, key="dq-table",
                        case_id=st.session_state.get(CASE), on_pick=_on_pick, column_config=cfg,
                        height=min(38 + 35 * len(shown), 640), width="stretch")

with right:
    panel_part()


def _shown(v: int, rs: list) -> tuple:
    """What this page shows as of change notice ``v`` with the department's rows ``rs``
    (``ui.wall_view.live``; the panel watches its case itself: ``ui.case_panel.show``): the rows
    as the database holds them, without what the clock alone changes — the working hours left, the
    time state and whether a case is late to accept follow from the stored instants, and the page's
    own clock (``REFRESH_S``) redraws them. With them in, a notice of any kind reran the whole page
    whenever some row's hours left had ticked over a tenth of an hour since (in working hours, a
    busy department's 200 rows: every few seconds), and a 催办 (``chase_count``) reran nothing."""
    return tuple(dataclasses.replace(r, hours_left=None, time_state=None, late_accept=None) for r in rs)


def _digest(v: int) -> tuple:
    """``_shown`` read afresh for notice ``v``: a notice that changes neither reruns nothing."""
    with kit.engine().connect() as conn:
        return _shown(v, svc.department_cases(conn, department_id=dep_id))


wall_view.live(version, time.time() + REFRESH_S, digest=_digest, drawn=_shown(version, rows))
