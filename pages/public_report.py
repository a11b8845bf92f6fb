"""市民上报 — the public report page (no login, website channel): category, description, photo,
the place from the phone, on the offline map or typed; answered with the case number and a private status link.

Rate-limited per address; writes through ``intake.public`` → ``dispatch.service.report_case``.
"""
from __future__ import annotations

import streamlit as st

from dispatch.errors import LifecycleError
from intake import field, public
from intake.photos import PhotoError
from ui import kit
from ui import report_forms as rf

P = "pub"
REPORTS_PER_S, REPORT_BURST = 1 / 60, 5  # a person reports a few things, not a stream
kit.public_page("public_report")
rf.look()
rf.clear_if_sent(P)
st.title(kit.tr("pub.heading"), anchor=False)
st.caption(kit.tr("pub.intro"))

done = st.session_state.get(f"{P}_done")
if not done and (receipt := st.query_params.get("receipt")):
    # a reload (or a phone that dropped the tab) keeps the receipt: the link is the only way back
    with kit.engine().connect() as conn:
        got = public.public_status(conn, receipt, lang=kit.lang())
    done = (got.case_no, receipt, False) if got else None
if done:
    no, token, outside = done
    st.success(kit.tr("pub.done", no=no))
    if outside:
        st.warning(kit.tr("pub.outside"))
    st.markdown(kit.tr("pub.link"))
    link = rf.status_link(token)
    st.code(link, language=None)
    st.link_button(kit.tr("page.status"), link, width="stretch")


@st.cache_data(ttl=600, show_spinner=False)
def reference() -> tuple[list[dict], list[dict]]:
    with kit.engine().connect() as conn:
        return field.categories(conn), field.pick_grids(conn)


cats, grids = reference()
cat = rf.category_select(P, cats)
description = st.text_area(kit.tr("rp.description"), key=f"{P}_descr",
                           placeholder=kit.tr("rp.description_hint", limit=public.MAX_DESCRIPTION))
photo = rf.photo_input(P, camera_label=kit.tr("rp.photo_camera"), file_label=kit.tr("rp.photo_file"))
place = rf.place_input(P, grids)

if st.button(kit.tr("rp.submit"), type="primary", key=f"{P}_submit", width="stretch"):
    if rf.second_tap(P, cat, description, photo):
        pass  # a double tap on the report just sent (it went in once; its receipt is shown above)
    elif not cat:
        st.error(kit.tr("rp.no_category"))
    elif place is None:
        st.error(kit.tr("rp.no_place"))
    elif rf.too_long(description, public.MAX_DESCRIPTION):
        pass
    elif wait := rf.slowed("public_report", rate=REPORTS_PER_S, burst=REPORT_BURST):
        st.error(kit.tr("pub.slow_down", s=wait))
    else:
        try:
            with field.photos_for_one_report(field.photo_store()) as put:  # removed again if refused
                stored = put(photo)
                with kit.engine().begin() as conn:
                    no, token, outside = public.report_from_website(
                        conn, category_code=cat, description=description, place=place,
                        photo_ref=stored.ref if stored else None)
        except (LifecycleError, PhotoError, public.PublicError) as e:
            st.error(kit.tr("rp.refused", why=rf.refusal(e)))
        else:
            st.session_state[f"{P}_done"] = (no, token, outside)
            st.query_params["receipt"] = token
            rf.sent(P)
            st.rerun()
