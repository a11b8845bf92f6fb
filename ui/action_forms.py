"""One form per case action (``ACTION_FORMS``): the inputs each move takes, and how they are drawn.

A field's name is the name of the value ``dispatch.service.transition`` takes for that move
(the handler's parameter, or ``comment``, every move's event comment), so what a form returns
goes to the service as it is; ``tests/ui/test_action_forms.py`` holds the two in step. A form
collects inputs only; required fields are marked but checked by the lifecycle service, which
answers with a message in the user's language.

Photos are uploads (camera or file), never typed names: a form returns the upload's bytes, and
``store_photos`` puts them through the intake's photo store (decoded type, size cap, EXIF
stripped, shrunk: the same checks as the API) and puts the stored name (the photo ref) in the
field's place, so the transition still receives a ref. The verification moves take no photo
value of their own; their photo goes to the event as an attachment (``ATTACHMENTS``, the
transition's ``attachments``), kind ``verify``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import streamlit as st
import streamlit.components.v1 as components

from dispatch import desk as svc
from dispatch.calendar import TZ
from dispatch.service import MAX_COMMENT
from dispatch.desk import CasePanel
from dispatch.states import LEVELS, label
from i18n import name_in
from i18n.messages import MESSAGES
from intake import field as intake_field
from ui import kit
from ui.case_view import holder_text

CRS_CHOICES = ("WGS84", "GCJ02", "BD09")


@dataclass(frozen=True)
class Field:
    name: str   # the value's name in dispatch.service.transition
    kind: str   # note | reason | level | level_up | category | department | departments | due | datetime
    #             | case | photo | bool | score | number | crs
    required: bool = False


COMMENT = "comment"  # every move's event comment; its kind says whether it reads as a reason or a note
ATTACHMENTS = "attachments"  # the event's attachments (transition's ``attachments``): a photo of the move itself
_NOTE = Field(COMMENT, "note")
_VERIFY_PHOTO = Field(ATTACHMENTS, "photo")
ACTION_FORMS: dict[str, tuple[Field, ...]] = {
    "register": (Field("level", "level"), Field("category_code", "category"), _NOTE),
    "reject": (Field(COMMENT, "reason", True),),
    "merge": (Field("duplicate_of", "case", True), _NOTE),
    "relocate": (Field("lon", "number", True), Field("lat", "number", True), Field("crs", "crs"), _NOTE),
    "locate": (Field("lon", "number", True), Field("lat", "number", True), Field("crs", "crs"), _NOTE),
    "set_level": (Field("level", "level", True), Field(COMMENT, "reason")),
    "escalate": (Field("to_level", "level_up"), Field("major", "bool"), Field(COMMENT, "reason", True)),
    "dispatch": (Field("department_id", "department", True), Field("assist_department_ids", "departments"),
                 Field("due_at", "due"), Field("due_reason", "reason"), _NOTE),
    "close": (Field(COMMENT, "note", True), Field("result_photo_ref", "photo")),
    "self_handle": (Field("after_photo_ref", "photo", True), Field("before_photo_ref", "photo"), _NOTE),
    "accept": (_NOTE,),
    "return": (Field(COMMENT, "reason", True),),
    "request_postponement": (Field("until", "datetime"), Field(COMMENT, "reason", True)),
    "approve_postponement": (Field("due_at", "datetime"), _NOTE),
    "deny_postponement": (Field(COMMENT, "note", True),),
    "feed_back": (Field(COMMENT, "note", True), Field("photo_ref", "photo")),
    "verify_pass": (_NOTE, _VERIFY_PHOTO),
    "verify_fail": (Field(COMMENT, "note", True), _VERIFY_PHOTO),
    "supervise": (_NOTE,),
    "chase": (Field(COMMENT, "note", True),),
    "reply": (Field(COMMENT, "note", True),),
    "evaluate": (Field("score", "score", True), _NOTE),
}


def photo_fields(action: str) -> tuple[str, ...]:
    return tuple(f.name for f in ACTION_FORMS[action] if f.kind == "photo")


def store_photos(action: str, values: Mapping[str, Any], store=None) -> dict:
    """``values`` with every photo upload (bytes) checked and stored, replaced by its ref; an
    attachments photo becomes ``[{"kind": "verify", "ref": ...}]``. Raises ``PhotoError`` (zh/en)
    for an upload that is not a JPEG/PNG/WebP image or is too large; nothing is stored then
    for the refused one (photos stored before it stay: unnamed files, harmless)."""
    out = dict(values)
    store = store or intake_field.photo_store()
    for name in photo_fields(action):
        data = out.get(name)
        kept = intake_field.store_photo(store, data) if isinstance(data, bytes | bytearray) else None
        out[name] = None if kept is None else ([{"kind": "verify", "ref": kept.ref}] if name == ATTACHMENTS
                                               else kept.ref)
    return out


def submitted(values: Mapping[str, Any]) -> dict:
    """What a form sends: blank text and empty choices count as not given (None), text is trimmed."""
    out = {}
    for k, v in values.items():
        if isinstance(v, str):
            v = v.strip() or None
        if v in ((), []):
            v = None
        out[k] = v
    return out


@st.cache_data(ttl=300, show_spinner=False)
def _reference() -> tuple[list[dict], list[dict]]:
    with kit.engine().connect() as conn:
        return svc.departments(conn), svc.categories(conn)


def _name(row: dict) -> str:
    return name_in(row, kit.lang())


def _label(f: Field, action: str) -> str:
    specific = f"dp.field.{action}.{f.name}"
    general = "dp.field.reason" if (f.name, f.kind) == (COMMENT, "reason") else f"dp.field.{f.name}"
    return kit.tr(specific if specific in MESSAGES else general) + (" *" if f.required else "")


def _goes(p: CasePanel, levels) -> dict[str, str]:
    """Levels as offered in a form, each with the unit that will dispatch the case at it: a
    form's choices cannot redraw the form before it is sent, so every option says where it leads."""
    who, lang = kit.actor(), kit.lang()
    return {lv: kit.tr("dp.level_keeps" if svc.keeps_case(who, p, lv) else "dp.level_hands",
                       level=label("level", lv, lang), unit=holder_text(svc.holder_for_level(p, lv)))
            for lv in levels}


def _when(f: Field, action: str, key: str, default: datetime | None) -> datetime | None:
    d_col, t_col = st.columns(2)
    local = default.astimezone(TZ) if default else None
    d = d_col.date_input(_label(f, action), value=local.date() if local else None, key=f"{key}-d")
    t = t_col.time_input(kit.tr("dp.field.time"), value=local.time().replace(second=0, microsecond=0) if local else None,
                         key=f"{key}-t", step=900)
    return svc.local_datetime(d, t)


def _photo(lab: str, k: str) -> bytes | None:
    """A photo from the camera (when switched on above the form: it asks for the camera at once)
    or from a file. New widget keys after every sent form (``<form>.round``): an upload cannot be
    cleared any other way."""
    form = k.rsplit("-", 1)[0]
    n = st.session_state.get(f"{form}.round", 0)
    shot = None
    if st.session_state.get(f"{form}.camera"):
        shot = st.camera_input(lab, key=f"{k}-cam{n}")
    up = st.file_uploader(lab if shot is None else kit.tr("dp.photo_or_file"), key=f"{k}-file{n}",
                          type=None, help=kit.tr("dp.photo_help"), max_upload_size=intake_field.photo_upload_mb())
    chosen = shot or up
    return chosen.getvalue() if chosen is not None else None


def _field(f: Field, action: str, p: CasePanel, key: str, deps: list[dict], cats: list[dict]):
    lang, lab, k = kit.lang(), _label(f, action), f"{key}-{f.name}"
    if f.kind in ("note", "reason"):
        # no max_chars: Streamlit's cap drops a whole paste that would pass it, with no word; the
        # service refuses an over-long comment with its length, and the text stays in the form
        return st.text_area(lab, key=k, height=80, placeholder=kit.tr("dp.comment_hint", limit=MAX_COMMENT))
    if f.kind == "photo":
        return _photo(lab, k)
    if f.kind == "level":
        cat = next((c for c in cats if c["code"] == p.category_code), None)
        default = p.level or (cat or {}).get("default_level") or "community"
        st.caption(kit.tr("dp.level_note"))
        return st.selectbox(lab, LEVELS, index=LEVELS.index(default), key=k, format_func=_goes(p, LEVELS).get)
    if f.kind == "level_up":
        ups = svc.levels_above(p.level)
        return st.selectbox(lab, ups, key=k, format_func=_goes(p, ups).get) if ups else None
    if f.kind == "category":
        codes = [c["code"] for c in cats]
        names = {c["code"]: f'{c["code"]} {_name(c)}' for c in cats}
        idx = codes.index(p.category_code) if p.category_code in codes else None
        return st.selectbox(lab, codes, index=idx, key=k, format_func=names.get)
    if f.kind == "department":
        ids = [d["id"] for d in deps]
        cat = next((c for c in cats if c["code"] == p.category_code), None)
        default = p.department_id or (cat or {}).get("default_department_id")
        names = {d["id"]: _name(d) for d in deps}
        return st.selectbox(lab, ids, index=ids.index(default) if default in ids else None, key=k, format_func=names.get)
    if f.kind == "departments":
        names = {d["id"]: _name(d) for d in deps}
        return st.multiselect(lab, list(names), key=k, format_func=names.get, placeholder=kit.tr("dp.none_chosen"))
    if f.kind == "due":
        pv = p.deadline_preview
        if pv is not None:
            st.caption(kit.tr("dp.due_computed", limit=f"{pv.value:g}", unit=kit.tr("dp.unit." + pv.unit),
                             at=pv.due_at.strftime("%Y-%m-%d %H:%M"), source=kit.tr("dp.source." + pv.source)))
        return _when(f, action, k, svc.default_due_choice(pv))
    if f.kind == "datetime":
        default = p.postpone_requested_due_at if action == "approve_postponement" else None
        return _when(f, action, k, default)
    if f.kind == "case":
        opts = {c.id: f'{c.case_no} · {name_in(c, lang, "category_name") or ""}'
                      f' · {c.metres} m · {label("status", c.status, lang)}' for c in p.duplicate_candidates}
        picked = st.selectbox(lab, list(opts), index=None, key=k, format_func=opts.get,
                              placeholder=kit.tr("dp.pick_duplicate") if opts else kit.tr("dp.no_candidates"))
        typed = st.text_input(kit.tr("dp.field.case_no"), key=f"{k}-no", max_chars=40)
        return typed.strip() or picked
    if f.kind == "bool":
        return st.checkbox(lab, key=k)
    if f.kind == "score":
        return st.select_slider(lab, options=[1, 2, 3, 4, 5], value=5, key=k)
    if f.kind == "number":
        # empty, not 0, for a case without a position (待定位): (0, 0) would be a point off Africa
        now = getattr(p, f.name, None)
        return st.number_input(lab, value=None if now is None else float(now), format="%.6f", step=0.0001, key=k,
                               placeholder=kit.tr("dp.locate.coordinate"))
    if f.kind == "crs":
        return st.selectbox(lab, CRS_CHOICES, key=k)
    raise ValueError(f"unknown field kind {f.kind!r}")


# A form opens under the action chosen, which may sit at the foot of the screen: scroll it up
# just enough to show it whole (a long one as far as its top: its submit button is sticky,
# static/dispatch.css). The frame runs once per form shown (same key, same frame: no rerun
# scrolls the page back), from a hidden, empty element (static/dispatch.css).
_SCROLL = """<script>setTimeout(() => {{
  const d = window.parent.document;
  const f = d.querySelector('.st-key-{key}') || [...d.querySelectorAll('[data-testid=stForm]')].pop();
  if (f) f.scrollIntoView({{block: "nearest"}});
}}, 80);</script>"""


def _bring_into_view(key: str) -> None:
    components.html(_SCROLL.format(key=key), height=0)


@st.cache_data(ttl=300, show_spinner=False)
def _grid_points() -> list[dict]:
    with kit.engine().connect() as conn:
        return [{k: g[k] for k in ("code", "name", "lon", "lat")} for g in intake_field.pick_grids(conn)]


def locate_form(p: CasePanel, *, key: str, on_submit=None) -> dict | None:
    """定位 (a report that came with an address only, 待定位): the address as reported, and the point
    — typed in WGS84 / GCJ02 / BD09 (from a web map the dispatcher looked the address up on), or,
    when only the grid is known, a point inside a chosen unit grid (the offline map picks drawn
    cases only, wall/pick.py: it cannot be clicked where nothing is). The values are the
    ``locate`` move's (``dispatch.service.transition``); typed coordinates win over a chosen grid."""
    st.info(kit.tr("dp.locate.address", address=p.address or "—"), icon=":material/location_on:")
    grids = {g["code"]: g for g in _grid_points()}
    with st.form(key, border=True):
        values = {f.name: _field(f, "locate", p, key, [], []) for f in ACTION_FORMS["locate"]}
        grid = st.selectbox(kit.tr("dp.locate.grid"), list(grids), index=None, key=f"{key}-grid",
                            format_func=lambda c: f"{c} {grids[c]['name']}", placeholder=kit.tr("dp.locate.grid_none"))
        sent = st.form_submit_button(label("action", "locate", kit.lang()), type="primary", width="stretch",
                                     icon=":material/send:", on_click=on_submit)
    _bring_into_view(key)
    if not sent or on_submit is not None:
        return None
    return _located(submitted(values), grid)


def _located(values: dict, grid: str | None) -> dict:
    """The locate move's values: typed coordinates, else the chosen grid's point."""
    grids = {g["code"]: g for g in _grid_points()}
    if values.get("lon") is None and values.get("lat") is None and grid in grids:
        values.update(lon=grids[grid]["lon"], lat=grids[grid]["lat"], crs="WGS84")
    return values


def action_form(action: str, p: CasePanel, *, key: str, on_submit=None) -> dict | None:
    """Draw the form of ``action`` for case ``p``; the submitted values (named as
    ``dispatch.service.transition`` takes them), or None before submit. With ``on_submit`` the
    submit button calls it instead (it reads the values with ``sent_values``) and this returns None."""
    deps, cats = _reference()
    if photo_fields(action):  # outside the form: switching the camera on must redraw it
        st.toggle(kit.tr("dp.photo_camera"), key=f"{key}.camera")
    with st.form(key, border=True):
        values = {f.name: _field(f, action, p, key, deps, cats) for f in ACTION_FORMS[action]}
        kind = "primary" if action not in ("reject", "verify_fail", "deny_postponement", "return") else "secondary"
        sent = st.form_submit_button(label("action", action, kit.lang()), type=kind, width="stretch",
                                     icon=":material/send:", on_click=on_submit)
    _bring_into_view(key)
    if not sent or on_submit is not None:
        return None
    return _finished(action, p, values)


def _finished(action: str, p: CasePanel, values: dict) -> dict:
    if action == "dispatch":
        pv = p.deadline_preview
        values["due_at"] = svc.due_override(values.get("due_at"), pv.due_at if pv else None)
    return submitted(values)


def _state_value(f: Field, key: str):
    """What field ``f`` of the form keyed ``key`` holds in session_state (its widgets' keys as
    ``_field`` draws them): in a submit button's callback, the values just sent."""
    ss, k = st.session_state, f"{key}-{f.name}"
    if f.kind == "photo":
        n = ss.get(f"{key}.round", 0)
        chosen = (ss.get(f"{k}-cam{n}") if ss.get(f"{key}.camera") else None) or ss.get(f"{k}-file{n}")
        return chosen.getvalue() if chosen is not None else None
    if f.kind in ("due", "datetime"):
        return svc.local_datetime(ss.get(f"{k}-d"), ss.get(f"{k}-t"))
    if f.kind == "case":
        return (ss.get(f"{k}-no") or "").strip() or ss.get(k)
    return ss.get(k)


def sent_values(action: str, p: CasePanel, *, key: str) -> dict:
    """In the submit button's callback of ``action``'s form keyed ``key`` (``action_form`` or
    ``locate_form`` with ``on_submit``): the values sent, as the form would have returned them."""
    values = {f.name: _state_value(f, key) for f in ACTION_FORMS[action]}
    if action == "locate":
        return _located(submitted(values), st.session_state.get(f"{key}-grid"))
    return _finished(action, p, values)
