"""The case detail panel shared by the dispatch page and the department queue: the case (drawn by
``ui/case_view.py``), who else has it open, and the actions the service allows now.

Layout only: every figure comes from ``dispatch.desk``; an action's form values go straight to
``dispatch.service.transition``, which checks everything again.
"""
from __future__ import annotations

import time

import streamlit as st
from streamlit.errors import StreamlitAPIException

from accounts.actors import Actor
from dispatch import desk as svc
from dispatch import permissions, service
from dispatch.desk import CasePanel
from dispatch.errors import LifecycleError
from dispatch.states import label
from i18n import dispatch_ui  # noqa: F401  (registers this page's texts)
from intake import duplicates, public
from intake.photos import PhotoError
from ui import action_forms as forms
from ui import kit
from ui import presence as presence_keeper
from ui import wall_view
from ui.case_view import facts, fmt_time, header, holder_text, timeline


def presence(case_id: int) -> None:
    """Marks our presence on the case and says who else has it open (within a minute).

    Drawn with the panel, no fragment of its own: the server renews the mark while the session
    is connected and has the page redrawn when the others change (``ui.presence``), so an idle
    desk runs no script (issue 8)."""
    who = kit.actor()
    with kit.engine().begin() as conn:
        others = svc.keep_presence(conn, case_id=case_id, actor=who)
    sid = presence_keeper.session_id()
    if sid is not None:
        presence_keeper.keeper().hold(sid, who, case_id, tuple(sorted(o.person_id for o in others)))
    if others:
        names = kit.tr("dp.list_sep").join(
            kit.tr("dp.name_role", name=o.full_name, role=label("role", o.role, kit.lang())) for o in others)
        st.warning(kit.tr("dp.being_handled", who=names), icon=":material/group:")


def leave(who=None) -> None:
    """Take the signed-in person (or ``who``) off every case's presence: no panel is open."""
    who = who or kit.actor()
    sid = presence_keeper.session_id()
    if sid is not None:
        presence_keeper.keeper().drop(sid)
    if who is not None:
        with kit.engine().begin() as conn:
            svc.leave_cases(conn, actor=who)


def keep_signed_in() -> None:
    """First thing in a part of a page that reruns on its own (``st.fragment``): the frame's
    checks (signed in, not idle, account still active) run only on full runs, so a part rerun
    by a click re-reads the actor too; a session that lost its sign-in goes back to the frame."""
    if kit.actor() is None or kit.refresh_actor() is None:
        st.rerun(scope="app")


def rerun_part() -> None:
    """Redraw the part (fragment) this runs in after an action, or the whole page when it runs
    as part of a full run (AppTest, or a full rerun that drew the form)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:
        st.rerun()


QUEUE_CACHE_S = 60  # time alone moves cases into 临期 / 超期: queues are re-read at least this often


def queue_counts(version: int, actor: Actor) -> dict[str, int]:
    """The queues' badge sizes for this change notice (``version``), shared between sessions."""
    return _queue_counts(version, int(time.time() // QUEUE_CACHE_S), actor)


def queue_rows(version: int, queue: str, actor: Actor) -> list:
    """One queue's rows for this change notice, shared between sessions of the same person."""
    return _queue_rows(version, int(time.time() // QUEUE_CACHE_S), queue, actor)


@st.cache_data(max_entries=64, show_spinner=False)
def reopen_requests(version: int, actor: Actor) -> list[dict]:
    """The reporters' pending requests for a second look that ``actor`` may answer, as of change
    notice ``version`` (an answer or a decision sends one: ``intake.public``)."""
    with kit.engine().connect() as conn:
        return public.reopen_queue(conn, actor)


@st.cache_data(max_entries=64, show_spinner=False)
def _queue_counts(version: int, minute: int, actor: Actor) -> dict[str, int]:
    with kit.engine().connect() as conn:
        return svc.queue_counts(conn, actor=actor)


@st.cache_data(max_entries=128, show_spinner=False)
def _queue_rows(version: int, minute: int, queue: str, actor: Actor) -> list:
    with kit.engine().connect() as conn:
        return svc.queue_rows(conn, queue=queue, actor=actor)


@st.cache_data(max_entries=256, show_spinner=False)
def _stamp(version: int, case_id: int) -> tuple:
    """What the panel of case ``case_id`` shows that can change, as of change notice ``version``
    (``ui.wall_view.part_drawn``; read once per notice): the case's row version (None: no such
    case; every move and edit raises it), and what the intake left on it, kept outside the case
    row — its pending possible duplicates and a reporter's pending request for a second look
    (their answers send a change notice of their own: ``intake.duplicates``, ``intake.public``)."""
    with kit.engine().connect() as conn:
        return (svc.case_version(conn, case_id=case_id), len(duplicates.pending_links(conn, case_id)),
                public.reopen_request_of(conn, case_id) is not None)


def load(case_id: int) -> CasePanel | None:
    with kit.engine().connect() as conn:
        return svc.case_panel(conn, case_id=case_id, actor=kit.actor(), lang=kit.lang())


def show(case_id: int | None, p: CasePanel | None, *, scope: str) -> None:
    """The whole panel for case ``case_id`` (``p``: its ``load``); ``scope`` keeps widget keys
    apart between pages."""
    if case_id is None or p is None:
        leave()  # the panel let go of the case it showed: so does "X 正在处理此案件"
        if case_id is None:
            wall_view.part_drawn("panel")
            st.info(kit.tr("dp.pick_hint"), icon=":material/touch_app:")
        else:  # watched still: sent back to this unit, it is shown again
            wall_view.part_drawn("panel", _stamp, _stamp(kit.listener().version, case_id), case_id)
            st.warning(kit.tr("dp.not_visible"))
        return
    header(p)
    presence(case_id)
    info, hist = st.tabs([kit.tr("dp.tab.detail"), kit.tr("dp.tab.timeline")])
    with info:
        facts(p)
    with hist:
        timeline(p)
    links, reopen = intake_notes(p, scope=scope)
    # the live watcher reruns the page when this case changes, whether the panel was last drawn
    # with the page or alone (a pick, an action refused): what it drew, as ``_stamp`` reads it
    wall_view.part_drawn("panel", _stamp, (p.version, links, reopen), case_id)
    actions(p, scope=scope)


def intake_notes(p: CasePanel, *, scope: str) -> tuple[int, bool]:
    """What the intake left for a dispatcher on this case: possible duplicates linked on arrival
    (confirm = merge through the lifecycle, reject = the link is marked rejected) and a public
    reporter's request for a second look (accept / decline: recorded, no status changes).
    Returns what it showed: the pending links' count, whether a request was pending."""
    who = kit.actor()
    with kit.engine().connect() as conn:
        links = duplicates.pending_links(conn, p.id)
        reopen = public.reopen_request_of(conn, p.id)
        may_decide = bool(links) and duplicates.may_decide(conn, case_id=p.id, actor=who)
    key = f"{scope}-intake-{p.id}"
    refusal = st.session_state.get(f"{key}.refused")
    if links:
        st.markdown(f"#### {kit.tr('dp.dup.heading')}")
        can_merge = "merge" in p.actions
        for link in links:
            text_ = kit.tr("dp.dup.line", case_no=link["case_no"], metres=f"{link['distance_m']:.0f}",
                           status=label("status", link["status"], kit.lang()))
            line, yes, no = st.columns([3, 2, 2], vertical_alignment="center")
            line.markdown(text_)
            if not may_decide:
                continue
            cid = link["candidate_id"]
            if can_merge and yes.button(kit.tr("dp.dup.confirm"), key=f"{key}-dup-{cid}-yes", type="primary",
                                        width="stretch"):
                _decide(key, p, lambda conn, cid=cid: duplicates.decide_duplicate(
                    conn, case_id=p.id, candidate_id=cid, decision="confirm", actor=kit.actor(),
                    expected_version=p.version), kit.tr("dp.dup.merged", case_no=p.case_no, original=link["case_no"]))
            if no.button(kit.tr("dp.dup.reject"), key=f"{key}-dup-{cid}-no", width="stretch"):
                _decide(key, p, lambda conn, cid=cid: duplicates.decide_duplicate(
                    conn, case_id=p.id, candidate_id=cid, decision="reject", actor=kit.actor()),
                    kit.tr("dp.dup.rejected", case_no=link["case_no"]))
    if reopen is not None:
        st.warning(kit.tr("dp.reopen.notice", at=fmt_time(reopen["answered_at"], True),
                          comment=reopen["comment"] or "—"), icon=":material/replay:")
        if _may_verify(p):
            st.caption(kit.tr("dp.reopen.no_move"))
            # the decision's words for the reporter (答复市民, optional): sent with it, in its transaction
            said = st.text_area(kit.tr("dp.reopen.reply"), key=f"{key}-reopen-reply", height=68,
                                placeholder=kit.tr("dp.comment_hint", limit=service.MAX_COMMENT))
            yes, no = st.columns(2)
            for col, tag, decision, verb in ((yes, "yes", "accepted", "accept"), (no, "no", "declined", "decline")):
                if col.button(kit.tr(f"dp.reopen.{verb}"), key=f"{key}-reopen-{tag}", width="stretch"):
                    _decide(key, p, lambda conn, d=decision: _decide_reopen(conn, p, d, said),
                            kit.tr(f"dp.reopen.{decision}", case_no=p.case_no))
    if refusal:
        st.error(refusal, icon=":material/block:")
    return len(links), reopen is not None


def _decide_reopen(conn, p: CasePanel, decision: str, said: str | None) -> None:
    """The reopen request answered and, when words were written, the reporter told (a ``reply``)."""
    public.decide_reopen(conn, case_id=p.id, decision=decision, actor=kit.actor())
    if (said or "").strip():
        service.transition(conn, case_id=p.id, action="reply", actor=kit.actor(), comment=said)


def _may_verify(p: CasePanel) -> bool:
    return permissions.may(kit.actor(), "verify_pass", {
        "community_id": p.community_id, "subdistrict_id": p.subdistrict_id, "level": p.level,
        "department_id": p.department_id, "status": p.status})


def _decide(key: str, p: CasePanel, call, done: str) -> None:
    """Run a decision in its own transaction; a refusal stays shown until the next try."""
    try:
        with kit.engine().begin() as conn:
            call(conn)
    except (LifecycleError, public.PublicError) as e:
        st.session_state[f"{key}.refused"] = e.message(kit.lang()) if isinstance(e, LifecycleError) else (
            e.en if kit.lang() == "en" else e.zh)
        rerun_part()
    st.session_state.pop(f"{key}.refused", None)
    st.session_state["dp.flash"] = (done, ":material/check_circle:")
    rerun_part()


def actions(p: CasePanel, *, scope: str) -> None:
    allowed = list(p.actions)
    st.markdown(f"#### {kit.tr('dp.actions')}")
    held = svc.holder(p)
    if held is not None:  # after 立案 at another unit's level, this is where the case went
        st.caption(kit.tr("dp.held_by", holder=holder_text(held)))
    key = f"{scope}-act-{p.id}"
    _lost_refusal(key, allowed)
    if not allowed:
        st.caption(kit.tr("dp.no_actions"))
        return
    chosen = action_bar(key, allowed)
    # The case as it was when this form was opened: if anyone acts on it before we submit, the
    # service answers with a conflict naming who did what, instead of our move silently
    # applying to a case we have not seen. A form closed (or another chosen) forgets it: opened
    # again, it starts from the case as it is then (one's own move in between is no conflict).
    for a in allowed:
        if a != chosen:
            st.session_state.pop(f"{key}-{a}.version", None)
    if chosen is None:
        return
    form = f"{key}-{chosen}"
    st.session_state.setdefault(f"{form}.version", p.version)
    def submit() -> None:
        _submit(p, chosen, form)

    if chosen == "locate":
        forms.locate_form(p, key=form, on_submit=submit)
    else:
        forms.action_form(chosen, p, key=form, on_submit=submit)
    refusal = st.session_state.get(f"{form}.refused")
    if refusal:  # kept until the next try: a live redraw must not wipe it before it is read
        st.error(refusal, icon=":material/block:")


def _lost_refusal(key: str, allowed: list[str]) -> None:
    """A move refused because someone else acted first often takes its own form away (the case is
    dispatched now: no 派遣 button, no form to show the refusal under). The refusal is then shown
    above the buttons until the next choice, so a dispatcher never takes "已派遣" for his own
    order (session 14's review)."""
    held = chosen_action(key)
    if held is not None and held not in allowed:
        refusal = st.session_state.pop(f"{key}-{held}.refused", None)
        st.session_state.pop(f"{key}-{held}.version", None)
        st.session_state[_slot(key)] = (key, None)
        if refusal:
            st.session_state[f"{key}.lost"] = refusal
    lost = st.session_state.get(f"{key}.lost")
    if lost:
        st.error(lost, icon=":material/block:")


def _submit(p: CasePanel, action: str, form: str) -> None:
    """The form's submit (callback): the move goes to the service before anything is drawn, and
    on success the page runs once, its map, queues and panel as of the move's change notice
    (``act``); a refusal is shown by the panel's own run."""
    values = forms.sent_values(action, p, key=form)
    seen = st.session_state.pop(f"{form}.version", p.version)  # answered either way: the next try starts from now
    act(p, action, values, seen, form=form)


def _slot(key: str) -> str:
    """Where the action bar keyed ``key`` keeps its choice: one per page (``<scope>-act``), so
    a case shown again later starts with its forms closed."""
    return key.rsplit("-", 1)[0] + ".chosen"


def chosen_action(key: str) -> str | None:
    """The action whose form is open on the panel keyed ``key`` (``action_bar``), if any."""
    held = st.session_state.get(_slot(key))
    return held[1] if held and held[0] == key else None


def _choose(key: str, action: str) -> None:
    """An action's button (callback): its form opens, or closes when it was the one open."""
    st.session_state.pop(f"{key}.lost", None)
    st.session_state[_slot(key)] = (key, None if chosen_action(key) == action else action)


def action_bar(key: str, allowed: list[str]) -> str | None:
    """One button per action the case allows now (in a row keyed ``key``); the action whose form
    is open (its button primary), or None.

    Buttons, not a segmented control: a button's click is a trigger that the server keeps when
    it folds the click into a rerun already under way (a live redraw of the page), and its
    callback only records the choice (issue 8: a click on the segmented control right after a
    case was opened once drew no form)."""
    chosen = chosen_action(key)
    if chosen not in allowed:
        chosen = None
    with st.container(key=key, horizontal=True, gap="small"):
        for a in allowed:
            st.button(label("action", a, kit.lang()), key=f"{key}-do-{a}", on_click=_choose, args=(key, a),
                      type="primary" if a == chosen else "secondary")
    return chosen


def act(p: CasePanel, action: str, values: dict, seen_version: int, *, form: str) -> None:
    """Send the action and the form's values to the lifecycle service (in the submit's callback);
    on success wait for the change notice, then run the page once (``st.rerun``): its map,
    queues and panel are drawn as of that notice, and so is the live watcher's digest, so the
    notice of one's own move asks for no second run (issue 8: a move cost its panel's runs, then
    the page's). On a refusal the panel's own run shows it."""
    before = kit.listener().version
    try:
        values = forms.store_photos(action, values)
    except PhotoError as e:  # refused before anything reaches the case
        st.session_state[f"{form}.refused"] = kit.tr("dp.photo_refused", why=e.en if kit.lang() == "en" else e.zh)
        return
    try:
        with kit.engine().begin() as conn:
            service.transition(conn, case_id=p.id, action=action, actor=kit.actor(), expected_version=seen_version,
                               **values)
    except LifecycleError as e:
        st.session_state[f"{form}.refused"] = e.message(kit.lang())
        return
    st.session_state.pop(f"{form}.refused", None)
    key = form[:-len(action) - 1]
    st.session_state[_slot(key)] = (key, None)  # done: its form closes (an escalation's stayed open)
    st.session_state.pop(f"{key}.lost", None)
    kit.await_notice(before)
    for k in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"{form}-")]:
        del st.session_state[k]  # a later form for this case starts empty
    st.session_state[f"{form}.round"] = st.session_state.get(f"{form}.round", 0) + 1  # and its uploads too
    after = load(p.id)
    held = svc.holder(after) if after is not None else None
    done = label("action", action, kit.lang())
    st.session_state["dp.flash"] = (
        kit.tr("dp.done_held", action=done, case_no=p.case_no, holder=holder_text(held)) if held is not None
        else kit.tr("dp.done", action=done, case_no=p.case_no), ":material/check_circle:")
    st.rerun()


def flash() -> None:
    """The note left by the previous run (an action done, a case number not found)."""
    note = st.session_state.pop("dp.flash", None)
    if note:
        st.toast(note[0], icon=note[1])
