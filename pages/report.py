"""网格上报 — the grid worker's phone page: report a problem in the grid (category, description,
photo, place from the phone, the map or typed), or resolve it on the spot (自行处置: closed at
once as self-handled, with an after photo); below, the worker's own reports of the last weeks.

Writes go through the lifecycle (``intake.field`` → ``dispatch.service``), photos through the
intake's photo store (same checks as the API).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from dispatch.errors import LifecycleError
from dispatch.service import MAX_DESCRIPTION
from dispatch.states import label
from i18n import name_in
from intake import field as svc
from intake.photos import PhotoError
from ui import kit
from ui import report_forms as rf

P = "rp"
who = kit.require_page("report")
rf.look()
rf.clear_if_sent(P)
lang = kit.lang()
st.title(kit.tr("page.report"), anchor=False)
for kind, msg in st.session_state.pop(f"{P}_flash", []):
    getattr(st, kind)(msg)


@st.cache_data(ttl=600, show_spinner=False)
def reference(community_id: int | None) -> tuple[list[dict], list[dict]]:
    with kit.engine().connect() as conn:
        return svc.categories(conn), svc.pick_grids(conn, community_id=community_id)


cats, grids = reference(who.community_id)
cat = rf.category_select(P, cats)
description = st.text_area(kit.tr("rp.description"), key=f"{P}_descr",
                           placeholder=kit.tr("rp.description_hint", limit=MAX_DESCRIPTION))
photo = rf.photo_input(P, camera_label=kit.tr("rp.photo_camera"), file_label=kit.tr("rp.photo_file"))
place = rf.place_input(P, grids)
on_spot = st.toggle(kit.tr("rp.self_handle"), key=f"{P}_self")
after = rf.photo_input(f"{P}_after", camera_label=kit.tr("rp.after_photo"),
                       file_label=kit.tr("rp.after_file")) if on_spot else None


def submit() -> None:
    if rf.second_tap(P, cat, description, photo):  # a double tap on a report just sent: it went in once
        for kind, msg in st.session_state.get(f"{P}_last_flash", []):
            getattr(st, kind)(msg)
        return
    if not cat:
        st.error(kit.tr("rp.no_category"))
        return
    if place is None:
        st.error(kit.tr("rp.no_place"))
        return
    if on_spot and not after:
        st.error(kit.tr("rp.need_after"))
        return
    if rf.too_long(description, MAX_DESCRIPTION):
        return
    try:
        with svc.photos_for_one_report(svc.photo_store()) as put:  # removed again if the report is refused
            before = put(photo)
            with kit.engine().begin() as conn:
                if on_spot:
                    after_ref = put(after).ref
                    row = svc.resolve_on_spot(conn, actor=who, category_code=cat, description=description.strip(),
                                              place=place, before_ref=before.ref if before else None,
                                              after_ref=after_ref)
                else:
                    row = svc.report_from_phone(conn, actor=who, category_code=cat, description=description.strip(),
                                                place=place, photo_ref=before.ref if before else None)
    except (LifecycleError, PhotoError) as e:
        st.error(kit.tr("rp.refused", why=rf.refusal(e)))
        return
    flash = [("success", kit.tr("rp.done_self" if on_spot else "rp.done", no=row["case_no"]))]
    if row["outside_jurisdiction"]:
        flash.append(("warning", kit.tr("rp.outside")))
    st.session_state[f"{P}_flash"] = st.session_state[f"{P}_last_flash"] = flash
    rf.sent(P)
    st.rerun()


if st.button(kit.tr("rp.self_handle") if on_spot else kit.tr("rp.submit"), type="primary", key=f"{P}_submit",
             width="stretch"):
    submit()

st.subheader(kit.tr("rp.mine", days=svc.MY_REPORTS_DAYS), anchor=False)
with kit.engine().connect() as conn:
    mine = svc.my_reports(conn, actor=who)
if not mine:
    st.caption(kit.tr("rp.mine_empty"))
else:
    cols = ("case_no", "category", "status", "reported_at", "due_at", "self_handled")
    table = pd.DataFrame([{
        "case_no": r["case_no"], "category": name_in(r, lang, "category_name"),
        "status": label("status", r["status"], lang), "reported_at": r["reported_at"], "due_at": r["due_at"],
        "self_handled": bool(r["self_handled"])} for r in mine], columns=cols)
    st.dataframe(table, hide_index=True, width="stretch", key=f"{P}_mine",
                 column_config={c: kit.tr(f"rp.col.{c}") for c in cols})
