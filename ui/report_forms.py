"""What the report pages share (the grid worker's phone page, the public report page): the place
(phone position with its accuracy, a grid picked on the offline map, or typed longitude/latitude),
the photo (camera or file) and the page's look. Services live in ``intake.field``/``intake.public``.

The phone position comes from a tiny component of our own (``st.components.v2``, inline code,
nothing loaded from a CDN) around the browser's ``navigator.geolocation``. pydeck has no
click-anywhere event (TECH-NOTES), so the map picks a grid and uses a point inside it.
"""
from __future__ import annotations

import math
import time
from urllib.parse import urlsplit

import pydeck as pdk
import streamlit as st

from gis.crs import CoordinateError, to_wgs84
from gis.text import in_lang
from i18n import report_ui  # noqa: F401  (registers these pages' texts)
from i18n import t
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
      (e) => { btn.textContent = data.label; setStateValue('fix', {error: String(e.code || 'unknown'), t: Date.now()}); },
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
    under ``<prefix>_fix`` (tests put one there directly). A fix a sent report used is spent: the
    next report needs a new one (a worker walks from problem to problem)."""
    got = _geolocate(key=f"{prefix}_geo", data={"label": kit.tr("rp.locate"), "busy": kit.tr("rp.locating")},
                     on_fix_change=lambda: None)
    fix = getattr(got, "fix", None) if got is not None else None
    if fix and fix.get("t") != st.session_state.get(f"{prefix}_fix_spent"):
        st.session_state[f"{prefix}_fix"] = dict(fix)
    return st.session_state.get(f"{prefix}_fix")


# The browser's geolocation error codes (PositionError), said in our words, not the browser's.
_GEO_ERRORS = {"1": "rp.geo.denied", "2": "rp.geo.unavailable", "3": "rp.geo.timeout", "unsupported": "rp.geo.unsupported"}


keep_choice, kept = kit.keep_choice, kit.kept  # (kept here too: the report pages call them as rf.…)


FIT_PX = 330  # the grids must fit this square: the map is 360 px high, a phone's column ~360 px wide


def fit_zoom(x0: float, y0: float, x1: float, y1: float, px: float = FIT_PX) -> float:
    """The deck.gl zoom (a 512-pixel world at zoom 0, Web Mercator) at which the box fits ``px``
    pixels each way (a phone's map showed 7 of a worker's 11 grids: the old rule ignored the
    pixels, the Mercator stretch of latitude and the grids' extent beyond their centres)."""
    per_deg_lon = 512 / 360
    per_deg_lat = per_deg_lon / math.cos(math.radians((y0 + y1) / 2))
    z = min(math.log2(px / (per_deg_lon * max(x1 - x0, 1e-4))), math.log2(px / (per_deg_lat * max(y1 - y0, 1e-4))))
    return max(9.0, min(17.0, z))


def _grid_deck(grids: list[dict], picked: str | None) -> pdk.Deck:
    data = [{"code": g["code"], "name": g["name"], "lon": g["lon"], "lat": g["lat"], "polygon": g["rings"][0],
             "fill": [34, 211, 238, 150] if g["code"] == picked else [30, 64, 110, 90]}
            for g in grids if g["rings"]]
    lons = [x for g in grids if g["rings"] for x, _ in g["rings"][0]] or [122.07]
    lats = [y for g in grids if g["rings"] for _, y in g["rings"][0]] or [41.12]
    zoom = fit_zoom(min(lons), min(lats), max(lons), max(lats))
    layer = pdk.Layer("PolygonLayer", data, id="grids", get_polygon="polygon", pickable=True, stroked=True,
                      filled=True, get_fill_color="fill",
                      get_line_color=[148, 197, 255], line_width_min_pixels=1, auto_highlight=True)
    view = pdk.ViewState(longitude=(min(lons) + max(lons)) / 2, latitude=(min(lats) + max(lats)) / 2, zoom=zoom)
    return pdk.Deck(layers=[layer], initial_view_state=view, map_provider=None,  # no base map: nothing fetched
                    tooltip={"text": "{code}\n{name}"})


def place_input(prefix: str, grids: list[dict], *, modes: tuple[str, ...] = PLACE_MODES) -> Place | None:
    """Where the problem is, by the mode the person picks; None until a usable place is given.
    A phone fix worse than the configured accuracy is flagged and needs a confirmation."""
    lang = kit.lang()
    keep_choice(f"{prefix}_mode")
    mode = kept(f"{prefix}_mode", st.radio(kit.tr("rp.where"), modes, key=f"{prefix}_mode", horizontal=True,
                                           format_func=lambda m: t(f"rp.where.{m}", lang)))
    if mode == "phone":
        fix = phone_fix(prefix)
        if not fix:
            return None
        if fix.get("error") or fix.get("lon") is None:
            why = _GEO_ERRORS.get(str(fix.get("error")), "rp.geo.other")
            st.warning(kit.tr("rp.geo_denied", why=kit.tr(why)))
            return None
        acc = fix.get("accuracy")
        st.caption(kit.tr("rp.fix", lon=fix["lon"], lat=fix["lat"], acc=acc if acc is not None else -1))
        if fix_is_poor(acc):
            st.warning(kit.tr("rp.fix_poor", acc=acc if acc is not None else float("nan"), limit=max_accuracy_m()))
            if not st.checkbox(kit.tr("rp.fix_poor_ok"), key=f"{prefix}_poor_ok"):
                return None
        return checked_place(float(fix["lon"]), float(fix["lat"]), acc)
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
    # no bounds on the fields: a value out of them is dropped by the field with a hover-only English
    # note; checked here instead, with the reason (a swapped pair, out of range) in the page's words
    lon = c1.number_input(kit.tr("rp.lon"), value=None, format="%.6f", key=f"{prefix}_lon")
    lat = c2.number_input(kit.tr("rp.lat"), value=None, format="%.6f", key=f"{prefix}_lat")
    if lon is None or lat is None:
        return None
    return checked_place(float(lon), float(lat))


def checked_place(lon: float, lat: float, accuracy: float | None = None) -> Place | None:
    """``Place(lon, lat)`` for a usable WGS-84 point; None, with the reason shown, for (0, 0) (a
    failed fix's value, as the intake service refuses it) or a pair out of range or swapped."""
    if lon == 0 and lat == 0:
        st.error(kit.tr("rp.zero_point"))
        return None
    try:
        to_wgs84(lon, lat, "WGS84")
    except CoordinateError as e:
        st.error(kit.tr("rp.bad_point", why=in_lang(e, kit.lang())))
        return None
    return Place(lon, lat, accuracy)


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
    keep_choice(f"{prefix}_cat")
    return kept(f"{prefix}_cat", st.selectbox(kit.tr("rp.category"), list(names), index=None, format_func=names.get,
                                              key=f"{prefix}_cat", placeholder=kit.tr("rp.category")))


def status_link(token: str) -> str:
    """The private status link for ``token``: absolute when Streamlit knows the page's address;
    in the language the person reported in."""
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    path = ("/" + base if base else "") + f"/status?token={token}" + ("&lang=en" if kit.lang() == "en" else "")
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
    second tap). Text and choices are reset before their widgets exist; uploads get new keys; the
    phone fix it used is spent."""
    st.session_state[f"{prefix}_round"] = st.session_state.get(f"{prefix}_round", 0) + 1
    st.session_state[f"{prefix}_clear"] = True
    st.session_state[f"{prefix}_sent_at"] = time.monotonic()
    fix = st.session_state.pop(f"{prefix}_fix", None)
    if fix:
        st.session_state[f"{prefix}_fix_spent"] = fix.get("t")


def second_tap(prefix: str, *values) -> bool:
    """A tap on the submit button just after a report went in, on the emptied form (a double tap):
    to be ignored, not answered with "choose a category"."""
    at = st.session_state.get(f"{prefix}_sent_at")
    return at is not None and time.monotonic() - at < SECOND_TAP_S and not any(values)


SECOND_TAP_S = 5.0


def too_long(text: str | None, limit: int, what: str = "rp.description") -> bool:
    """Shows why and returns True when the text (the field named by ``what``) is over ``limit``
    characters. The text areas have no cap of their own: Streamlit's drops a whole paste that
    would pass it, and the report went in with an empty description."""
    n = len(text or "")
    if n > limit:
        st.error(kit.tr("rp.too_long", what=kit.tr(what), n=n, limit=limit))
        return True
    return False


def clear_if_sent(prefix: str) -> None:
    """Call at the top of the page, before the form's widgets."""
    if st.session_state.pop(f"{prefix}_clear", False):
        for k, v in ((f"{prefix}_cat", None), (f"{prefix}_descr", ""), (f"{prefix}_self", False),
                     (f"{prefix}_cam_on", False), (f"{prefix}_after_cam_on", False), (f"{prefix}_poor_ok", False)):
            st.session_state[k] = v
        st.session_state.get("_kept_choices", {}).pop(f"{prefix}_cat", None)
