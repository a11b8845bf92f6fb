"""What the report pages share (the grid worker's phone page, the public report page): the place
(phone position with its accuracy, a grid picked on the offline map, or typed longitude/latitude),
the photo (camera or file) and the page's look. Services live in ``intake.field``/``intake.public``.

The phone position comes from a tiny component of our own (``st.components.v2``, inline code,
nothing loaded from a CDN) around the browser's ``navigator.geolocation``. pydeck has no
click-anywhere event (TECH-NOTES), so the map picks a grid and uses a point inside it.
"""
from __future__ import annotations

import math
from urllib.parse import urlsplit

import pydeck as pdk
import streamlit as st

from i18n import report_ui  # noqa: F401  (registers these pages' texts)
from intake.field import Place, fix_is_poor, max_accuracy_m, photo_upload_mb
from intake.limits import TokenBuckets, retry_after
from ui import kit

_GEO_JS = """
export default function(component) {
  const { data, setStateValue, parentElement } = component;
  let btn = parentElement.querySelector('button');
  if (!btn) { btn = document.createElement('button'); btn.className = 'gg-geo'; parentElement.appendChild(btn); }
  btn.textContent = data.label;
  btn.onclick = () => {
    if (!navigator.geolocation) { setStateValue('fix', {error: 'unsupported', t: Date.now()}); return; }
    btn.textContent = data.busy;
    navigator.geolocation.getCurrentPosition(
      (p) => { btn.textContent = data.label;
               setStateValue('fix', {lon: p.coords.longitude, lat: p.coords.latitude,
                                     accuracy: p.coords.accuracy, t: Date.now()}); },
      (e) => { btn.textContent = data.label; setStateValue('fix', {error: e.message || String(e.code), t: Date.now()}); },
      {enableHighAccuracy: true, timeout: 20000, maximumAge: 0});
  };
}
"""
_GEO_CSS = """
.gg-geo { width: 100%; min-height: 3.2rem; font-size: 1.15rem; border-radius: 0.5rem; cursor: pointer;
  background: #0e7490; color: #f0f9ff; border: 1px solid #22d3ee; }
"""
_geolocate = st.components.v2.component("gridgov_geolocation", js=_GEO_JS, css=_GEO_CSS)
PLACE_MODES = ("phone", "map", "typed")


def look() -> None:
    kit.css("theme", "phone")


def phone_fix(prefix: str) -> dict | None:
    """The last position the phone sent ({lon, lat, accuracy} or {error}), kept in the session
    under ``<prefix>_fix`` (tests put one there directly)."""
    got = _geolocate(key=f"{prefix}_geo", data={"label": kit.tr("rp.locate"), "busy": kit.tr("rp.locating")},
                     on_fix_change=lambda: None)
    fix = getattr(got, "fix", None) if got is not None else None
    if fix:
        st.session_state[f"{prefix}_fix"] = dict(fix)
    return st.session_state.get(f"{prefix}_fix")


def _grid_deck(grids: list[dict], picked: str | None) -> pdk.Deck:
    data = [{"code": g["code"], "name": g["name"], "lon": g["lon"], "lat": g["lat"], "polygon": g["rings"][0],
             "fill": [34, 211, 238, 150] if g["code"] == picked else [30, 64, 110, 90]}
            for g in grids if g["rings"]]
    lons = [g["lon"] for g in grids] or [122.07]
    lats = [g["lat"] for g in grids] or [41.12]
    span = max(max(lons) - min(lons), max(lats) - min(lats), 0.005)
    zoom = max(10.0, min(17.0, 9.0 - math.log2(span / 0.7)))
    layer = pdk.Layer("PolygonLayer", data, id="grids", get_polygon="polygon", pickable=True, stroked=True,
                      filled=True, get_fill_color="fill",
                      get_line_color=[148, 197, 255], line_width_min_pixels=1, auto_highlight=True)
    view = pdk.ViewState(longitude=(min(lons) + max(lons)) / 2, latitude=(min(lats) + max(lats)) / 2, zoom=zoom)
    return pdk.Deck(layers=[layer], initial_view_state=view, map_provider=None,  # no base map: nothing fetched
                    tooltip={"text": "{code}\n{name}"})


def place_input(prefix: str, grids: list[dict], *, modes: tuple[str, ...] = PLACE_MODES) -> Place | None:
    """Where the problem is, by the mode the person picks; None until a usable place is given.
    A phone fix worse than the configured accuracy is flagged and needs a confirmation."""
    mode = st.radio(kit.tr("rp.where"), modes, key=f"{prefix}_mode", horizontal=True,
                    format_func=lambda m: kit.tr(f"rp.where.{m}"))
    if mode == "phone":
        fix = phone_fix(prefix)
        if not fix:
            return None
        if fix.get("error") or fix.get("lon") is None:
            st.warning(kit.tr("rp.geo_denied", why=str(fix.get("error") or "?")))
            return None
        acc = fix.get("accuracy")
        st.caption(kit.tr("rp.fix", lon=fix["lon"], lat=fix["lat"], acc=acc if acc is not None else -1))
        if fix_is_poor(acc):
            st.warning(kit.tr("rp.fix_poor", acc=acc if acc is not None else float("nan"), limit=max_accuracy_m()))
            if not st.checkbox(kit.tr("rp.fix_poor_ok"), key=f"{prefix}_poor_ok"):
                return None
        return Place(float(fix["lon"]), float(fix["lat"]), acc)
    if mode == "map":
        st.caption(kit.tr("rp.map_hint"))
        picked = _picked_code(prefix)
        st.pydeck_chart(_grid_deck(grids, picked), on_select="rerun", selection_mode="single-object",
                        key=f"{prefix}_map", height=360)
        picked = _picked_code(prefix)
        grid = next((g for g in grids if g["code"] == picked), None)
        if grid is None:
            return None
        st.success(kit.tr("rp.picked", code=grid["code"], name=grid["name"]))
        return Place(grid["lon"], grid["lat"])
    c1, c2 = st.columns(2)
    lon = c1.number_input(kit.tr("rp.lon"), value=None, min_value=-180.0, max_value=180.0, format="%.6f",
                          key=f"{prefix}_lon")
    lat = c2.number_input(kit.tr("rp.lat"), value=None, min_value=-90.0, max_value=90.0, format="%.6f",
                          key=f"{prefix}_lat")
    return None if lon is None or lat is None else Place(float(lon), float(lat))


def _picked_code(prefix: str) -> str | None:
    sel = st.session_state.get(f"{prefix}_map") or {}
    objects = (sel.get("selection") or {}).get("objects") or {}
    rows = objects.get("grids") or []
    return str(rows[0].get("code")) if rows else None


def photo_input(prefix: str, *, camera_label: str, file_label: str) -> bytes | None:
    """A photo from the camera (shown on request: it asks for the camera at once) or a file."""
    shot = None
    n = st.session_state.get(f"{prefix.split('_')[0]}_round", 0)
    fresh = f"{n}" if n else ""  # a new key per sent report: uploads cannot be cleared any other way
    if st.toggle(camera_label, key=f"{prefix}_cam_on"):
        shot = st.camera_input(camera_label, key=f"{prefix}_cam{fresh}", label_visibility="collapsed")
    up = st.file_uploader(file_label, type=None, key=f"{prefix}_file{fresh}", max_upload_size=photo_upload_mb())
    chosen = shot or up
    return chosen.getvalue() if chosen is not None else None


@st.cache_resource(show_spinner=False)
def _buckets(name: str, rate: float, burst: float) -> TokenBuckets:
    return TokenBuckets(rate, burst)


def client_address() -> str:
    """The visitor's address as Streamlit sees it (the proxy's behind a reverse proxy)."""
    try:
        ip = st.context.ip_address
    except Exception:  # noqa: BLE001  (no request context)
        ip = None
    # AppTest's runtime answers with a stand-in object: count every such visitor as one address
    return ip if isinstance(ip, str) and ip else "unknown"


def slowed(name: str, *, rate: float, burst: float) -> int:
    """Take one token from ``name``'s bucket for this address: 0 if allowed, else seconds to wait."""
    wait = _buckets(name, rate, burst).take(client_address())
    return retry_after(wait) if wait else 0


def refusal(e: Exception) -> str:
    """The reason of a refused report in the session's language (lifecycle, photo or public errors)."""
    if hasattr(e, "message"):
        return e.message(kit.lang())
    return getattr(e, "en" if kit.lang() == "en" else "zh", None) or str(e)


def category_select(prefix: str, cats: list[dict]) -> str | None:
    from i18n import name_in

    names = {c["code"]: f"{c['code']} {name_in(c, kit.lang())}" for c in cats}
    return st.selectbox(kit.tr("rp.category"), list(names), index=None, format_func=names.get, key=f"{prefix}_cat",
                        placeholder=kit.tr("rp.category"))


def status_link(token: str) -> str:
    """The private status link for ``token``: absolute when Streamlit knows the page's address."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    path = ("/" + base if base else "") + f"/status?token={token}"
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001  (no request context)
        url = None
    if isinstance(url, str) and url.startswith(("http://", "https://")):  # AppTest's is a stand-in object
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}{path}"
    return path


def sent(prefix: str) -> None:
    """After a report went in: the next run starts with an empty form (no second report by a
    second tap). Text and choices are reset before their widgets exist; uploads get new keys."""
    st.session_state[f"{prefix}_round"] = st.session_state.get(f"{prefix}_round", 0) + 1
    st.session_state[f"{prefix}_clear"] = True


def clear_if_sent(prefix: str) -> None:
    """Call at the top of the page, before the form's widgets."""
    if st.session_state.pop(f"{prefix}_clear", False):
        for k, v in ((f"{prefix}_cat", None), (f"{prefix}_descr", ""), (f"{prefix}_self", False),
                     (f"{prefix}_cam_on", False), (f"{prefix}_after_cam_on", False)):
            st.session_state[k] = v
