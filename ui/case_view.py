"""How a case reads on screen: its header chips, facts, description, photos and history, and the
time-left colours of case tables. Shared by the dispatch page and the department queue.

Photos come from the intake's photo store (``intake.field.photo_store``: the directory the API,
the phone page and the action forms write to), shown as small thumbnails (made once per photo
and cached, so a panel with many photos does not send megapixels on every redraw), each with a
full-size view on request. A reference the store does not hold (a name from another system, or
typed before uploads existed) is shown as text.

Layout only; user text (descriptions, comments, names) is escaped before it goes into HTML.
"""
from __future__ import annotations

import html
import io
import math
import unicodedata
from datetime import datetime
from pathlib import Path

import streamlit as st
from PIL import Image

from dispatch.calendar import TZ
from dispatch import desk
from dispatch.desk import CasePanel
from dispatch.states import label
from gis.crs import STORAGE_CRS, WGS84
from i18n import dispatch_ui  # noqa: F401  (registers this page's texts)
from i18n import name_in
from intake import field as intake_field
from ui import kit

esc = html.escape
ATTACHMENT_KINDS = ("report", "before", "after", "verify")
THUMB_PX = 320          # longest side of a thumbnail (drawn at half that: sharp on high-density screens)
GALLERY_COLUMNS = 3


def photo_path(ref: str | None) -> Path | None:
    """The stored photo behind ``ref`` if the store holds it; None for any other name."""
    if not ref:
        return None
    store = intake_field.photo_store()
    return store.path(ref) if store.exists(ref) else None


@st.cache_data(max_entries=512, show_spinner=False)
def thumbnail(path: str) -> bytes:
    """A small JPEG of a stored photo (stored photos never change: their names are generated)."""
    with Image.open(path) as img:
        img.thumbnail((THUMB_PX, THUMB_PX))
        out = io.BytesIO()
        img.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()


def photos(items: list[tuple[str, str]], *, key: str) -> None:
    """Thumbnails of ``items`` ((caption, ref)), each with its full-size view behind a button."""
    if not items:
        return
    cols = st.columns(GALLERY_COLUMNS)
    for i, (caption, ref) in enumerate(items):
        with cols[i % GALLERY_COLUMNS]:
            path = photo_path(ref)
            if path is None:
                st.caption(kit.tr("dp.att_line", kind=caption, ref=ref))
                continue
            st.image(thumbnail(str(path)), caption=caption, width=THUMB_PX // 2)
            with st.popover(kit.tr("dp.photo_full"), icon=":material/zoom_in:", key=f"{key}-{i}-full"):
                st.image(str(path), caption=caption)


def fmt_time(ts: datetime | None, with_year: bool = False) -> str:
    if ts is None:
        return "—"
    return ts.astimezone(TZ).strftime("%Y-%m-%d %H:%M" if with_year else "%m-%d %H:%M")


def accept_cell(r, with_year: bool = False) -> str:
    """When the lead department must accept a case sent to it (a queue row or a panel), marked
    when that has passed (超时未接收); empty once it was accepted, when nobody waits for it, and on
    an assisting department's row (only the lead department accepts)."""
    if r.status not in desk.TO_ACCEPT or r.accept_due_at is None or getattr(r, "role", None) == "assist":
        return ""
    at = fmt_time(r.accept_due_at, with_year)
    return kit.tr("dp.accept_late", at=at) if r.late_accept else at


def holder_text(h) -> str:
    """Who holds a case (``dispatch.desk.Holder``), in the session's language."""
    if h is None:
        return "—"
    return kit.tr(f"dp.holder.{h.kind}", name=name_in(h, kit.lang()) or "—")


def area_cell(r) -> str:
    """A queue row's place: its community, 待定位 with the address it came with, or outside."""
    if r.community_name:
        return name_in(r, kit.lang(), "community_name")
    if getattr(r, "awaiting_location", False):
        return kit.tr("dp.awaiting_location") + (f" · {r.address}" if r.address else "")
    return kit.tr("dp.outside")


def chip(text: str, kind: str) -> str:
    return f'<span class="dp-chip dp-{esc(kind)}">{esc(text)}</span>'


def header(p: CasePanel) -> None:
    lang = kit.lang()
    chips = [chip(label("status", p.status, lang), "st-" + p.status)]
    if p.level:
        chips.append(chip(kit.tr("dp.level_chip", level=label("level", p.level, lang)), "level"))
    if p.time_state:
        chips.append(chip(label("time_state", p.time_state, lang), "ts-" + p.time_state))
    if p.supervised:
        chips.append(chip(kit.tr("dp.supervised"), "supervised"))
    if p.chase_count:
        when = p.last_chased_at.astimezone(TZ).strftime("%m-%d %H:%M") if p.last_chased_at else ""
        chips.append(chip(kit.tr("dp.chased", n=p.chase_count, at=when), "supervised"))
    if p.outside_jurisdiction:
        chips.append(chip(kit.tr("dp.outside"), "ts-overdue"))
    if p.awaiting_location:
        chips.append(chip(kit.tr("dp.awaiting_location"), "ts-at_risk"))
    cat = name_in(p, lang, "category_name") or kit.tr("dp.no_category")
    st.html(f'<div class="dp-head"><div class="dp-no">{esc(p.case_no)}</div>'
            f'<div class="dp-cat">{esc(p.category_code or "")} {esc(cat)}</div>'
            f'<div class="dp-chips">{"".join(chips)}</div></div>')


def facts(p: CasePanel) -> None:
    tr = kit.tr
    workers = "、".join(f'{w.full_name}{" " + w.phone if w.phone else ""}' for w in p.grid_workers)
    depts = tr("dp.list_sep").join(
        tr("dp.name_role", name=name_in(d, kit.lang()), role=tr("dp.lead") if d.role == "lead" else tr("dp.assist"))
        for d in p.departments)
    area = " / ".join(x for x in (name_in(p, kit.lang(), "subdistrict_name"), name_in(p, kit.lang(), "community_name"))
                      if x) or tr("dp.awaiting_location" if p.awaiting_location else "dp.outside")
    rows = [
        ("dp.f.reported", f'{fmt_time(p.reported_at, True)} · {tr("dp.channel." + p.channel)}'),
        ("dp.f.address", p.address or "—"),
        ("dp.f.location", tr("dp.f.unlocated") if p.lon is None else f'{p.lon:.5f}, {p.lat:.5f}'
                          + (f' ({tr("dp.f.received")} {p.received_x:.6f}, {p.received_y:.6f} {p.received_crs})'
                             if p.received_crs not in (None, STORAGE_CRS, WGS84) else "")),
        ("dp.f.area", area),
        ("dp.f.grid", f'{name_in(p, kit.lang(), "grid_name") or "—"} {p.grid_code or ""}'),
        ("dp.f.grid_worker", workers or "—"),
        ("dp.f.holder", holder_text(desk.holder(p))),
        ("dp.f.department", depts or "—"),
        ("dp.f.handler", p.handler_name or "—"),
        ("dp.f.due", fmt_time(p.due_at, True)),
    ]
    if by := accept_cell(p, True):  # sent to its lead department, not accepted yet
        rows.append(("dp.col.accept_by", by))
    if p.postpone_requested_at:
        rows.append(("dp.f.postpone_request", f'{fmt_time(p.postpone_requested_due_at, True)} · '
                                              f'{p.postpone_request_reason or ""}'))
    if p.duplicate_of_case_no:
        rows.append(("dp.f.duplicate_of", p.duplicate_of_case_no))
    if p.public_reply:  # what the reporter reads on the status page (答复市民)
        rows.append(("dp.f.public_reply", f'{p.public_reply} · {fmt_time(p.public_reply_at, True)}'))
    # a typed value keeps its line breaks (the reply to the reporter, a postponement's reason)
    body = "".join(f"<dt>{esc(tr(k))}</dt><dd>{esc(str(v)).replace(chr(10), '<br>')}</dd>" for k, v in rows)
    desc = esc(p.description or "").replace("\n", "<br>") or "—"
    st.html(f'<dl class="dp-facts">{body}</dl><div class="dp-desc"><b>{esc(tr("dp.f.description"))}</b>'
            f'<p>{desc}</p></div>')
    if p.photo_ref:
        photos([(tr("dp.att.report"), p.photo_ref)], key=f"facts-{p.id}")
    else:
        st.html(f'<div class="dp-photo">{esc(tr("dp.photo_line", ref=tr("dp.no_photo")))}</div>')


def _kind(a: dict) -> str:
    return kit.tr(f"dp.att.{a.get('kind')}") if a.get("kind") in ATTACHMENT_KINDS else kit.tr("dp.att.other")


def timeline(p: CasePanel) -> None:
    """The history, then the photos kept in it (report, before, after, verification), oldest first."""
    items, shots = [], []
    for e in p.timeline:
        who = e.actor_name or e.role_label or ""
        move = esc(e.action_label)
        if e.from_status and e.to_status and e.from_status != e.to_status:
            move += f' <span class="dp-move">{esc(e.from_label)} → {esc(e.to_label)}</span>'
        extra = ""
        if e.department_name and e.action == "dispatch":
            extra += f'<div class="dp-ev-x">→ {esc(e.department_name)}</div>'
        if e.comment:
            extra += f'<div class="dp-ev-x">{esc(e.comment)}</div>'
        for a in e.attachments or []:
            if isinstance(a, dict) and a.get("ref"):
                kind = _kind(a)
                extra += f'<div class="dp-ev-a">{esc(kit.tr("dp.att_line", kind=kind, ref=str(a["ref"])))}</div>'
                shots.append((f"{kind} · {e.action_label} · {fmt_time(e.at)}", str(a["ref"])))
        items.append(f'<li><span class="dp-ev-t">{fmt_time(e.at)}</span><div><b>{move}</b>'
                     f'<span class="dp-ev-w">{esc(who)}</span>{extra}</div></li>')
    st.html(f'<div class="dp-timeline"><h4>{esc(kit.tr("dp.timeline"))}</h4><ol>{"".join(items)}</ol></div>')
    if shots:
        st.markdown(f"**{kit.tr('dp.history_photos')}**")
        photos(shots, key=f"hist-{p.id}")


# How a case table's header is drawn (Streamlit's dataframe is a canvas grid, glide-data-grid):
# 14 px type, 8 px padding each side, and room at the right for the column menu / sort arrow
# that appear on hover. A column is sized to its cells unless told otherwise, so a header longer
# than every cell below it (时限状态 over 临期, "Time left" over "On track") is cut short: such a
# column gets the header's own width.
# A header with help gets room for its help mark as well.
HEADER_PX, HEADER_PAD, HEADER_MENU, HEADER_HELP = 14, 8, 22, 20


def text_px(s: str, px: float = HEADER_PX) -> float:
    """A generous estimate of the width of ``s`` set at ``px``: a CJK character is a full em,
    capitals and digits 0.68 em, other Latin 0.58 em (Source Sans is narrower than that)."""
    def one(ch: str) -> float:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            return 1.0
        return 0.68 if ch.isupper() or ch.isdigit() else 0.58
    return sum(one(ch) for ch in s) * px


def header_width(lab: str, *, helped: bool = False) -> int:
    """Pixels a column needs to show the header ``lab`` whole (``helped``: it has a help text)."""
    return math.ceil(text_px(lab) + 2 * HEADER_PAD + HEADER_MENU + (HEADER_HELP if helped else 0))


def _content_px(values) -> float:
    cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in values if v is not None]
    return max((text_px(c) + 2 * HEADER_PAD for c in cells), default=0.0)


def queue_columns(df) -> dict:
    """Column configs of a case table ``df``: headers in the session's language, each column at
    least as wide as its header (computed from the label, so both languages fit), and the
    time-left column explaining 临期 (which depends on the case's own time limit)."""
    cfg = {}
    for c in df.columns:
        lab = kit.tr(f"dp.col.{c}")
        helped = c in ("time", "hours_left", "accept_by")
        need = header_width(lab, helped=helped)
        width = need if need > _content_px(df[c]) else None   # otherwise the cells set the width
        if c == "hours_left":
            cfg[c] = st.column_config.NumberColumn(lab, format="%.1f", width=width, help=kit.tr("dp.col.hours_left.help"))
        elif c == "accept_by":
            cfg[c] = st.column_config.TextColumn(lab, width=width, help=kit.tr(
                "dp.col.accept_by.help", limit=f"{desk.ACCEPT_LIMIT[0]:g}"))
        else:
            cfg[c] = st.column_config.TextColumn(lab, width=width, help=kit.tr("dp.col.time.help") if helped else None)
    return cfg


def case_search(key: str, on_search, *, label_visibility: str = "visible") -> None:
    """A case desk's search by case number (``key``: the text box; ``on_search``: the callback,
    which reads ``session_state[key]``): a form, submitted by Enter or by its button.

    Not a text box with ``on_change``: a changed value is noticed by comparing it with the last
    one the server saw, and on the dispatch page (a callback there answered with a rerun of the
    page's parts) a search typed while the live watcher's full reruns were under way was seen
    to run its callback and draw the panel on the server, and still not be on screen 8 s later
    (issue 8). A form's submit is a trigger of
    its own, and the callback only sets state: the rerun that follows is the whole page's, the
    one the browser asked for, which redraws the panel, the queue's tick and the map's ring."""
    with st.form(f"{key}-form", border=False, enter_to_submit=True):
        box, go = st.columns([5, 1], vertical_alignment="bottom", gap="small")
        box.text_input(kit.tr("dp.search"), key=key, placeholder=kit.tr("dp.search_placeholder"),
                       icon=":material/search:", label_visibility=label_visibility)
        go.form_submit_button(kit.tr("dp.search_go"), key=f"{key}-go", on_click=on_search, width="stretch")


def selection_of(ids: list[int], case_id: int | None) -> dict:
    """A case table's selection state that ticks the row of ``case_id`` (none if it is not listed)."""
    return {"selection": {"rows": [ids.index(case_id)] if case_id in ids else [], "columns": [], "cells": []}}


def table_key(key: str) -> str:
    """The widget key the case table ``key`` (``case_table``) is drawn under now."""
    return f"{key}-t{st.session_state.get(f'{key}.gen', 0)}"


def case_table(data, ids: list[int], *, key: str, case_id: int | None, on_pick, **kw) -> None:
    """A single-row-select case table whose tick is on the row of ``case_id`` (or on none), in a
    container keyed ``key``; ``on_pick(widget_key, ids)`` is its selection callback.

    The tick follows the case, never a row number, and never a tick the browser still holds: a
    table keeps its own tick in the browser and sends it back with the next interaction, anything
    on the page. Had the tick been changed from the server (a search, a map click, an action that
    took the case out of the list), the server would read that old tick as the user picking the
    old row again, and the panel would jump back to it (issue 8's search-after-pick stall). So
    when the tick must change, the table is drawn as a new widget (a new key, ticked from the
    start): the browser holds no tick for it, and the old table's is for a widget that is gone.
    """
    wkey = table_key(key)
    want = selection_of(ids, case_id)
    held = st.session_state.get(wkey)
    if held is not None and list(held["selection"]["rows"]) != want["selection"]["rows"]:
        st.session_state[f"{key}.gen"] = st.session_state.get(f"{key}.gen", 0) + 1
        wkey = table_key(key)
    if wkey not in st.session_state:
        st.session_state[wkey] = want
    st.session_state[f"{key}.shown"] = wkey
    with st.container(key=key):
        st.dataframe(data, key=wkey, on_select=lambda: on_pick(wkey, ids), selection_mode="single-row",
                     hide_index=True, **kw)


def picked_row(wkey: str, ids: list[int]) -> tuple[bool, int | None]:
    """In a ``case_table`` callback: (whether it is the table shown now, the case its tick is on).
    A callback of a table no longer shown (an old tick sent late) is not a pick."""
    if st.session_state.get(f"{wkey.rsplit('-t', 1)[0]}.shown") != wkey:
        return False, None
    rows = st.session_state[wkey].selection.rows
    return True, (ids[rows[0]] if rows and rows[0] < len(ids) else None)


TIME_COLOURS = {"overdue": "color: #f87171; font-weight: 700", "at_risk": "color: #fbbf24; font-weight: 700",
                "on_track": "color: #4ade80"}


def styled(df, time_states: list):
    """A case table with its time-left column coloured (red overdue, amber at risk, green on track)."""
    colours = [TIME_COLOURS.get(s, "") for s in time_states]
    return df.style.apply(lambda col: colours, subset=["time"])
