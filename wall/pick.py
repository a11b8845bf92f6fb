"""The map-click contract: which layer holds the pickable cases and which field carries a case's id.

Defined once here, by the map that draws the layer (``wall/frame.py``); a pydeck map's click is
read back with ``case_id_from_selection``: Streamlit's pydeck chart answers a click with
``{"selection": {"indices": {layer_id: [i]}, "objects": {layer_id: [object]}}}``. The wall's own
component (``ui/wall_map``, the dispatch page's map) answers ``{"i": case id, "n": nonce}``, read
by ``ui.wall_map.take_click``.
"""
from __future__ import annotations

from typing import Mapping

CASE_LAYER = "cases"   # the id of the wall's pickable layer of open cases
CASE_ID_FIELD = "i"    # the field of each case object holding the case id (one letter: it rides every render)


def case_id_from_selection(selection: Mapping | None) -> int | None:
    """The case picked on the map: ``{"selection": {"objects": {"cases": [{"i": id, …}]}}}``.

    Resolved from the object's own id field, never from its index (the data may have changed
    between the draw and the click). A click on a grid or anything else gives None.

    >>> case_id_from_selection({"selection": {"indices": {"cases": [3]}, "objects": {"cases": [{"i": 42}]}}})
    42
    >>> case_id_from_selection({"selection": {"objects": {"grids": [{"t": "网格"}]}}}) is None
    True
    """
    if not selection:
        return None
    sel = selection.get("selection", selection) if isinstance(selection, Mapping) else None
    objects = (sel or {}).get("objects") or {}
    picked = objects.get(CASE_LAYER) or []
    if not picked:
        return None
    value = picked[0].get(CASE_ID_FIELD) if isinstance(picked[0], Mapping) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None

