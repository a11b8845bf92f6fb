"""A bare page with the planner's map editor over two fixed squares, a reference layer (a road
whose name is hostile markup) and the city's own tiles as configured (``GRIDGOV_TILES``,
``INTAKE_PORT``: the URL comes from ``ui.planner_view.base_map``, as on the planner's page), for
tests/e2e/test_planner_layers.py."""
from __future__ import annotations

import streamlit as st

from ui import planner_view as pv
from ui.grid_editor import grid_editor

def square(x0: float, y0: float, d: float = 0.01) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]}


GRIDS = {"type": "FeatureCollection", "features": [  # as tests/e2e/planner_editor_app.py (which draws on import)
    {"type": "Feature", "geometry": square(120.0, 30.0), "properties": {"code": "A001", "name": "甲", "change": "same"}},
    {"type": "Feature", "geometry": square(120.01, 30.0), "properties": {"code": "A002", "name": "乙", "change": "new"}},
]}
HOSTILE = '<img src=x onerror="window.pwned=1">路'
ROAD = {"type": "FeatureCollection", "name": "道路", "features": [
    {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[119.995, 30.005], [120.025, 30.005]]},
     "properties": {"name": HOSTILE, "lanes": 4}}]}

tiles, error = pv.base_map(st.context.url)
if error:
    st.error(error)
grid_editor(GRIDS, key="editor", references=[ROAD], mode="view", tiles=tiles)
