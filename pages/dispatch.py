"""派单 — dispatch from the map or from the queues.

Pick a case by clicking it on the map (resolved by the point's own id), from a queue (the
working queues of this dispatcher's unit: awaiting sorting, awaiting dispatch, awaiting
verification, outside the jurisdiction; the watch lists of their area: overdue, at risk, not
accepted in time by the department it was sent to, supervised) or by its number; the panel on
the right shows it and the actions the lifecycle service allows this dispatcher now (with the
intake's possible duplicates and reporters' reopen requests to answer:
``ui.case_panel.intake_notes``), and the queue's tick stays on it. Closed cases whose reporter
asks for a second look are listed under the queues. After an action the page waits for the
database's change notice, so the map and queues drawn next already show the new state. The case
being worked on is ``session_state["dispatch.case_id"]``.
"""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from dispatch import desk as svc
from dispatch.desk import QueueRow
from dispatch.states import label
from wall.frame import WallFilter
from i18n import dispatch_ui  # noqa: F401  (registers this page's texts)
from i18n import name_in
from ui import case_panel as panel
from ui import case_view as view
from ui import dispatch_map_view as dmap
from ui import kit
from ui import wall_view
from ui.wall_map import take_click

CASE = "dispatch.case_id"
# The page's three parts rerun on their own (st.fragment): picking a case reruns the panel, the
# map (its ring) and, for a click, the queue's tick; a number searched reruns the whole page (the
# search box is outside the parts: ui.case_view.case_search says why); switching queues reruns the
# queue and the map (it draws the queue shown); an action reruns the panel, and the live watcher
# redraws the rest once the change notice is in. The map's deck stays tens of kilobytes at any
# history size (wall/dispatch_map.py), so redrawing it on a pick is cheap.
MAP, QUEUE, PANEL = "dp-map", "dp-queue", "dp-panel"
QUEUE_KEY, DEFAULT_QUEUE = "dispatch-queue", "awaiting_sorting"
who = kit.require_page("dispatch")
kit.css("theme", "wall", "dispatch")
lang = kit.lang()
area = WallFilter(**svc.area_of(who))


def _pick(case_id: int | None) -> None:
    if case_id is not None:
        st.session_state[CASE] = case_id


def _on_map() -> None:
    """A case clicked on the map (callback): the panel follows, the queue ticks it."""
    cid = take_click(dmap.KEY)
    if cid is not None:
        st.session_state[CASE] = cid
    st.rerun([MAP, QUEUE, PANEL])


def _on_queue(wkey: str, ids: list[int]) -> None:
    """A row ticked (``ids``: the cases in the order they were shown) picks its case; a tick
    taken off lets go of the case. The table shows its own tick: the panel and the map's ring
    are redrawn."""
    current, cid = view.picked_row(wkey, ids)
    if current:
        if cid is not None:
            _pick(cid)
        else:
            st.session_state.pop(CASE, None)
    st.rerun([MAP, PANEL])


def _on_search() -> None:
    """A case number searched (``ui.case_view.case_search``): the whole page reruns after it."""
    with kit.engine().connect() as conn:
        found = svc.find_case(conn, case_no=st.session_state.get("dispatch-search", ""), actor=who)
    if found is None:
        st.session_state["dp.flash"] = (kit.tr("dp.search_none"), ":material/search_off:")
    _pick(found)


def queue_table(rows: list[QueueRow], key: str, queue: str | None = None) -> None:
    if not rows:
        st.caption(kit.tr("dp.queue_empty"))
        return
    df = pd.DataFrame({
        "case_no": [r.case_no for r in rows],
        "category": [name_in(r, lang, "category_name") or "—" for r in rows],
        "status": [label("status", r.status, lang) for r in rows],
        "area": [view.area_cell(r) for r in rows],
        "reported": [view.fmt_time(r.reported_at) for r in rows],
        "due": [view.fmt_time(r.due_at) for r in rows],
        "time": [label("time_state", r.time_state, lang) for r in rows],
    })
    if queue == "late_accept":  # whom to chase, and since when it should have been taken up
        df.insert(2, "department", [name_in(r, lang, "department_name") or "—" for r in rows])
        df.insert(3, "accept_by", [view.accept_cell(r) for r in rows])
        df = df.drop(columns=["reported"])
    # The tick follows the case in the panel (ui.case_view.case_table): after an action took the
    # case out of the list, or a map click or a search picked another, it is on that case's row
    # or on none, and the browser cannot send an old tick back as a pick.
    view.case_table(view.styled(df, [r.time_state for r in rows]), [r.id for r in rows], key=key,
                    case_id=st.session_state.get(CASE), on_pick=_on_queue, column_config=view.queue_columns(df),
                    height=min(38 + 35 * len(rows), 330), width="stretch")


def _table(queue: str) -> str:
    return f"dispatch-q-{queue}"


def _queue() -> str:
    return st.session_state.get(QUEUE_KEY) or DEFAULT_QUEUE


@st.fragment(key=MAP)
def map_part() -> None:
    """The map (ui/dispatch_map_view.py): the load of the area's open cases per grid, the cases
    of the queue shown (every open case in a small area), a ring on the case in the panel."""
    panel.keep_signed_in()
    version = kit.listener().version
    rows = panel.queue_rows(version, _queue(), who)
    # a click that reached the run without the callback (AppTest puts it into session_state): once
    # per click, so the value the map keeps over reruns does not take the panel back later
    picked = st.session_state.get(CASE)
    cid = dmap.draw(version, area, rows, picked, on_pick=_on_map)
    if cid is not None:
        st.session_state[CASE] = cid
        st.rerun()
    # the live watcher reruns the page when what this part drew goes out of date (ui.wall_view)
    wall_view.part_drawn("map", _map_stamp, dmap.digest(version, area, rows, picked), _queue(), picked)


def _map_stamp(v: int, queue: str, picked: int | None) -> int:
    """What the map shows as of change notice ``v`` with ``queue`` shown and ``picked`` ringed."""
    return dmap.digest(v, area, panel.queue_rows(v, queue, who), picked)


@st.fragment(key=QUEUE)
def queue_part() -> None:
    """The queue switch and the chosen queue (switching reruns this part alone), then closed
    cases whose reporters ask for a second look."""
    panel.keep_signed_in()
    version = kit.listener().version
    counts = panel.queue_counts(version, who)
    queue = st.segmented_control(
        kit.tr("dp.queues"), svc.QUEUES, default=DEFAULT_QUEUE, key=QUEUE_KEY, label_visibility="collapsed",
        on_change=_on_queue_switch, format_func=lambda q: f"{kit.tr('dp.queue.' + q)} {counts[q]}") or DEFAULT_QUEUE
    rows = panel.queue_rows(version, queue, who)
    queue_table(rows, key=_table(queue), queue=queue)
    reopen = panel.reopen_requests(version, who)
    wall_view.part_drawn("queue", _queue_stamp, _queue_view(counts, rows, reopen), queue)
    if reopen:  # closed cases are in no working queue: their reporters' requests are listed here
        with st.expander(kit.tr("dp.reopen.queue", n=len(reopen)), icon=":material/replay:"):
            for r in reopen:
                st.button(kit.tr("dp.reopen.open", case_no=r["case_no"], at=view.fmt_time(r["answered_at"])),
                          key=f"dispatch-reopen-{r['case_id']}", on_click=_pick_reopened, args=(r["case_id"],),
                          type="tertiary")


def _queue_view(counts: dict, rows: list[QueueRow], reopen: list[dict]) -> tuple:
    return (tuple(sorted(counts.items())), tuple((r.id, r.status, r.time_state, r.due_at, r.late_accept) for r in rows),
            tuple(r["case_id"] for r in reopen))


def _queue_stamp(v: int, queue: str) -> tuple:
    """What the queue part shows as of change notice ``v`` with ``queue`` chosen: the badges'
    counts, the queue's rows, the reporters' reopen requests."""
    return _queue_view(panel.queue_counts(v, who), panel.queue_rows(v, queue, who), panel.reopen_requests(v, who))


def _on_queue_switch() -> None:
    """Another queue chosen: the queue and the map (it draws the queue shown) are redrawn."""
    st.rerun([MAP, QUEUE])


def _pick_reopened(case_id: int) -> None:
    _pick(case_id)
    st.rerun([MAP, QUEUE, PANEL])


@st.fragment(key=PANEL)
def panel_part() -> None:
    """The case panel: its actions rerun this part alone (the live watcher redraws the map and
    the queues once the change notice is in)."""
    panel.keep_signed_in()
    panel.flash()
    case_id = st.session_state.get(CASE)
    p = panel.load(case_id) if case_id is not None else None
    panel.show(case_id, p, scope="dispatch")


head, search = st.columns([3, 2], vertical_alignment="bottom")
head.title(kit.tr("dp.heading"), anchor=False)
with search:
    view.case_search("dispatch-search", _on_search)

version = kit.listener().version
left, right = st.columns([3, 2], gap="medium")
with left:
    map_part()
    queue_part()
with right:
    panel_part()

def _digest(v: int) -> tuple:
    """What this page shows outside its parts (``ui.wall_view.live``): nothing — the map, the
    queue and the panel each watch what they drew (``wall_view.part_drawn``), so a part rerun
    alone (a pick, a queue switch) is compared with what it shows. A notice that changes none of
    them (another district's case, a case event nobody here sees) reruns nothing; one that does
    reruns the page once."""
    return ()


# queues follow the clock per minute anyway
wall_view.live(version, time.time() + wall_view.RECOLOUR_S, digest=_digest)
