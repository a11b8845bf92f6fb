"""The dispatch page's map (``wall/dispatch_map.py``), cached in parts so a pick costs little.

- the base (outlines by URL, area names, the view): per boundary stamp and area;
- the load of the area's open cases (per-grid circles, or every case while there are few): per
  change notice (``version``) and minute (time alone turns cases amber and red);
- the queue's points and the ring: per draw — a few hundred points at most.

The map is redrawn by a pick (to move the ring) and by a queue switch (its points): a deck of
tens of kilobytes, never the megabytes of every open case at a million.
"""
from __future__ import annotations

import time
from datetime import datetime

import streamlit as st

from dispatch.calendar import TZ
from wall import dispatch_map as dm
from wall.frame import WallFilter, boundary_stamp, write_outlines
from ui import kit
from ui.wall_view import OUTLINES_DIR, OUTLINES_URL, SpecDeck, _base

LOAD_CACHE_S = 60


@st.cache_data(max_entries=8, show_spinner=False)
def _stamp(version: int) -> str:
    """The boundary stamp for a change notice (a boundary publish notifies too)."""
    with kit.reading() as conn:
        return boundary_stamp(conn)


@st.cache_data(max_entries=16, show_spinner=False)
def _base_part(stamp: str, f: WallFilter, lang: str) -> tuple[str, dict, tuple[float, float]]:
    """(base layers JSON, view, origin) for the boundaries ``stamp``."""
    base = _base(stamp, lang)
    name = write_outlines(base, OUTLINES_DIR)  # a no-op once the file is there
    view = dm.dispatch_view(base, f)
    return dm.base_layers(base, view, OUTLINES_URL + name), view, base.origin


@st.cache_data(max_entries=32, show_spinner=False)
def _load_part(version: int, minute: int, stamp: str, f: WallFilter, lang: str) -> tuple[str, list[dict] | None, int]:
    """(grid-load layer JSON or "", every open case's point or None, open cases) of the area."""
    base = _base(stamp, lang)
    with kit.reading() as conn:
        load = dm.open_load(conn, f, datetime.now(TZ), lang, base.origin)
    return ("" if load.points is not None else dm.load_layer(base, load, lang)), load.points, load.total


@st.cache_data(max_entries=256, show_spinner=False)
def _position(version: int, case_id: int) -> tuple[float, float, str] | None:
    with kit.engine().connect() as conn:
        return dm.case_position(conn, case_id)


def deck(version: int, f: WallFilter, rows: list, picked: int | None) -> SpecDeck:
    """The dispatch map for the area ``f``: the load, the queue's ``rows`` (or every open case while
    there are few), and a ring on case ``picked``."""
    lang = kit.lang()
    stamp = _stamp(version)
    base_json, view, origin = _base_part(stamp, f, lang)
    load_json, every, _total = _load_part(version, int(time.time() // LOAD_CACHE_S), stamp, f, lang)
    points = list(every) if every is not None else [dm.queue_point(r, origin, lang) for r in rows if r.lon is not None]
    ring = None
    if picked is not None:
        pos = _position(version, picked)
        if pos is not None:
            ring = dm.offset(pos[0], pos[1], origin)
            if not any(p[dm.CASE_ID_FIELD] == picked for p in points):  # a searched case in no queue shown
                points.append({dm.CASE_ID_FIELD: picked, "p": ring, "k": 0, "t": pos[2], "s": ""})
    spec, tooltip = dm.dispatch_deck(base_json, view, load_json, points, ring, origin)
    return SpecDeck(spec, tooltip)


def chart(d: SpecDeck, *, key: str, on_select):
    """Draw the map (``st.pydeck_chart``, a click selects one case)."""
    return st.pydeck_chart(d, height=dm.DISPATCH_MAP[1], key=key, on_select=on_select,
                           selection_mode="single-object", alt=kit.tr("wall.map_alt"))
