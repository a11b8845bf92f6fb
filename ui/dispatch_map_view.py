"""The dispatch page's map (``wall/dispatch_map.py``), drawn by the wall's component (``ui.wall_map``)
and cached in parts so a pick costs little.

- the base (outlines by URL, area names, the view): per boundary stamp and area;
- the area's open cases (per-grid counts, and every case while there are few): per change notice
  (``version``); time passing costs nothing, the browser colours the cases from their deadlines;
- the queue's points and the ring: per queue shown and case picked — a few hundred points at most.

A pick or a queue switch sends a payload of tens of kilobytes (the browser keeps its drawing of the
points when they are the same and moves the ring alone), never the megabytes of every open case at
a million.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

import streamlit as st

from ui import kit
from ui.wall_map import wall_map
from ui.wall_view import OUTLINES_DIR, OUTLINES_URL, _base
from wall import dispatch_map as dm
from wall.frame import WallFilter, boundary_stamp, write_outlines

KEY = "dispatch-map"


@st.cache_data(max_entries=8, show_spinner=False)
def _stamp(version: int) -> str:
    """The boundary stamp for a change notice (a boundary publish notifies too)."""
    with kit.reading() as conn:
        return boundary_stamp(conn)


@st.cache_data(max_entries=16, show_spinner=False)
def _base_part(stamp: str, f: WallFilter, lang: str) -> tuple[dict, str]:
    """(view, outline file's address) for the boundaries ``stamp``."""
    base = _base(stamp, lang)
    name = write_outlines(base, OUTLINES_DIR)  # a no-op once the file is there
    return dm.dispatch_view(base, f), OUTLINES_URL + name


@st.cache_data(max_entries=32, show_spinner=False)
def _area_part(version: int, f: WallFilter) -> tuple[dm.OpenArea, int]:
    """The area's open cases as of change notice ``version``, and the deadlines' origin (t0)."""
    with kit.reading() as conn:
        return dm.open_area(conn, f), math.floor(time.time())


@st.cache_data(max_entries=256, show_spinner=False)
def _case_rows(version: int, ids: tuple[int, ...]) -> list:
    with kit.reading() as conn:
        return dm.case_rows(conn, list(ids))


@st.cache_data(max_entries=256, show_spinner=False)
def _position(version: int, case_id: int) -> tuple[float, float, str] | None:
    with kit.engine().connect() as conn:
        return dm.case_position(conn, case_id)


def _ids(rows: list) -> tuple[int, ...]:
    """The queue rows that have a point."""
    return tuple(r.id for r in rows if r.lon is not None)


def _points(version: int, f: WallFilter, ids: tuple[int, ...]) -> tuple[dm.OpenArea, int, list]:
    """(the area, t0, the cases drawn: every open case of a small area, else the queue's ``ids``)."""
    area, t0 = _area_part(version, f)
    return area, t0, list(area.rows) if area.rows is not None else list(_case_rows(version, ids))


@st.cache_data(max_entries=64, show_spinner=False)
def _payload(version: int, f: WallFilter, ids: tuple[int, ...], picked: int | None, lang: str) -> tuple[bytes, str]:
    stamp = _stamp(version)
    base = _base(stamp, lang)
    view, outlines_url = _base_part(stamp, f, lang)
    area, t0, rows = _points(version, f, ids)
    ring = None
    if picked is not None:
        pos = _position(version, picked)
        if pos is not None:
            ring = dm.offset(pos[0], pos[1], base.origin)
            if not any(r.id == picked for r in rows):  # a searched case in no queue shown: drawn if open
                rows += _case_rows(version, (picked,))
    data = dm.payload(base, view, outlines_url, area, rows, ring, lang, t0)
    return data, hashlib.sha1(data).hexdigest()[:16]


def draw(version: int, f: WallFilter, rows: list, picked: int | None, *, on_pick: Callable[[], None]) -> int | None:
    """The dispatch map for the area ``f``: its grids shaded by their open cases, the queue's
    ``rows`` (or every open case while there are few), a ring on case ``picked``. A click on a case
    calls ``on_pick`` (which takes it with ``ui.wall_map.take_click(KEY)``); a click no callback took
    is returned (its case id, once)."""
    data, stamp = _payload(version, f, _ids(rows), picked, kit.lang())
    return wall_map(data, stamp=stamp, key=KEY, height=dm.DISPATCH_MAP[1], select=True, alt=kit.tr("wall.map_alt"),
                    on_change=on_pick)


def digest(version: int, f: WallFilter, rows: list, picked: int | None) -> int:
    """What the map shows as of change notice ``version`` (the boundaries, the grids' counts, the
    points with their deadlines and states, the ring), without the deadlines' origin: equal when a
    notice changed nothing on this map (``ui.wall_view.live``)."""
    area, _, points = _points(version, f, _ids(rows))
    return hash((_stamp(version), tuple(sorted(area.grids.items())), tuple(tuple(r) for r in points),
                 _position(version, picked) if picked is not None else None))
