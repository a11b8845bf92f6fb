"""The dispatch page's map: the wall's deck (wall/frame.py) plus a marker on the case being worked on.

Plain Python. The wall writes its deck as compact JSON fitted to the wall's map size; this
refits the initial view to the (smaller) dispatch map and adds one small, non-pickable layer on
top, so a click still lands on the case point underneath (read back by ``wall/pick.py``). The
wall's layers are left as they are. Adds a few hundred bytes to the payload.
"""
from __future__ import annotations

import json
import math

SELECTED_LAYER = "selected-case"
# The map's usual size on the dispatch page (its left column on a 1600-pixel-wide screen).
DISPATCH_MAP = (760, 520)
_RING = [56, 189, 248, 255]


def dispatch_deck(spec: str, lon: float | None = None, lat: float | None = None, *,
                  drawn_for: tuple[int, int] = (900, 620), shown_at: tuple[int, int] | None = None) -> str:
    """``spec`` with a ring around (lon, lat) when a case is selected, its view zoomed out so
    what fitted ``drawn_for`` pixels fits ``shown_at``.

    The view depends only on the sizes, never on the selection, so picking another case does
    not move the map.
    """
    deck = json.loads(spec)
    if shown_at is not None:
        view = deck.get("initialViewState") or {}
        if "zoom" in view:
            scale = min(shown_at[0] / drawn_for[0], shown_at[1] / drawn_for[1])
            view["zoom"] = round(view["zoom"] + math.log2(scale), 2)
    if lon is not None and lat is not None:
        deck["layers"].append({
            "@@type": "ScatterplotLayer", "id": SELECTED_LAYER, "data": [{"p": [round(float(lon), 5), round(float(lat), 5)]}],
            "getPosition": "@@=p", "pickable": False, "filled": False, "stroked": True, "getLineColor": _RING,
            "lineWidthUnits": "pixels", "getLineWidth": 3, "radiusUnits": "pixels", "getRadius": 13,
        })
    return json.dumps(deck, ensure_ascii=False, separators=(",", ":"))
