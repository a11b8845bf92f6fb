"""The planner's offline map editor: a Streamlit component of the project's own over Leaflet and
Terra Draw (``frontend/``; the libraries come from the npm registry at set-up, see
``web/package.json`` and ``scripts/bootstrap.sh``, and are copied into ``frontend/vendor/`` and served with the component).

``grid_editor(...)`` draws a draft's grids over their context and returns the planner's INTENT,
one op dict per action, exactly the ops of ``planning.drafts.apply_edit`` (``move_vertex``,
``split``, ``merge``, ``add``) or ``{"op": "select", "code": C}`` — or None when nothing new
happened in this run. The server edits every grid sharing the vertex or edge; the editor never
sends back edited whole shapes. Coordinates go both ways rounded to 6 decimals (about 0.1 m).

Under the grids: reference layers (``planning.layers``; thin and grey, their attributes shown on
hover as text, never as HTML) and, when the city has one, its own base map (``tiles``: the URL
template of the project's tile route, ``intake.tiles``, with the zoom range of the tiles).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

FRONTEND = Path(__file__).resolve().parent / "frontend"
VENDOR = FRONTEND / "vendor"  # filled by scripts/bootstrap.sh from web/node_modules (git-ignored)
VENDOR_FILES = ("leaflet.js", "leaflet.css", "terra-draw.umd.js", "terra-draw-leaflet-adapter.umd.js")
MODES = ("select", "move_vertex", "split", "merge", "add", "view")  # view: shows, sends nothing
DIGITS = 6


def vendor_missing() -> list[str]:
    """The library files ``scripts/bootstrap.sh`` should have copied but did not."""
    return [name for name in VENDOR_FILES if not (VENDOR / name).exists()]


def _round(coords: Any, digits: int = DIGITS) -> Any:
    if isinstance(coords, (int, float)):
        return round(float(coords), digits)
    return [_round(c, digits) for c in coords]


def _geometry(geom: dict | None, digits: int = DIGITS) -> dict | None:
    if not geom:
        return None
    if geom.get("type") == "GeometryCollection":
        return {"type": "GeometryCollection", "geometries": [_geometry(g, digits) for g in geom["geometries"]]}
    return {"type": geom["type"], "coordinates": _round(geom["coordinates"], digits)}


def compact(fc: dict | None, keep: tuple[str, ...], digits: int = DIGITS) -> dict:
    """A FeatureCollection with rounded coordinates and only the properties in ``keep``: the
    payload goes to the browser on every rerun."""
    features = []
    for f in (fc or {}).get("features", []):
        props = f.get("properties") or {}
        features.append({"type": "Feature", "geometry": _geometry(f.get("geometry"), digits),
                         "properties": {k: props[k] for k in keep if k in props}})
    return {"type": "FeatureCollection", "features": features}


GRID_PROPS = ("code", "name", "change", "community_code", "responsibility_code")
CONTEXT_PROPS = ("kind", "name", "label")  # label: [lon, lat] where the name goes
PROBLEM_PROPS = ("kind", "severity", "message", "codes")


def problems_collection(problems: list, lang: str) -> dict:
    """Validation problems (``planning.validate.Problem``) as a FeatureCollection of their places."""
    features = []
    for p in problems:
        loc = getattr(p, "location", None)
        if not loc:
            continue
        message = p.message_en if lang == "en" else p.message_zh
        features.append({"type": "Feature", "geometry": loc,
                         "properties": {"kind": p.kind, "severity": p.severity, "message": message,
                                        "codes": list(p.codes)}})
    return {"type": "FeatureCollection", "features": features}


def reference_layers(layers: list[dict] | None) -> list[dict]:
    """Reference FeatureCollections as the map takes them, each with its ``name`` (shown on hover
    above the attributes). Not rounded again: ``planning.layers.layer_geojson`` gives 6 decimals
    and cuts the attributes short, and a layer may hold tens of thousands of vertices."""
    out = []
    for fc in layers or []:
        features = [{"type": "Feature", "geometry": f["geometry"], "properties": f.get("properties") or {}}
                    for f in fc.get("features", []) if f.get("geometry")]
        out.append({"type": "FeatureCollection", "name": str(fc.get("name") or ""), "features": features})
    return out


def _component():
    # declared on every call: the registry belongs to the running server (AppTest makes a new
    # one per test), and a module-level declaration would register it only in the first
    return components.declare_component("grid_editor", path=str(FRONTEND))


def grid_editor(grids: dict, *, key: str, context: dict | None = None, references: list[dict] | None = None,
                problems: dict | None = None, focus: dict | None = None, mode: str = "select",
                selected: list[str] | None = None, community_code: str | None = None,
                texts: dict[str, str] | None = None, tiles: dict | None = None, height: int = 560) -> dict | None:
    """Draw the editor; the op the planner just made, or None (each op is returned once).

    ``tiles``: ``{"url": "http://…/tiles/{z}/{x}/{y}.png", "min_zoom", "max_zoom", "attribution"}``
    or None (a blank background)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    value = _component()(
        grids=compact(grids, GRID_PROPS), context=compact(context, CONTEXT_PROPS),
        references=reference_layers(references), problems=compact(problems, PROBLEM_PROPS), tiles=tiles,
        focus=_geometry(focus), mode=mode, selected=list(selected or []), community_code=community_code,
        texts=texts or {}, height=height, key=key, default=None)
    if not isinstance(value, dict) or "op" not in value:
        return None
    seen_key = f"{key}__seen"
    if st.session_state.get(seen_key) == value.get("n"):
        return None
    st.session_state[seen_key] = value.get("n")
    return value["op"]
