"""办理进度 — the reporter's private status link (``status?token=…``, no login): the case's public
progress (states and dates, the sorting unit's reply to the reporter, a deadline still ahead; never
staff names or internal comments) and, once it is closed, one
satisfaction answer (满意 / 基本满意 / 不满意 + comment; an unsatisfied one may ask for a second look).

Only the case the token belongs to is shown; views are rate-limited per address.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from i18n import t
from intake import public
from ui import kit
from ui import report_forms as rf

P = "st"
VIEWS_PER_S, VIEW_BURST = 1.0, 30
kit.public_page("status")
rf.look()
lang = kit.lang()
st.title(kit.tr("st.heading"), anchor=False)

if wait := rf.slowed("status", rate=VIEWS_PER_S, burst=VIEW_BURST):
    st.error(kit.tr("pub.slow_down", s=wait))
    st.stop()
token = st.query_params.get("token", "")
with kit.engine().connect() as conn:
    s = public.public_status(conn, token, lang=lang)
if s is None:
    st.warning(kit.tr("st.unknown"))
    st.stop()

st.subheader(kit.tr("st.case", no=s.case_no, cat=s.category or "—"), anchor=False)
c1, c2 = st.columns(2)
c1.metric(kit.tr("st.state"), s.status_label)
c2.metric(kit.tr("st.reported"), f"{s.reported_at:%Y-%m-%d %H:%M}")


def when_done(ended_at, due_at) -> None:
    """The end date, or (dispatched, deadline ahead) when the reporter may expect it done."""
    if ended_at:
        st.caption(kit.tr("st.ended", at=f"{ended_at:%Y-%m-%d %H:%M}"))
    elif due_at:
        st.caption(kit.tr("st.expected", at=f"{due_at:%Y-%m-%d %H:%M}"))


def reply(said: str, at) -> None:
    """答复市民: the sorting unit's words to the reporter, shown as typed (never as markdown)."""
    st.markdown(f"**{kit.tr('st.reply')}** · {at:%Y-%m-%d %H:%M}")
    st.text(said)


when_done(s.closed_at, s.due_at)
if (m := s.merged_into) is not None:  # a duplicate: the problem is handled on the case it joined
    with st.container(border=True, key="st-merged"):
        st.markdown(kit.tr("st.merged_into", no=m.case_no, state=m.status_label))
        when_done(m.ended_at, m.due_at)
        if m.public_reply:
            reply(m.public_reply, m.public_reply_at)
if s.public_reply:
    with st.container(border=True, key="st-reply"):
        reply(s.public_reply, s.public_reply_at)
st.markdown(f"**{kit.tr('st.history')}**")
cols = ("at", "step", "status")
st.dataframe(pd.DataFrame([{"at": f"{h['at']:%Y-%m-%d %H:%M}", "step": h["action_label"], "status": h["status_label"]}
                           for h in s.history], columns=cols),
             hide_index=True, width="stretch", column_config={c: kit.tr(f"st.col.{c}") for c in cols})

if st.session_state.pop(f"{P}_thanks", False):
    st.success(kit.tr("st.thanks"))
if s.rating:
    st.info(kit.tr("st.rated", rating=kit.tr(f"st.rating.{s.rating}"), at=f"{s.answered_at:%Y-%m-%d %H:%M}"))
    if s.reopen_status == "pending":
        st.caption(kit.tr("st.reopen_pending"))
    elif s.reopen_status:
        st.caption(kit.tr("st.reopen_decided"))
elif s.may_rate:
    st.markdown(f"**{kit.tr('st.rate')}**")
    rf.keep_choice(f"{P}_rating")
    rating = rf.kept(f"{P}_rating", st.radio(kit.tr("st.rate"), public.RATINGS, index=None, key=f"{P}_rating",
                                             horizontal=True, format_func=lambda r: t(f"st.rating.{r}", lang),
                                             label_visibility="collapsed"))
    comment = st.text_area(kit.tr("st.comment"), key=f"{P}_comment")
    reopen = st.checkbox(kit.tr("st.reopen"), key=f"{P}_reopen", disabled=rating != "unsatisfied")
    if st.button(kit.tr("st.send"), type="primary", key=f"{P}_send", width="stretch", disabled=rating is None):
        if rf.too_long(comment, public.MAX_COMMENT, what="st.comment"):
            st.stop()
        try:
            with kit.engine().begin() as conn:
                public.answer_satisfaction(conn, token, rating=rating, comment=comment,
                                           reopen=bool(reopen and rating == "unsatisfied"))
        except public.PublicError as e:
            st.error(rf.refusal(e))
        else:
            st.session_state[f"{P}_thanks"] = True  # shown on the run that follows (it was lost to the rerun)
            st.rerun()
