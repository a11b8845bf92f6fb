"""The wall's map: a Streamlit component of the project's own (``frontend/``: its view, the district
and the points drawn on 2D canvases by the project's own scripts; no library, no CDN, no tile
server: works offline; deck.gl's WebGL was dropped in session 10, see wall.js).

It receives a ``wall.live_map.LiveMap`` payload (gzip-compressed JSON bytes) and the server's
clock, and colours the open cases itself from their due and warn times (green → amber → red and
the overdue ring), at least once a minute and exactly when a case crosses a line. The page sends
a new payload only when cases change; time passing costs no bytes.

``select=True`` makes a click on a case return its id (once per click); the wall pages leave it
off (hover shows the tooltip); the dispatch page (ui/dispatch_map_view.py) is where a click picks a
case. A payload may carry ``pick`` (integer offsets): a ring round that point.
"""
from __future__ import annotations

import time
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

FRONTEND = Path(__file__).resolve().parent / "frontend"
NAME = "wall_map"


def _component():
    # declared on every call: the registry belongs to the running server (AppTest makes a new one per test)
    return components.declare_component(NAME, path=str(FRONTEND))


def wall_map(payload: bytes, *, stamp: str, key: str, height: int = 620, select: bool = False,
             alt: str = "", live_url: str | None = None, live_token: str | None = None,
             delta_url: str | None = None, seq: int = 0, settle_s: float = 8.0, on_change=None) -> int | None:
    """Draw the map; with ``select`` the id of the case just clicked (once), else None.

    ``stamp`` names the payload: the browser rebuilds its layers only when it changes. ``now``
    (the server's clock) goes with every render. ``live_url`` (relative to the app) is a small
    file the browser polls every second; when its text differs from ``live_token`` the map sets
    its value to ``{"live": text}``, which reruns the page (a value the caller ignores).

    ``delta_url`` (relative to the app; ``wall.delta``): when the beacon moves, the map first
    fetches that file and merges the cases changed since ``seq`` (the reading ``payload`` was made
    from) into what it draws, with no rerun; it asks for the rerun only ``settle_s`` seconds later
    (for the page's tiles and ticker), or at once when the file cannot bring it up to date.

    ``on_change``: called (a widget callback, before the script runs) when the map's value changes:
    a click with ``select``; the callback takes it with ``take_click(key)``.
    """
    value = _component()(data=payload, stamp=stamp, now=time.time(), height=height, select=select, alt=alt,
                         live_url=live_url, live_token=live_token, delta_url=delta_url, seq=seq,
                         settle_s=settle_s, key=key, default=None, on_change=on_change)
    return take_click(key, value) if select else None


def take_click(key: str, value=None) -> int | None:
    """The case id of a click on the map keyed ``key`` (its value ``{"i": id, "n": nonce}``; by
    default ``st.session_state[key]``) not taken yet, else None: once per click, so the value the map
    keeps over reruns is never taken twice (by an ``on_change`` callback and the run after it)."""
    value = st.session_state.get(key) if value is None else value
    if not isinstance(value, dict) or "i" not in value:
        return None
    seen_key = f"{key}__seen"
    if st.session_state.get(seen_key) == value.get("n"):
        return None
    st.session_state[seen_key] = value.get("n")
    try:
        return int(value["i"])
    except (TypeError, ValueError):
        return None
