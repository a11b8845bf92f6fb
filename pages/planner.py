"""网格规划 — the planner's workspace: drafts edited on an offline map (ui/grid_editor), validation
with "go to", impact preview, publish now or at a date, history (compare, GeoPackage export,
rollback). Every change goes through the planning services; the live boundaries change only
when a draft is published."""
from __future__ import annotations

import tempfile
from datetime import datetime, time as dtime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from db.config import TIME_ZONE
from i18n import planner_ui  # noqa: F401  (registers this page's texts)
from planning import publish as publish_mod
from planning.errors import EditError
from ui import kit, planner_view as pv
from ui.grid_editor import grid_editor, problems_collection, vendor_missing

who = kit.require_page("planner")
kit.css("theme")
lang = kit.lang()
tr = kit.tr
TZ = ZoneInfo(TIME_ZONE)
CRS_CHOICES = ("", "WGS84", "GCJ02", "BD09", "EPSG:4490", "EPSG:4547")

st.title(tr("pl.heading"))
if vendor_missing():
    st.error(tr("pl.no_vendor", files=", ".join(vendor_missing())))
tiles, tiles_error = pv.base_map(st.context.url)  # the city's own base map (GRIDGOV_TILES), or None
if tiles_error:
    st.warning(tr("pl.tiles_bad", why=tiles_error))


def _flash(kind: str, text: str) -> None:
    """A message shown once, after the rerun that follows a change."""
    st.session_state["pl_flash"] = (kind, text)


def _show_flash(box) -> None:
    kind, text = st.session_state.pop("pl_flash", (None, None))
    if kind:
        getattr(box, kind)(text)


def _edit(draft_id: int, op: dict) -> None:
    """Apply one edit in its own transaction; a refused edit leaves nothing written."""
    try:
        res = pv.apply_edit(draft_id, op, actor_id=who.person_id)
    except EditError as e:
        _flash("error", e.message(lang))
    else:
        _flash("success", tr("pl.applied", codes=", ".join(res.changed + res.responsibilities_changed) or "—"))
    st.rerun()


# ---- choose or create a draft --------------------------------------------------------------------
open_drafts, district_choices = pv.open_drafts(lang)

with st.sidebar:
    st.subheader(tr("pl.draft"))
    labels = {d.id: tr("pl.draft_label", name=d.name, id=d.id, by=d.created_by or "—", steps=d.n_steps,
                       errors=d.n_errors) for d in open_drafts}
    ids = list(labels)
    if st.session_state.get("pl_draft_next") in ids:  # a draft just made: choose it
        st.session_state["pl_pick"] = st.session_state.pop("pl_draft_next")
    want = st.session_state.get("pl_draft")
    draft_id = st.selectbox(tr("pl.draft"), ids, index=ids.index(want) if want in ids else 0 if ids else None,
                            format_func=labels.get, key="pl_pick", label_visibility="collapsed")
    with st.expander(tr("pl.new_draft"), expanded=not ids):
        # outside the form: choosing the district redraws the choice of its communities
        district = st.selectbox(tr("pl.district"), [c for c, _ in district_choices],
                                format_func=dict(district_choices).get, key="pl_new_district")
        cm_choices = pv.district_communities(lang, district)
        with st.form("pl_new", border=False):
            name = st.text_input(tr("pl.name"), key="pl_new_name")
            reason = st.text_area(tr("pl.reason"), key="pl_new_reason", height=68)
            scope = st.multiselect(tr("pl.scope"), [c for c, _ in cm_choices], format_func=dict(cm_choices).get,
                                   key="pl_new_scope")
            if st.form_submit_button(tr("pl.create"), type="primary"):
                try:
                    new_id = pv.create_draft(name=name, reason=reason, actor_id=who.person_id,
                                             district_code=district, community_codes=scope or None)
                except EditError as e:
                    st.error(e.message(lang))
                else:
                    st.session_state["pl_draft"] = st.session_state["pl_draft_next"] = new_id
                    _flash("success", tr("pl.created", id=new_id))
                    st.rerun()
    if draft_id is not None and st.button(tr("pl.abandon"), key="pl_abandon", icon=":material/delete:"):
        try:
            pv.abandon(draft_id, actor_id=who.person_id)
        except EditError as e:
            _flash("error", e.message(lang))
        else:
            _flash("info", tr("pl.abandoned"))
            st.session_state.pop("pl_pick", None)
        st.rerun()

# The flash goes into a slot drawn on every run, empty or not: a message that is there in one run
# and gone in the next would move everything below it one place up the page, and the browser
# would mount the tabs, and the editor's frame in them, afresh (a drawing in progress lost: the
# first rerun after 新建 or after an edit, e.g. choosing 分割; issue 10).
_show_flash(st.empty())
if draft_id is not None:
    st.session_state["pl_draft"] = draft_id
tab_edit, tab_impact, tab_publish, tab_history = st.tabs(
    [tr("pl.tab.edit"), tr("pl.tab.impact"), tr("pl.tab.publish"), tr("pl.tab.history")],
    key="pl_tabs")  # keyed: the open tab stays open across reruns (a flash message above it)


# ---- edit ----------------------------------------------------------------------------------------
def edit_tab(draft_id: int) -> None:
    v = pv.edit_view(draft_id, lang)
    grids, context, problems, communities = v.grids, v.context, v.problems, v.communities
    resps, workers, ref_layers = v.responsibilities, v.workers, v.layers
    sel_key = f"pl_sel_{draft_id}"
    selected = st.session_state.get(sel_key)
    if selected not in pv.grid_codes(grids, live_only=False):
        selected = None

    modes = ("select", "move_vertex", "split", "merge", "add")
    bar = st.columns([5, 1, 2], vertical_alignment="bottom")
    mode = bar[0].segmented_control(tr("pl.mode"), modes, format_func=lambda m: tr(f"pl.mode.{m}"),
                                    default="select", key="pl_mode") or "select"
    if bar[1].button(tr("pl.undo"), key="pl_undo", icon=":material/undo:"):
        try:
            pv.undo(draft_id, actor_id=who.person_id)
        except EditError as e:
            _flash("error", e.message(lang))
        else:
            _flash("success", tr("pl.undone"))
        st.rerun()
    cm_codes = [c for c, _ in communities]
    add_community = None
    if mode == "add" and cm_codes:
        add_community = bar[2].selectbox(tr("pl.add_community"), cm_codes, format_func=dict(communities).get,
                                         key="pl_add_cm")

    refs = [_reference_fc(r.id, r.name) for r in ref_layers if r.shown]

    map_col, side = st.columns([3, 1])
    with map_col:
        op = grid_editor(grids, key=f"pl_editor_{draft_id}", context=context, references=refs,
                         problems=problems_collection(problems, lang), focus=st.session_state.get("pl_focus"),
                         mode=mode, selected=[selected] if selected else [], community_code=add_community,
                         texts=pv.editor_texts(lang), tiles=tiles, height=600)
        for fc in refs:
            if fc["simplified_m"]:
                st.caption(tr("pl.reference_simplified", name=fc["name"], m=fc["simplified_m"]))
    if op is not None:
        if op.get("op") == "select":
            st.session_state[sel_key] = op.get("code")
            st.rerun()
        if op.get("op") == "add" and not op.get("community_code") and add_community:
            op["community_code"] = add_community
        _edit(draft_id, op)

    with side:
        _selected_panel(draft_id, grids, selected, communities, resps)
        _problems_panel(problems)

    c1, c2, c3 = st.columns(3)
    with c1, st.expander(tr("pl.workers")):
        _workers_form(draft_id, resps, workers)
    with c2, st.expander(tr("pl.replace")):
        _replace_form(draft_id)
    with c3, st.expander(tr("pl.references")):
        _references_form(draft_id, ref_layers)


def _selected_panel(draft_id: int, grids: dict, selected: str | None, communities, resps) -> None:
    st.subheader(tr("pl.selected"))
    props = pv.grid_props(grids, selected)
    if props is None:
        st.caption(tr("pl.nothing_selected"))
        return
    st.markdown(f"**{props['code']}** {props.get('name') or ''}")
    st.caption(f"{props.get('community_name') or props.get('community_code')} · "
               f"{props.get('responsibility_code') or tr('pl.none')} · {tr('pl.change.' + props.get('change', 'same'))}")
    with st.form(f"pl_move_{draft_id}", border=True):
        st.markdown(tr("pl.move_grid"))
        cm_codes = [c for c, _ in communities]
        cm = st.selectbox(tr("pl.community"), cm_codes, format_func=dict(communities).get, key="pl_move_cm",
                          index=cm_codes.index(props["community_code"]) if props.get("community_code") in cm_codes else 0)
        r_codes = [None] + [r["code"] for r in resps]
        r_names = {r["code"]: f"{r['code']} {r['name']}" for r in resps}
        resp = st.selectbox(tr("pl.responsibility"), r_codes, format_func=lambda c: r_names.get(c, tr("pl.none")),
                            key="pl_move_resp",
                            index=r_codes.index(props.get("responsibility_code")) if props.get("responsibility_code")
                            in r_codes else 0)
        if st.form_submit_button(tr("pl.move_go")):
            _edit(draft_id, {"op": "move_grid", "code": props["code"], "community_code": cm,
                             "responsibility_code": resp})


def _problems_panel(problems: list) -> None:
    st.subheader(tr("pl.problems"))
    if not problems:
        st.success(tr("pl.no_problems"))
        return
    n_err = sum(p.severity == "error" for p in problems)
    st.caption(tr("pl.problem_counts", errors=n_err, warnings=len(problems) - n_err))
    with st.container(height=320, border=False):
        for i, p in enumerate(problems):
            icon = ":material/error:" if p.severity == "error" else ":material/warning:"
            row = st.columns([5, 2], vertical_alignment="center")
            row[0].markdown(f"{tr('pl.severity.' + p.severity)} · {', '.join(p.codes)}  \n{p.message(lang)}")
            if p.location and row[1].button(tr("pl.goto"), key=f"pl_goto_{i}", icon=icon):
                st.session_state["pl_focus"] = p.location
                st.rerun()


def _workers_form(draft_id: int, resps: list[dict], workers: list[tuple[int, str]]) -> None:
    if not resps:
        st.caption(tr("pl.none"))
        return
    r_names = {r["code"]: f"{r['code']} {r['name']}" for r in resps}
    code = st.selectbox(tr("pl.responsibility"), list(r_names), format_func=r_names.get, key="pl_w_resp")
    current = next(r["person_ids"] for r in resps if r["code"] == code)
    names = dict(workers)
    with st.form(f"pl_workers_{draft_id}_{code}", border=False):
        picked = st.multiselect(tr("pl.workers_pick"), list(names), default=[p for p in current if p in names],
                                format_func=names.get)
        if st.form_submit_button(tr("pl.workers_go")):
            _edit(draft_id, {"op": "assign_workers", "responsibility_code": code, "person_ids": picked})


def _replace_form(draft_id: int) -> None:
    with st.form(f"pl_replace_{draft_id}", border=False):
        up = st.file_uploader(tr("pl.replace_file"), type=["geojson", "json", "gpkg", "zip"], key="pl_replace_file",
                              help=tr("pl.upload_help"))
        crs = st.selectbox(tr("pl.crs"), CRS_CHOICES, format_func=lambda c: c or tr("pl.crs.auto"), key="pl_crs")
        if st.form_submit_button(tr("pl.replace_go")) and up is not None:
            with tempfile.TemporaryDirectory(prefix="gridgov-replace-") as tmp:
                path = Path(tmp) / Path(up.name).name
                path.write_bytes(up.getvalue())
                op = {"op": "replace_from_file", "path": str(path)}
                if crs:
                    op["crs"] = crs
                try:
                    res = pv.apply_edit(draft_id, op, actor_id=who.person_id)
                except EditError as e:
                    st.error(e.message(lang))
                    return
            _flash("success", tr("pl.applied", codes=", ".join(res.changed) or "—"))
            st.rerun()


@st.cache_resource(max_entries=32, show_spinner=False)
def _reference_fc(layer_id: int, name: str) -> dict:
    """A reference layer for the map; a layer's rows never change once loaded (read-only here)."""
    return pv.reference_geojson(layer_id, name)


def _references_form(draft_id: int, ref_layers: list) -> None:
    """Reference layers kept with the draft (planning.layers): listed, shown or hidden, removed, loaded."""
    def act(fn, *args, done: str | None = None) -> None:
        try:
            fn(draft_id, *args)
        except EditError as e:
            _flash("error", e.message(lang))
        else:
            if done:
                _flash("info", done)
        st.rerun()

    if not ref_layers:
        st.caption(tr("pl.reference_none"))
    for r in ref_layers:
        st.text(tr("pl.reference_row", name=r.name, features=r.n_features, crs=r.crs, by=r.created_by or "—"))
        if st.toggle(tr("pl.reference_shown"), value=r.shown, key=f"pl_ref_shown_{r.id}") != r.shown:
            act(pv.set_reference_shown, r.id, not r.shown)
        if st.button(tr("pl.reference_remove"), key=f"pl_ref_rm_{r.id}", icon=":material/delete:"):
            act(pv.remove_reference, r.id, done=tr("pl.reference_removed", name=r.name))
    with st.form(f"pl_ref_{draft_id}", border=False, clear_on_submit=True):
        up = st.file_uploader(tr("pl.references_pick"), type=["geojson", "json", "gpkg", "zip"], key="pl_ref_file",
                              help=tr("pl.upload_help"))
        name = st.text_input(tr("pl.reference_name"), key="pl_ref_name")
        layer = st.text_input(tr("pl.reference_layer"), key="pl_ref_layer")
        crs = st.selectbox(tr("pl.crs"), CRS_CHOICES, format_func=lambda c: c or tr("pl.crs.auto"), key="pl_ref_crs")
        if not st.form_submit_button(tr("pl.reference_go")) or up is None:
            return
    with tempfile.TemporaryDirectory(prefix="gridgov-reference-") as tmp:
        path = Path(tmp) / f"upload{Path(up.name).suffix.lower()[:10]}"  # the name shown is the upload's own
        path.write_bytes(up.getvalue())
        try:
            got = pv.load_reference(draft_id, path, actor_id=who.person_id, name=name or None,
                                    crs=crs or None, layer=layer.strip() or None, source=Path(up.name).name)
        except EditError as e:
            st.error(e.message(lang))
            return
    _flash("success", tr("pl.reference_loaded", name=got.name, features=got.n_features, vertices=got.n_vertices))
    st.rerun()


# ---- impact --------------------------------------------------------------------------------------
def impact_tab(draft_id: int, n_steps: int) -> None:
    key = f"pl_impact_{draft_id}"
    if st.button(tr("pl.impact_go"), key="pl_impact_go", type="primary", icon=":material/analytics:"):
        st.session_state[key] = (n_steps, pv.impact(draft_id))
    got = st.session_state.get(key)
    if not got:
        return
    steps, imp = got
    if steps != n_steps:
        st.warning(tr("pl.impact_stale"))
    m = st.columns(3)
    m[0].metric(tr("pl.cases_moved"), imp.cases_moved)
    m[1].metric(tr("pl.balance_before"), "—" if imp.balance_before is None else f"{imp.balance_before:.2f}")
    m[2].metric(tr("pl.balance_after"), "—" if imp.balance_after is None else f"{imp.balance_after:.2f}")
    grids = imp.geojson.get("grids") or {"type": "FeatureCollection", "features": []}
    shown = {"type": "FeatureCollection", "features": [
        {**f, "properties": {**f["properties"], "change": "retired" if f["properties"].get("retired") else
                             "changed" if f["properties"].get("moved_out") or f["properties"].get("moved_in")
                             else "same"}} for f in grids["features"]]}
    moves = imp.geojson.get("moves") or {"type": "FeatureCollection", "features": []}
    left, right = st.columns([3, 2])
    with left:
        grid_editor(shown, key=f"pl_impact_map_{draft_id}", context={**moves, "features": [
            {**f, "properties": {"kind": "case"}} for f in moves["features"]]}, mode="view",
            texts=pv.editor_texts(lang), tiles=tiles, height=480)
    with right:
        st.markdown(f"**{tr('pl.per_grid')}**")
        st.dataframe(pd.DataFrame(imp.per_grid).rename(columns={
            "code": tr("pl.col.code"), "moved_out": tr("pl.col.moved_out"), "moved_in": tr("pl.col.moved_in")}),
            hide_index=True, width="stretch")
        st.markdown(f"**{tr('pl.workload')}**")
        st.dataframe(pd.DataFrame([{tr("pl.col.name"): w.name, tr("pl.col.before"): w.before,
                                    tr("pl.col.after"): w.after} for w in imp.workload]),
                     hide_index=True, width="stretch")
    st.markdown(f"**{tr('pl.moves')}**")
    st.dataframe(pd.DataFrame([{tr("pl.col.case_no"): m.case_no, tr("pl.col.from"): m.old_grid,
                                tr("pl.col.to"): m.new_grid, tr("pl.col.community"): m.community_changes,
                                tr("pl.col.worker"): m.worker_changes} for m in imp.moves]),
                 hide_index=True, width="stretch")


# ---- publish -------------------------------------------------------------------------------------
def publish_tab(draft_id: int) -> None:
    with st.form(f"pl_publish_{draft_id}", border=True):
        reason = st.text_area(tr("pl.publish_reason"), key="pl_pub_reason", height=68)
        when = st.radio(tr("pl.when"), ("now", "later"), format_func=lambda w: tr(f"pl.when.{w}"),
                        horizontal=True, key="pl_pub_when")
        now = datetime.now(TZ)
        first_next_month = (now.replace(day=1) + timedelta(days=32)).replace(day=1).date()
        c = st.columns(2)
        day = c[0].date_input(tr("pl.date"), value=first_next_month, key="pl_pub_date")
        at = c[1].time_input(tr("pl.time"), value=dtime(0, 0), key="pl_pub_time")
        warnings_reason = st.text_area(tr("pl.warnings_reason"), key="pl_pub_wreason", height=68)
        go = st.form_submit_button(tr("pl.publish_go"), type="primary", icon=":material/publish:")
    if not go:
        return
    effective = datetime.combine(day, at, tzinfo=TZ) if when == "later" else None
    since = kit.listener().version
    try:
        res = pv.publish(draft_id, actor_id=who.person_id, reason=reason,
                         effective_at=effective, warnings_reason=warnings_reason or None)
    except publish_mod.PublishConflict as e:
        st.error(tr("pl.conflict", why=e.message(lang)))
        return
    except publish_mod.PublishRefused as e:
        st.error(tr("pl.refused", why=e.message(lang)))
        for f in e.findings:
            st.caption(f"{tr('pl.severity.' + f.severity)} · {', '.join(f.codes)} · "
                       f"{f.message_en if lang == 'en' else f.message_zh}")
        return
    if res.status == "scheduled":
        _flash("success", tr("pl.scheduled", id=res.change_id,
                             at=res.effective_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")))
    else:
        kit.await_notice(since)  # the wall opened next draws the new boundaries
        _flash("success", tr("pl.published", id=res.change_id, added=res.grids_added, retired=res.grids_retired,
                             same=res.grids_unchanged, moved=res.cases_moved))
    st.session_state.pop("pl_draft", None)
    st.session_state.pop("pl_pick", None)
    st.rerun()


# ---- history -------------------------------------------------------------------------------------
def history_tab() -> None:
    changes = pv.changes()
    st.subheader(tr("pl.changes"))
    if not changes:
        st.caption(tr("pl.no_changes"))
        return

    def when(c):
        return c.effective_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")

    st.dataframe(pd.DataFrame([{tr("pl.col.id"): c.id, tr("pl.col.kind"): c.kind, tr("pl.col.note"): c.note,
                                tr("pl.col.reason"): c.reason, tr("pl.col.by"): c.by or "—",
                                tr("pl.col.effective_at"): when(c), tr("pl.col.status"): c.status,
                                tr("pl.col.versions"): c.versions} for c in changes]),
                 hide_index=True, width="stretch")
    labels = {c.id: tr("pl.change_label", id=c.id, note=c.note or c.kind, at=when(c)) for c in changes}
    applied = [c.id for c in changes if c.status == "applied"]

    st.subheader(tr("pl.compare"))
    c = st.columns([2, 2, 1], vertical_alignment="bottom")
    a = c[0].selectbox(tr("pl.version_a"), applied, index=min(1, len(applied) - 1) if applied else None,
                       format_func=labels.get, key="pl_cmp_a")
    b = c[1].selectbox(tr("pl.version_b"), applied, index=0 if applied else None, format_func=labels.get,
                       key="pl_cmp_b")
    if c[2].button(tr("pl.compare_go"), key="pl_cmp_go") and a is not None and b is not None:
        try:
            st.session_state["pl_cmp"] = (a, b, pv.compare(a, b))
        except publish_mod.PublishRefused as e:
            st.error(e.message(lang))
    got = st.session_state.get("pl_cmp")
    if got:
        _, _, diff = got
        if not diff["table"]:
            st.info(tr("pl.compare_none"))
        else:
            kinds = {"added": "new", "removed": "retired", "changed": "changed"}
            fc = {"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": f["geometry"],
                 "properties": {"code": f["properties"]["code"], "name": f["properties"]["name"], "change": kinds[k]}}
                for k in kinds for f in diff[k]["features"]]}
            left, right = st.columns([3, 2])
            with left:
                grid_editor(fc, key="pl_cmp_map", mode="view", texts=pv.editor_texts(lang), tiles=tiles, height=420)
            with right:
                st.dataframe(pd.DataFrame([{tr("pl.col.code"): r["code"], tr("pl.col.name"): r["name"],
                                            tr("pl.col.change"): r["change"], tr("pl.col.area_a"): r["area_a_m2"],
                                            tr("pl.col.area_b"): r["area_b_m2"]} for r in diff["table"]]),
                             hide_index=True, width="stretch")

    st.subheader(tr("pl.export"))
    c = st.columns([4, 1], vertical_alignment="bottom")
    x = c[0].selectbox(tr("pl.version_a"), applied, format_func=labels.get, key="pl_exp_pick",
                       label_visibility="collapsed")
    if c[1].button(tr("pl.export_go"), key="pl_exp_go") and x is not None:
        with tempfile.TemporaryDirectory(prefix="gridgov-export-") as tmp:
            path = Path(tmp) / f"grids-change-{x}.gpkg"
            n = pv.export_version(path, x)
            st.session_state["pl_exp"] = (path.name, n, path.read_bytes())
    got = st.session_state.get("pl_exp")
    if got:
        name, n, data = got
        st.download_button(tr("pl.export_download", name=name, n=n), data, file_name=name,
                           mime="application/geopackage+sqlite3", key="pl_exp_dl", icon=":material/download:")

    st.subheader(tr("pl.rollback"))
    with st.form("pl_rollback", border=True):
        r = st.selectbox(tr("pl.version_a"), applied, format_func=labels.get, key="pl_rb_pick",
                         label_visibility="collapsed")
        why = st.text_input(tr("pl.rollback_reason"), key="pl_rb_reason")
        if st.form_submit_button(tr("pl.rollback_go")) and r is not None:
            since = kit.listener().version
            try:
                res = pv.rollback(r, actor_id=who.person_id, reason=why)
            except publish_mod.PublishRefused as e:
                st.error(e.message(lang))
            else:
                kit.await_notice(since)  # the wall opened next draws the new boundaries
                _flash("success", tr("pl.rolled_back", id=res.change_id))
                st.rerun()


summary = next((d for d in open_drafts if d.id == draft_id), None)
with tab_edit:
    if summary is None:
        st.info(tr("pl.no_drafts"))
    else:
        edit_tab(summary.id)
with tab_impact:
    if summary is not None:
        impact_tab(summary.id, summary.n_steps)
with tab_publish:
    if summary is not None:
        publish_tab(summary.id)
with tab_history:
    history_tab()
