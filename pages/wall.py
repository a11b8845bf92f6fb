"""指挥大屏 — the map wall at a desk: filters in the sidebar, KPI tiles, the live map, the ticker."""
from __future__ import annotations

import streamlit as st

from accounts.auth import may_open
from wall.frame import WallFilter
from dispatch.states import LEVELS, OPEN_STATUSES
from i18n import level_label, status_label
from ui import kit
from ui import wall_view

who = kit.require_page("wall")
kit.css("theme", "wall")
lang = kit.lang()
opts = wall_view.options(wall_view.current_stamp(), lang)


def _pick(label_key: str, choices: list, key: str, fmt) -> tuple:
    kit.keep_choice(key)  # the choices are named in the session's language: kept across a switch
    return tuple(kit.kept(key, st.multiselect(kit.tr(label_key), choices, format_func=fmt, key=key,
                                              placeholder=kit.tr("wall.filter.all"))))


# A subdistrict's or community's dispatcher opens the wall on their own area (the district stays
# one click away: clear the filter); the command centre on the whole district.
if "f_sd" not in st.session_state and who.unit_level in ("subdistrict", "community") and who.subdistrict_id:
    st.session_state.f_sd = [who.subdistrict_id] if who.subdistrict_id in dict(opts["subdistricts"]) else []
    if who.unit_level == "community" and who.community_id in {i for i, _, _ in opts["communities"]}:
        st.session_state.f_cm = [who.community_id]

with st.sidebar:
    st.subheader(kit.tr("wall.filters"))
    sd_names = dict(opts["subdistricts"])
    sds = _pick("wall.filter.subdistrict", list(sd_names), "f_sd", sd_names.get)
    cm_names = {i: n for i, n, sd in opts["communities"] if not sds or sd in sds}
    cms = _pick("wall.filter.community", list(cm_names), "f_cm", lambda i: cm_names.get(i, str(i)))
    cat_names = dict(opts["categories"])
    cats = _pick("wall.filter.category", list(cat_names), "f_cat", cat_names.get)
    sts = _pick("wall.filter.status", list(OPEN_STATUSES), "f_st", lambda c: status_label(c, lang))
    lvls = _pick("wall.filter.level", list(LEVELS), "f_lvl", lambda c: level_label(c, lang))
    if may_open(who.role, "wall_screen"):
        st.page_link("pages/wall_screen.py", label=kit.tr("wall.screen_link"), icon=":material/tv:")

f = WallFilter(subdistricts=sds, communities=tuple(c for c in cms if c in cm_names),
               categories=cats, statuses=sts, levels=lvls)
lm, version = wall_view.map_frame(f)

head, clock = st.columns([4, 1], vertical_alignment="bottom")
head.title(kit.tr("wall.heading"))
clock.caption(kit.tr("wall.updated", at=lm.at))
wall_view.kpi_tiles(f)
left, right = st.columns([4, 1])
with left:
    wall_view.wall_map_chart(lm, version, height=600)
    wall_view.legend()
with right:
    wall_view.ticker(lm.ticker, height=600)
wall_view.live(version, wall_view.next_midnight(), beacon_polled=True)
