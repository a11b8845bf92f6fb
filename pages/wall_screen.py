"""大屏模式 — the wall for a video wall: no chrome, large type, optional cycling through subdistricts.

Address parameters (so a wall PC can be set up with one bookmark):
``?cycle=30`` shows the whole district, then each subdistrict for 30 s in turn;
``?sd=3`` shows one subdistrict; ``?h=900`` sets the map height in pixels; ``?lang=en``.
"""
from __future__ import annotations

import time

import streamlit as st

from wall.frame import WallFilter
from ui import kit
from ui import wall_view

kit.require_page("wall_screen")
kit.css("theme", "wall", "screen")
lang = kit.lang()
q = st.query_params


def _int(name: str, default: int) -> int:
    try:
        return max(0, int(q.get(name, default)))
    except ValueError:
        return default


subdistricts = wall_view.options(wall_view.current_stamp(), lang)["subdistricts"]
cycle, height = _int("cycle", 0), _int("h", 760)
rerun_at = wall_view.next_midnight()
if cycle and subdistricts:
    slot = int(time.time() // cycle)
    pick = [None, *subdistricts][slot % (len(subdistricts) + 1)]
    rerun_at = (slot + 1) * cycle
elif _int("sd", 0):
    pick = next((s for s in subdistricts if s[0] == _int("sd", 0)), None)
else:
    pick = None
f = WallFilter(subdistricts=(pick[0],)) if pick else WallFilter()
lm, version = wall_view.map_frame(f, large=True)

head, clock = st.columns([5, 1], vertical_alignment="bottom")
head.title(f"{kit.tr('wall.heading')} · {pick[1] if pick else kit.tr('wall.all_district')}", anchor=False)
with clock:
    wall_view.clock()
wall_view.kpi_tiles(f)
left, right = st.columns([5, 1])
with left:
    wall_view.wall_map_chart(lm, version, height=height, key="screen-map")
    wall_view.legend()
with right:
    wall_view.ticker(lm.ticker[:10], height=height)
    st.page_link("pages/wall.py", label=kit.tr("wall.exit_screen"), icon=":material/close_fullscreen:")
wall_view.live(version, rerun_at, beacon_polled=True)  # cycling: rerun_at is the next slot
