"""A bare page with the planner's map editor over two fixed squares, for the component's own
browser test (tests/e2e/test_planner_editor.py): every op the editor sends is shown as JSON.
Mode from ``?mode=``."""
from __future__ import annotations

import json

import streamlit as st

from ui.grid_editor import grid_editor
from ui.planner_view import editor_texts


def square(x0: float, y0: float, d: float = 0.01) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + d, y0], [x0 + d, y0 + d], [x0, y0 + d], [x0, y0]]]}


GRIDS = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": square(120.0, 30.0), "properties": {"code": "A001", "name": "甲", "change": "same"}},
    {"type": "Feature", "geometry": square(120.01, 30.0), "properties": {"code": "A002", "name": "乙", "change": "new"}},
]}
CONTEXT = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[120.0, 30.0], [120.02, 30.0], [120.02, 30.01],
                                                                        [120.0, 30.01], [120.0, 30.0]]},
     "properties": {"level": "community", "name": "测试社区"}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.005, 30.005]}, "properties": {}},
]}

mode = st.query_params.get("mode", "select")
if "ops" not in st.session_state:
    st.session_state.ops = []
op = grid_editor(GRIDS, key="editor", context=CONTEXT, mode=mode, community_code="C01", texts=editor_texts("zh"))
if op is not None:
    st.session_state.ops.append(op)
st.code(json.dumps(st.session_state.ops, ensure_ascii=False), language=None)
